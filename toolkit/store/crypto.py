"""Secrets at rest: AES-GCM with a key ring and the row's identity as associated data.

A stored secret is the text ``v1:{kid}:{base64(nonce || ciphertext || tag)}``. ``kid`` names the
key in the :class:`KeyRing` that sealed it, so keys can be rotated without downtime: new values
use the current (first) key and older values stay readable while their key is in the ring.

The associated data is ``"{table}:{row id}:{column}"`` (see :func:`associated_data`): a value
copied to another row or another column fails authentication and raises
:class:`~toolkit.errors.DecryptionError`. There is no plaintext fallback anywhere.

The key ring comes from ``SOTK_SECRET_KEYS`` text (``"kid1:BASE64KEY,kid2:BASE64KEY"``, first =
current) or, for the embedded default, from ``{home}/secret.key`` created once with mode 0600.
Key material never appears in reprs, logs or exception messages.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from toolkit.errors import DecryptionError, SecretKeyError

__all__ = [
    "KEY_FILE_NAME",
    "KeyRing",
    "SecretBox",
    "associated_data",
    "generate_key_text",
]

logger = logging.getLogger("toolkit.store")

# Format tag of stored values; a future format gets a new tag and both stay readable.
FORMAT_VERSION = "v1"
# AES-256: the strongest AES-GCM key size, and what `generate_key_text` produces.
KEY_BYTES = 32
# 96-bit nonces are GCM's native size; random nonces are safe far beyond this store's volume.
NONCE_BYTES = 12
# Key ids end up in every stored value and in error messages, so they are short and plain.
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# The embedded default key file inside the toolkit home folder.
KEY_FILE_NAME = "secret.key"
# Owner-only: the key file unlocks every stored secret.
KEY_FILE_MODE = 0o600
# A key ring file holds a few keys (kid:base64, ~60 characters each); far more is not one.
MAX_KEY_FILE_CHARS = 64 * 1024
# Owner-only home folder: it holds the key file and the SQLite database.
HOME_MODE = 0o700


def associated_data(table: str, row_id: str, column: str) -> str:
    """The associated data binding a stored secret to its table, row and column."""
    return f"{table}:{row_id}:{column}"


def generate_key_text(kid: str | None = None) -> str:
    """A fresh ``kid:BASE64KEY`` entry for ``SOTK_SECRET_KEYS`` (operators prepend it to rotate)."""
    kid = kid or f"k{secrets.token_hex(4)}"
    if not KID_PATTERN.fullmatch(kid):
        raise SecretKeyError("a key id must be 1-32 characters of A-Z, a-z, 0-9, _ or -")
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode('ascii')}"


@dataclass(frozen=True)
class _Key:
    kid: str
    material: bytes

    def __repr__(self) -> str:
        return f"_Key(kid={self.kid!r}, material=<redacted>)"


class KeyRing:
    """Named AES-256 keys; the first one is current (used for every new value)."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        entries: list[_Key] = []
        seen: set[str] = set()
        for kid, material in keys:
            if not KID_PATTERN.fullmatch(kid):
                raise SecretKeyError(
                    "a key id must be 1-32 characters of A-Z, a-z, 0-9, _ or -", kid=None
                )
            if kid in seen:
                raise SecretKeyError(f"key id {kid!r} appears twice in the key ring", kid=kid)
            if len(material) != KEY_BYTES:
                raise SecretKeyError(
                    f"key {kid!r} must decode to {KEY_BYTES} bytes (AES-256)", kid=kid
                )
            seen.add(kid)
            entries.append(_Key(kid, bytes(material)))
        if not entries:
            raise SecretKeyError("the key ring is empty: at least one key is needed")
        self._keys = entries
        self._by_kid = {entry.kid: entry for entry in entries}

    @classmethod
    def from_text(cls, text: str) -> KeyRing:
        """Parse ``"kid1:BASE64KEY,kid2:BASE64KEY"`` (first = current; spaces are ignored)."""
        pairs: list[tuple[str, bytes]] = []
        for index, raw in enumerate(text.replace("\n", ",").split(",")):
            entry = raw.strip()
            if not entry:
                continue
            kid, sep, encoded = entry.partition(":")
            kid = kid.strip()
            if not sep or not KID_PATTERN.fullmatch(kid):
                raise SecretKeyError(
                    f"key ring entry {index + 1} is not 'kid:BASE64KEY' with a key id of "
                    "1-32 characters of A-Z, a-z, 0-9, _ or -"
                )
            try:
                material = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise SecretKeyError(f"key {kid!r} is not valid base64", kid=kid) from None
            pairs.append((kid, material))
        return cls(pairs)

    @classmethod
    def load(cls, home: Path) -> KeyRing:
        """Read ``{home}/secret.key``; refuse a missing file or one others can read or write."""
        path = Path(home) / KEY_FILE_NAME
        try:
            # O_NONBLOCK: a FIFO put in its place must not hang the start (refused below).
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise SecretKeyError(f"the secret key file {path} does not exist") from None
        except OSError as exc:
            raise SecretKeyError(f"the secret key file {path} cannot be opened: {exc}") from None
        with os.fdopen(fd, "r", encoding="ascii") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise SecretKeyError(f"the secret key file {path} is not a regular file")
            if info.st_size > MAX_KEY_FILE_CHARS:
                raise SecretKeyError(f"the secret key file {path} is too large for a key ring")
            if os.name == "posix":
                if stat.S_IMODE(info.st_mode) & 0o077:
                    raise SecretKeyError(
                        f"the secret key file {path} has mode "
                        f"{stat.S_IMODE(info.st_mode):04o}; it must be readable by its owner "
                        "only (chmod 600)"
                    )
                if info.st_uid != os.geteuid():
                    raise SecretKeyError(f"the secret key file {path} belongs to another user")
            try:
                text = handle.read(MAX_KEY_FILE_CHARS + 1)
            except UnicodeDecodeError:
                raise SecretKeyError(f"the secret key file {path} is not key ring text") from None
            if len(text) > MAX_KEY_FILE_CHARS:
                raise SecretKeyError(f"the secret key file {path} is too large for a key ring")
        return cls.from_text(text)

    @classmethod
    def create(cls, home: Path) -> KeyRing:
        """Create ``{home}/secret.key`` (mode 0600) with one new key, atomically.

        The key is written to a temporary file first and hard-linked into place, which fails
        if the file exists: a concurrent starter never sees a half-written key, and an existing
        key is never replaced. Raises :class:`FileExistsError` if the file appeared meanwhile.
        """
        home = Path(home)
        home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
        path = home / KEY_FILE_NAME
        text = generate_key_text() + "\n"
        temporary = home / f".{KEY_FILE_NAME}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                os.fchmod(handle.fileno(), KEY_FILE_MODE)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        logger.warning(
            "created a new secret key at %s (mode 0600); back it up: without it the secrets "
            "in the store cannot be read",
            path,
        )
        return cls.from_text(text)

    @classmethod
    def load_or_create(cls, home: Path) -> KeyRing:
        """The embedded default: read ``{home}/secret.key``, creating it once if absent."""
        path = Path(home) / KEY_FILE_NAME
        if not path.exists():
            with contextlib.suppress(FileExistsError):
                return cls.create(home)
        return cls.load(home)

    @staticmethod
    def key_file(home: Path) -> Path:
        return Path(home) / KEY_FILE_NAME

    @property
    def current_kid(self) -> str:
        return self._keys[0].kid

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(entry.kid for entry in self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __iter__(self) -> Iterator[str]:
        return iter(self.kids)

    def __len__(self) -> int:
        return len(self._keys)

    def _material(self, kid: str) -> bytes:
        try:
            return self._by_kid[kid].material
        except KeyError:
            raise SecretKeyError(
                f"no key with id {kid!r} in the key ring (known: {', '.join(self.kids)})",
                kid=kid,
            ) from None

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self.kids)!r}, current={self.current_kid!r})"


