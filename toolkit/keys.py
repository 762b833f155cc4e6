"""RSA private keys as the SuperOffice Developer Portal issues them; the signed system user token.

The Developer Portal hands out an app's private key once, as .NET ``RSAKeyValue`` XML (protocol
reference §4.2); partners also keep it as PEM. :func:`load_private_key` accepts both, checks that
the numbers are consistent and names the XML element at fault when they are not.
:func:`sign_system_user_token` builds the ``SignedSystemToken`` the system user exchange expects:
``<system_user_token>.<UTC yyyyMMddHHmm>.<Base64(RSA PKCS#1 v1.5 SHA-256 signature)>``
(protocol reference §4.3).

Key material never appears in exception messages or reprs; :func:`key_fingerprint` gives a
short, non-secret identifier for logs and the dashboard.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from toolkit.errors import InvalidSignatureError, KeyFormatError
from toolkit.files import MAX_KEY_FILE_BYTES, read_limited

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_KEY_SIZE",
    "MIN_KEY_SIZE",
    "MIN_PUBLIC_EXPONENT",
    "RSA_KEY_VALUE_ELEMENTS",
    "SYSTEM_USER_TIMESTAMP_FORMAT",
    "check_public_exponent",
    "key_fingerprint",
    "load_private_key",
    "load_private_key_file",
    "private_key_to_pem",
    "private_key_to_rsa_key_value",
    "public_key_to_pem",
    "rsa_key_value_to_pem",
    "sign_system_user_token",
    "utc_now",
    "verify_system_user_token_signature",
]

# .NET "yyyyMMddHHmm": UTC, 24-hour, zero-padded, minutes, as every SuperOffice sample signs (§4.3).
SYSTEM_USER_TIMESTAMP_FORMAT: Final = "%Y%m%d%H%M"

MIN_PUBLIC_EXPONENT: Final = 65537
"""Smallest RSA public exponent accepted: F4, what every current RSA implementation (.NET,
OpenSSL, cryptography, the Developer Portal's generator) uses; a small exponent such as 3 is
what the classic signature-forgery and broadcast attacks on RSA need."""

MAX_KEY_SIZE: Final = 16384
"""Largest modulus accepted, in bits: far beyond any real key, and it keeps the arithmetic that
checks a key's numbers bounded (a megabyte of "Modulus" is an attack, not a key)."""

MAX_KEY_BYTES: Final = MAX_KEY_FILE_BYTES
"""Largest key text accepted (PEM or XML), in bytes, whether from a file or from memory."""

MIN_KEY_SIZE: Final = 1024
"""Smallest modulus accepted, in bits.

SuperOffice's own sample keys (DNO ``partnerprivatekey.xml`` and friends) are 1024-bit and the size
of current Developer Portal keys is not documented (§4.2), so a portal key may be 1024-bit and
the toolkit must load it; anything smaller is a toy or truncated key and is refused.
"""

RSA_KEY_VALUE_ELEMENTS: Final = ("Modulus", "Exponent", "P", "Q", "DP", "DQ", "InverseQ", "D")
"""The child elements of ``<RSAKeyValue>``, in the order .NET ``ToXmlString(true)`` writes them."""

_PUBLIC_ELEMENTS: Final = frozenset({"Modulus", "Exponent"})
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
# A DTD can declare entities (billion laughs, external entities); an RSAKeyValue never needs one.
_DTD_MARKERS: Final = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCRYPTED_PEM: Final = re.compile(
    r"-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type:\s*4,\s*ENCRYPTED", re.MULTILINE
)
_PUBLIC_PEM: Final = re.compile(r"-----BEGIN (?:RSA PUBLIC KEY|PUBLIC KEY|CERTIFICATE)-----")
_WHITESPACE: Final = re.compile(r"\s+")
_TIMESTAMP: Final = re.compile(r"[0-9]{12}")


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default clock for signing)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Loading


