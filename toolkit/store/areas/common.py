"""What every area of the store shares: the clock, limits, hashing, JSON and the secret guard."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkit.errors import ConfigurationError, StoreError

__all__ = [
    "DEFAULT_AUDIT_LIMIT",
    "SIGN_IN_TTL",
    "hash_state",
    "looks_secret",
    "refuse_secrets",
    "require_choice",
    "to_json",
    "utc_now",
]

# A pending sign-in lives this long: enough for an admin to sign in and read the consent page,
# short enough that a leaked state is soon useless (SuperID's own id_token lives 5 minutes).
SIGN_IN_TTL = timedelta(minutes=10)
# Audit events returned when the caller gives no limit.
DEFAULT_AUDIT_LIMIT = 100

# Key names that smell of secrets in audit summaries, claims and user options (normalized to
# lower_snake_case, last URI segment): refused, so a caller's missed redaction cannot persist.
_SECRET_NAMES = frozenset(
    {
        "secret",
        "client_secret",
        "password",
        "passwd",
        "private_key",
        "token",
        "system_token",
        "system_user_token",
        "refresh_token",
        "access_token",
        "id_token",
        "ticket",
        "system_user_ticket",
        "code",
        "code_verifier",
        "nonce",
        "application_token",
        "api_key",
        "authorization",
    }
)
_SECRET_SUFFIXES = ("_secret", "_token", "_ticket", "_password", "_private_key", "_verifier")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _normalize_key(key: str) -> str:
    last = key.rstrip("/").rsplit("/", 1)[-1]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", last)
    return re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")


# Summaries, claims and plans repeat the same few keys: an export of 100,000 audit events asks
# about each of them 100,000 times (two regular expressions each), so the answers are kept.
@functools.lru_cache(maxsize=4096)
def looks_secret(key: str) -> bool:
    """True when a mapping key names a secret (``client_secret``, ``*_token``, ...)."""
    name = _normalize_key(key)
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def refuse_secrets(value: Any, *, what: str) -> None:
    """StoreError when ``value`` holds a secret-looking key with a value that could be one."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            # A flag or an empty value cannot carry a secret ({"has_private_key": True}).
            if looks_secret(str(key)) and not (item is None or isinstance(item, bool)):
                raise StoreError(
                    f"{what} has a key {str(key)!r} that looks like a secret; "
                    "redact it before it reaches the store"
                )
            refuse_secrets(item, what=what)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_secrets(item, what=what)


def require_choice(name: str, value: object, choices: Iterable[str]) -> None:
    """ConfigurationError unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}")


def to_json(value: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces) as the store keeps it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def hash_state(state: str) -> str:
    """SHA-256 hex of a sign-in ``state``: what the store keeps instead of the state."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()