def kid_of(value: str) -> str:
    """The key id a stored value was sealed with (no decryption)."""
    _, kid, _ = _split(value)
    return kid


def _split(value: str) -> tuple[str, str, str]:
    parts = value.split(":", 2)
    if len(parts) != 3 or parts[0] != FORMAT_VERSION or not KID_PATTERN.fullmatch(parts[1]):
        raise DecryptionError("stored value is not in the v1:kid:payload format")
    return parts[0], parts[1], parts[2]


class SecretBox:
    """Encrypts and decrypts stored secrets with a :class:`KeyRing`."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"SecretBox({self.keyring!r})"

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        """Seal ``plaintext`` under the current key, bound to ``aad``."""
        kid = self.keyring.current_kid
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keyring._material(kid)).encrypt(
            nonce, plaintext.encode("utf-8"), aad.encode("utf-8")
        )
        return f"{FORMAT_VERSION}:{kid}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, value: str, *, aad: str) -> str:
        """Open a stored value; unknown kid: SecretKeyError, failed tag: DecryptionError."""
        _, kid, payload = _split(value)
        material = self.keyring._material(kid)
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionError("stored value is not valid base64") from None
        if len(raw) < NONCE_BYTES + 16:
            raise DecryptionError("stored value is too short to be AES-GCM output")
        try:
            opened = AESGCM(material).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8")
            )
        except InvalidTag:
            # No content and no associated data in the message: only where it failed.
            raise DecryptionError(
                f"stored value sealed with key {kid!r} failed authentication "
                "(tampered, or copied from another row or column)"
            ) from None
        return opened.decode("utf-8")

    def is_current(self, value: str) -> bool:
        """True when ``value`` is sealed with the current key (nothing to rotate)."""
        return kid_of(value) == self.keyring.current_kid