def load_private_key(data: str | bytes) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#1 or PKCS#8, unencrypted) or RSAKeyValue XML.

    A UTF-8 byte order mark, an XML declaration, surrounding whitespace and whitespace or line
    breaks inside the XML's base64 values are accepted. Anything else that is wrong raises
    :class:`~toolkit.errors.KeyFormatError`; for XML, ``element`` names the element at fault.
    """
    if len(data) > MAX_KEY_BYTES:
        raise KeyFormatError(f"not a private key: larger than {MAX_KEY_BYTES:,} bytes")
    text = _decode(data)
    if "-----BEGIN" in text:
        return _load_pem(text)
    if text.startswith("<"):
        return _load_rsa_key_value(text)
    raise KeyFormatError(
        "not a private key: expected PEM (-----BEGIN ... PRIVATE KEY-----) or .NET RSAKeyValue XML"
    )


def load_private_key_file(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    """Read and load a private key file (same rules as :func:`load_private_key`).

    A missing, unreadable, non-regular (``/dev/zero``, a FIFO) or oversized file raises
    :class:`~toolkit.errors.InputFileError` (an :class:`OSError`); a file whose content is not a
    usable key raises :class:`~toolkit.errors.KeyFormatError` with the file name in the message.
    """
    file = Path(path)
    data = read_limited(file, limit=MAX_KEY_BYTES, what="key file")
    try:
        return load_private_key(data)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{file}: {exc}", element=exc.element) from exc


def _decode(data: str | bytes) -> str:
    if isinstance(data, bytes):
        if data.startswith(_UTF16_BOMS):
            # Windows tools sometimes save XML as UTF-16 with a byte order mark.
            try:
                data = data.decode("utf-16")
            except UnicodeDecodeError:
                raise KeyFormatError("not a private key: invalid UTF-16 text") from None
        else:
            try:
                data = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise KeyFormatError(
                    "not a private key: expected PEM or RSAKeyValue XML text, got binary data"
                ) from None
    return data.removeprefix("\ufeff").strip()


def _load_pem(text: str) -> rsa.RSAPrivateKey:
    if _ENCRYPTED_PEM.search(text):
        raise KeyFormatError(
            "encrypted PEM private keys are not supported: store the key unencrypted and let the "
            "toolkit's store encrypt it at rest"
        )
    if "PRIVATE KEY-----" not in text and _PUBLIC_PEM.search(text):
        raise KeyFormatError(
            "this PEM holds a public key or certificate; the private key is needed to sign"
        )
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except TypeError:
        # cryptography's way of saying "this key needs a password".
        raise KeyFormatError("encrypted PEM private keys are not supported") from None
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"PEM private key cannot be read ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError(f"not an RSA private key ({type(key).__name__})")
    _check_size(key.key_size, element=None)
    check_public_exponent(key.public_key().public_numbers().e)
    return key


def _load_rsa_key_value(text: str) -> rsa.RSAPrivateKey:
    if _DTD_MARKERS.search(text):
        raise KeyFormatError("RSAKeyValue XML must not contain a DOCTYPE or ENTITY declaration")
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs refused above, so no entity expansion
    except ET.ParseError as exc:
        # ParseError's text gives a line and column only, never the document's content.
        raise KeyFormatError(f"RSAKeyValue XML is not well-formed ({exc})") from None
    if _local_name(root.tag) != "RSAKeyValue":
        raise KeyFormatError(
            f"expected an <RSAKeyValue> root element, found <{_local_name(root.tag)}>"
        )

    raw: dict[str, str] = {}
    for child in root:
        name = _local_name(child.tag)
        if name not in RSA_KEY_VALUE_ELEMENTS:
            raise KeyFormatError(f"unexpected element <{name}> in RSAKeyValue", element=name)
        if name in raw:
            raise KeyFormatError(f"element <{name}> appears more than once", element=name)
        if len(child):
            raise KeyFormatError(f"element <{name}> must hold only base64 text", element=name)
        raw[name] = child.text or ""

    if set(raw) == _PUBLIC_ELEMENTS:
        raise KeyFormatError(
            "this RSAKeyValue is a public key (Modulus and Exponent only); "
            "the private key is needed to sign"
        )
    for name in RSA_KEY_VALUE_ELEMENTS:
        if name not in raw:
            raise KeyFormatError(f"element <{name}> is missing", element=name)

    values = {name: _decode_integer(name, raw[name]) for name in RSA_KEY_VALUE_ELEMENTS}
    return _private_key_from_values(values)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _decode_integer(name: str, text: str) -> int:
    compact = _WHITESPACE.sub("", text)
    if not compact:
        raise KeyFormatError(f"element <{name}> is empty", element=name)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            f"element <{name}> is not valid standard base64", element=name
        ) from None
    value = int.from_bytes(raw, "big")
    if value == 0:
        raise KeyFormatError(f"element <{name}> is zero", element=name)
    return value


def _private_key_from_values(v: dict[str, int]) -> rsa.RSAPrivateKey:
    n, e, p, q = v["Modulus"], v["Exponent"], v["P"], v["Q"]
    d, dp, dq, iqmp = v["D"], v["DP"], v["DQ"], v["InverseQ"]

    _check_size(n.bit_length(), element="Modulus")
    if e % 2 == 0 or e >= n:
        raise KeyFormatError("Exponent is not a usable RSA public exponent", element="Exponent")
    check_public_exponent(e, element="Exponent")
    for name, factor in (("P", p), ("Q", q)):
        if not 1 < factor < n:
            raise KeyFormatError(f"{name} is not a factor of Modulus", element=name)

    # Name the one element that disagrees with the others, assuming only one is wrong.
    if p * q != n:
        if n % p == 0:
            raise KeyFormatError("P × Q does not equal Modulus; Q is wrong", element="Q")
        if n % q == 0:
            raise KeyFormatError("P × Q does not equal Modulus; P is wrong", element="P")
        raise KeyFormatError("P × Q does not equal Modulus", element="Modulus")

    lam = math.lcm(p - 1, q - 1)  # d·e ≡ 1 (mod λ) holds for both the λ- and the φ-based D.
    if d * e % lam != 1:
        if d % (p - 1) == dp and d % (q - 1) == dq:
            # D agrees with DP and DQ, so the exponent is the odd one out.
            raise KeyFormatError("Exponent does not match D, DP and DQ", element="Exponent")
        raise KeyFormatError("D is not the private exponent for Exponent", element="D")
    if dp != d % (p - 1):
        raise KeyFormatError("DP is not D mod (P − 1)", element="DP")
    if dq != d % (q - 1):
        raise KeyFormatError("DQ is not D mod (Q − 1)", element="DQ")
    # .NET's InverseQ is q⁻¹ mod p, the PKCS#1 coefficient / cryptography's iqmp (§4.2).
    if not 0 < iqmp < p or q * iqmp % p != 1:
        raise KeyFormatError("InverseQ is not Q⁻¹ mod P", element="InverseQ")

    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=dp,
        dmq1=dq,
        iqmp=iqmp,
        public_numbers=rsa.RSAPublicNumbers(e=e, n=n),
    )
    try:
        return numbers.private_key()
    except ValueError:
        # OpenSSL's own check (e.g. P or Q not prime); its message carries no key material.
        raise KeyFormatError("the RSAKeyValue numbers do not form a valid RSA key") from None


def _check_size(bits: int, *, element: str | None) -> None:
    if bits < MIN_KEY_SIZE:
        raise KeyFormatError(
            f"RSA key is {bits} bits; at least {MIN_KEY_SIZE} bits are required", element=element
        )
    if bits > MAX_KEY_SIZE:
        raise KeyFormatError(
            f"RSA key is {bits} bits; at most {MAX_KEY_SIZE} bits are accepted", element=element
        )


def check_public_exponent(exponent: int, *, element: str | None = None) -> None:
    """:class:`~toolkit.errors.KeyFormatError` unless ``exponent`` is odd and at least
    :data:`MIN_PUBLIC_EXPONENT` (65537); for any RSA key the toolkit loads, private or public."""
    if exponent < MIN_PUBLIC_EXPONENT or exponent % 2 == 0:
        raise KeyFormatError(
            f"the RSA public exponent must be odd and at least {MIN_PUBLIC_EXPONENT}",
            element=element,
        )


# --------------------------------------------------------------------------------------------
# Converting


def private_key_to_pem(key: rsa.RSAPrivateKey) -> str:
    """The key as unencrypted PKCS#1 PEM (``-----BEGIN RSA PRIVATE KEY-----``).

    PKCS#1 ("traditional OpenSSL") is what SuperOffice's converters (devnet-tools ``/rsa``, the
    Node ``rsa-xml`` sample) produce, so tools written against those samples read it.
    """
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.TraditionalOpenSSL,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


def rsa_key_value_to_pem(xml: str | bytes) -> str:
    """Convert .NET RSAKeyValue XML to PKCS#1 PEM (what devnet-tools ``/rsa`` does, offline)."""
    text = _decode(xml)
    if not text.startswith("<"):
        raise KeyFormatError("not RSAKeyValue XML")
    return private_key_to_pem(_load_rsa_key_value(text))


