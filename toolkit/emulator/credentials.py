"""App credentials as the Developer Portal issues them (protocol §4.2, §8).

client_id and client_secret are 32 lowercase hex characters; the RSA key pair is generated here,
the private half is returned once (RSAKeyValue XML and PEM) and only the public key is kept.

A partner may instead bring their own key pair (the Developer Portal stores only the public key,
protocol §4.2): :func:`load_public_key` takes its public half as .NET `RSAKeyValue` XML
(`Modulus`, `Exponent`) or PEM, and refuses private key material, so a private key never
travels to the emulator.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from toolkit.emulator.errors import WorldError
from toolkit.emulator.soap import SoapFault, parse_xml

# Dev Portal key size is not documented (protocol §4.2); 2048 is today's minimum sensible size [I].
APP_KEY_BITS = 2048
# A brought key: SuperOffice's own sample keys are 1024-bit (protocol §4.2), so that is the
# smallest accepted; the largest and the exponent floor (F4, what .NET and the portal's keys
# use: AQAB) are the emulator's bounds [I].
MIN_BROUGHT_KEY_BITS = 1024
MAX_BROUGHT_KEY_BITS = 16384
MIN_PUBLIC_EXPONENT = 65537
# A 16384-bit public key is under 3 KB in either format; anything far bigger is not a key.
MAX_PUBLIC_KEY_CHARS = 16 * 1024
RSA_KEY_VALUE_PUBLIC = ("Modulus", "Exponent")
RSA_KEY_VALUE_PRIVATE = ("P", "Q", "DP", "DQ", "InverseQ", "D")
_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


@dataclass(frozen=True)
class AppKeyPair:
    private_key_xml: str
    private_key_pem: str
    public_key_pem: str


def new_client_id() -> str:
    return secrets.token_hex(16)


def new_client_secret() -> str:
    return secrets.token_hex(16)


def new_app_key_pair() -> AppKeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=APP_KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return AppKeyPair(rsa_key_value_xml(key), private_pem, public_pem)


def rsa_key_value_xml(key: rsa.RSAPrivateKey) -> str:
    """.NET `RSAKeyValue`: standard Base64 of big-endian integers, padded to .NET's lengths."""
    priv = key.private_numbers()
    pub = priv.public_numbers
    size = (key.key_size + 7) // 8
    half = (size + 1) // 2
    fields = [
        ("Modulus", pub.n, size),
        ("Exponent", pub.e, 0),
        ("P", priv.p, half),
        ("Q", priv.q, half),
        ("DP", priv.dmp1, half),
        ("DQ", priv.dmq1, half),
        ("InverseQ", priv.iqmp, half),  # q^-1 mod p == cryptography's iqmp (protocol §4.2)
        ("D", priv.d, size),
    ]
    body = "".join(f"<{name}>{_b64(value, length)}</{name}>" for name, value, length in fields)
    return f"<RSAKeyValue>{body}</RSAKeyValue>"


def _b64(value: int, length: int) -> str:
    raw = value.to_bytes(max(length, (value.bit_length() + 7) // 8), "big")
    return base64.b64encode(raw).decode()


def load_public_key(value: Any) -> str:
    """The public half of a partner's own key as PEM (SubjectPublicKeyInfo).

    `value` is RSAKeyValue XML holding `Modulus` and `Exponent`, or a PEM public key
    (`PUBLIC KEY` or `RSA PUBLIC KEY`). Raises `WorldError` `invalid_key` for malformed input or
    private key material, `unsupported_key` for a key that is not RSA or out of bounds.
    """
    if not isinstance(value, str) or not value.strip():
        raise WorldError("invalid_key", "public_key must be RSAKeyValue XML or a PEM public key")
    if len(value) > MAX_PUBLIC_KEY_CHARS:
        raise WorldError("invalid_key", "public_key is too long to be a public key")
    try:  # a JSON escape can decode to a lone surrogate, which no key holds
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WorldError("invalid_key", "public_key holds text that is not Unicode") from exc
    text = value.strip().lstrip("\ufeff").strip()
    if text.startswith("-----BEGIN"):
        key = _pem_public_key(text)
    elif text.startswith("<"):
        key = _rsa_key_value_public_key(text)
    else:
        raise WorldError("invalid_key", "public_key is neither RSAKeyValue XML nor PEM")
    if not isinstance(key, rsa.RSAPublicKey):
        raise WorldError("unsupported_key", "only RSA keys are supported (protocol §4.2)")
    numbers = key.public_numbers()
    if not MIN_BROUGHT_KEY_BITS <= key.key_size <= MAX_BROUGHT_KEY_BITS:
        raise WorldError(
            "unsupported_key",
            f"the key has {key.key_size} bits; {MIN_BROUGHT_KEY_BITS} to"
            f" {MAX_BROUGHT_KEY_BITS} are accepted",
        )
    if numbers.e < MIN_PUBLIC_EXPONENT or numbers.e % 2 == 0:
        raise WorldError(
            "unsupported_key", f"the public exponent must be odd and at least {MIN_PUBLIC_EXPONENT}"
        )
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _pem_public_key(text: str) -> object:
    label = _PEM_LABEL.match(text)
    if label is not None and "PRIVATE" in label.group(1):
        raise WorldError("invalid_key", "send only the public half of the key, not a private key")
    try:
        return serialization.load_pem_public_key(text.encode("ascii"))
    except UnsupportedAlgorithm as exc:
        raise WorldError("unsupported_key", "only RSA keys are supported (protocol §4.2)") from exc
    except (ValueError, UnicodeEncodeError) as exc:
        raise WorldError("invalid_key", "public_key is not a readable PEM public key") from exc


def _rsa_key_value_public_key(text: str) -> rsa.RSAPublicKey:
    try:
        root = parse_xml(text.encode("utf-8"))
    except SoapFault as exc:  # the emulator's one hardened XML reader (no DTDs, bounded depth)
        raise WorldError("invalid_key", f"RSAKeyValue: {exc.reason}") from exc
    if root.name != "RSAKeyValue" or root.ns:
        raise WorldError("invalid_key", "the XML is not an RSAKeyValue element")
    names = [child.name for child in root.children]
    if any(name in RSA_KEY_VALUE_PRIVATE for name in names):
        raise WorldError("invalid_key", "send only the public half (Modulus, Exponent) of the key")
    unknown = sorted(set(names) - set(RSA_KEY_VALUE_PUBLIC))
    if unknown or len(names) != len(set(names)):
        raise WorldError(
            "invalid_key", "RSAKeyValue must hold Modulus and Exponent once each, and nothing else"
        )
    values: dict[str, int] = {}
    for child in root.children:
        if child.children:
            raise WorldError("invalid_key", f"RSAKeyValue <{child.name}> must hold Base64 text")
        try:
            raw = base64.b64decode("".join(child.text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WorldError("invalid_key", f"RSAKeyValue <{child.name}> is not Base64") from exc
        values[child.name] = int.from_bytes(raw, "big")
    missing = [name for name in RSA_KEY_VALUE_PUBLIC if name not in values]
    if missing:
        raise WorldError("invalid_key", f"RSAKeyValue lacks <{missing[0]}>")
    try:
        return rsa.RSAPublicNumbers(values["Exponent"], values["Modulus"]).public_key()
    except ValueError as exc:
        raise WorldError("invalid_key", "RSAKeyValue's Modulus and Exponent are not a key") from exc
