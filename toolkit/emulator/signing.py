"""SuperID's own signing keys: JWKS with `kid`, rotation, RS256 JWT minting."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.utils import to_base64url_uint

SIGNING_KEY_BITS = 2048
SIGNING_ALGORITHM = "RS256"  # id_token_signing_alg_values_supported (protocol §2.1)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": SIGNING_ALGORITHM,
            "kid": self.kid,
            "n": to_base64url_uint(numbers.n).decode(),
            "e": to_base64url_uint(numbers.e).decode(),
        }

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def key_id(public_key: rsa.RSAPublicKey) -> str:
    # The real JWKS kid is unknown; one SuperOffice sample used the uppercase hex SHA-1
    # thumbprint, so we do the same over the public key DER (protocol open question 1) [I].
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def signing_key_from_private(private_key: rsa.RSAPrivateKey) -> SigningKey:
    return SigningKey(key_id(private_key.public_key()), private_key)


def new_signing_key() -> SigningKey:
    return signing_key_from_private(
        rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)
    )


class KeyRing:
    """Published keys, newest last; the newest signs. Rotate publishes a new key and keeps
    the old ones (so cached JWKS and live tokens keep validating); retire drops the old ones."""

    def __init__(self, keys: list[SigningKey] | None = None) -> None:
        self._lock = threading.Lock()
        self._keys = list(keys) if keys else [new_signing_key()]

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._keys[-1]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.jwk() for k in reversed(self._keys)]}

    def rotate(self) -> SigningKey:
        key = new_signing_key()
        with self._lock:
            self._keys.append(key)
        return key

    def retire(self) -> list[str]:
        """Drop every key except the current one; returns the retired kids."""
        with self._lock:
            retired = [k.kid for k in self._keys[:-1]]
            self._keys = self._keys[-1:]
            return retired

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        return jwt.encode(claims, key.private_key, SIGNING_ALGORITHM, headers={"kid": key.kid})

    def to_json(self) -> list[str]:
        with self._lock:
            return [k.private_pem() for k in self._keys]

    @classmethod
    def from_json(cls, pems: list[str]) -> KeyRing:
        keys = []
        for pem in pems:
            private_key = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError("signing keys must be RSA")
            keys.append(signing_key_from_private(private_key))
        return cls(keys or None)