def private_key_to_rsa_key_value(key: rsa.RSAPrivateKey) -> str:
    """The key as .NET ``RSAKeyValue`` XML, laid out like ``RSA.ToXmlString(true)``.

    Like .NET, Modulus and D are padded to the modulus length and P, Q, DP, DQ and InverseQ to
    half of it, so the output can be imported by .NET's ``FromXmlString``.
    """
    numbers = key.private_numbers()
    public = numbers.public_numbers
    size = (public.n.bit_length() + 7) // 8
    half = (size + 1) // 2
    parts = {
        "Modulus": (public.n, size),
        "Exponent": (public.e, 0),
        "P": (numbers.p, half),
        "Q": (numbers.q, half),
        "DP": (numbers.dmp1, half),
        "DQ": (numbers.dmq1, half),
        "InverseQ": (numbers.iqmp, half),
        "D": (numbers.d, size),
    }
    body = "".join(
        f"<{name}>{_encode_integer(value, width)}</{name}>"
        for name, (value, width) in parts.items()
    )
    return f"<RSAKeyValue>{body}</RSAKeyValue>"


def _encode_integer(value: int, width: int) -> str:
    length = max(width, (value.bit_length() + 7) // 8, 1)
    return base64.b64encode(value.to_bytes(length, "big")).decode("ascii")


def public_key_to_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``)."""
    return (
        _public(key)
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode("ascii")
    )


def key_fingerprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """A short, non-secret identifier: the first 16 hex digits of SHA-256(public key DER).

    The same for a private key and its public key, so logs and the dashboard can show which key
    is in use without showing the key.
    """
    der = _public(key).public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return hashlib.sha256(der).hexdigest()[:16]


def _public(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key
    raise TypeError(f"expected an RSA key, got {type(key).__name__}")


# --------------------------------------------------------------------------------------------
# Signing the system user token (§4.3)


def sign_system_user_token(
    system_user_token: str,
    private_key: rsa.RSAPrivateKey,
    *,
    now: Callable[[], datetime] = utc_now,
) -> str:
    """Build the ``SignedSystemToken`` for the PartnerSystemUser exchange (§4.3).

    Returns ``"{system_user_token}.{yyyyMMddHHmm}.{base64 signature}"``: the timestamp is
    ``now()`` in UTC, the signature is RSA PKCS#1 v1.5 with SHA-256 over the UTF-8 bytes of
    ``"{system_user_token}.{timestamp}"``, encoded as standard base64 with padding. The token is
    used exactly as given (it may contain spaces and dots). ``now`` must return an aware
    datetime; a naive one raises :class:`ValueError` rather than guessing its zone.
    """
    if not system_user_token or system_user_token.isspace():
        raise ValueError("system_user_token is empty")
    timestamp = _format_timestamp(now())
    signed_data = f"{system_user_token}.{timestamp}".encode()
    signature = private_key.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())
    return f"{system_user_token}.{timestamp}.{base64.b64encode(signature).decode('ascii')}"


def verify_system_user_token_signature(
    signed: str, public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey
) -> tuple[str, datetime]:
    """Check a ``SignedSystemToken`` and return its system user token and (UTC) timestamp.

    The value is split at its last two dots, since the token itself may contain dots. A value
    that is not laid out as ``token.yyyyMMddHHmm.base64`` raises :class:`ValueError`; a
    signature that does not verify raises :class:`~toolkit.errors.InvalidSignatureError`. The
    timestamp's age is not judged here (SuperOffice's tolerance is undocumented, §4.3).
    """
    parts = signed.rsplit(".", 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError("not a signed system user token: expected token.yyyyMMddHHmm.signature")
    token, timestamp, encoded = parts
    if not _TIMESTAMP.fullmatch(timestamp):
        raise ValueError("the signed system user token's timestamp is not 12 digits (yyyyMMddHHmm)")
    try:
        moment = datetime.strptime(timestamp, SYSTEM_USER_TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError("the signed system user token's timestamp is not a valid date") from None
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the signed system user token's signature is not standard base64"
        ) from None
    try:
        _public(public_key).verify(
            signature, f"{token}.{timestamp}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise InvalidSignatureError(
            "the system user token signature does not verify with this key"
        ) from None
    return token, moment


def _format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now() returned a naive datetime; give it a time zone (UTC)")
    timestamp = moment.astimezone(UTC).strftime(SYSTEM_USER_TIMESTAMP_FORMAT)
    if not _TIMESTAMP.fullmatch(timestamp):
        raise ValueError("now() returned a date outside the yyyyMMddHHmm range")
    return timestamp
