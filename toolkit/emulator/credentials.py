"""App credentials as the Developer Portal issues them (protocol §4.2, §8).

client_id and client_secret are 32 lowercase hex characters; the RSA key pair is generated here,
the private half is returned once (RSAKeyValue XML and PEM) and only the public key is kept.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Dev Portal key size is not documented (protocol §4.2); 2048 is today's minimum sensible size [I].
APP_KEY_BITS = 2048


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
