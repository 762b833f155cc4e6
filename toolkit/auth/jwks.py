"""SuperID's JSON Web Key Set: fetched, cached, and searched by ``kid``.

The cache only ever fetches its own configured ``jwks_uri`` (``{authority}/.well-known/jwks``,
protocol §2.1) through the toolkit's httpx client, so the emulator and proxies work. Token
headers that name other key locations (``jku``, ``x5u``) or embed a key (``jwk``) are never
followed or trusted: this module does not read them at all.

The real JWKS contents (``kid`` format, key size, whether environments share a key) have not been
seen (protocol, open question 1); samples look keys up by ``kid`` or take ``keys[0]``. Hence the
lookup rules:

* a token ``kid`` is looked up in the cached set; an unknown ``kid`` triggers at most ONE
  refetch, and only if the last fetch is older than ``min_refetch_interval``, so a flood of
  tokens with random ``kid`` values cannot cause a flood of fetches;
* a token without ``kid`` uses the set's only usable key when there is exactly one;
* unusable keys (not RSA, ``use`` other than ``sig``, missing or broken ``n``/``e``, an ``alg``
  that conflicts with the token's, too short) are skipped, never fatal; a set with no usable key
  at all is a :class:`~toolkit.errors.KeySetError`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from toolkit.config import require_secure_url
from toolkit.errors import KeySetError, SigningKeyNotFoundError, TransportError
from toolkit.http import get_json, url_for_error

logger = logging.getLogger("toolkit.auth.jwks")

# SuperID rotates its signing key rarely; an hour bounds how long a withdrawn key stays trusted
# while keeping JWKS traffic negligible.
JWKS_TTL = timedelta(hours=1)
# An unknown kid may mean a rotation, so it earns one refetch, but never more often than this:
# tokens with random kids must not turn the toolkit into a request amplifier against SuperID.
JWKS_MIN_REFETCH_INTERVAL = timedelta(seconds=30)
# Shorter RSA keys are factorable in practice; SuperOffice's certificates are RSA 2048 (§4.6).
MIN_RSA_KEY_BITS = 2048
# The signature algorithms an RSA key can verify; anything else is not usable with these keys.
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})

_BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SigningKeySource(Protocol):
    """Anything that finds the verification key for a token's ``kid`` and ``alg``."""

    def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK: ...


@dataclass(frozen=True)
class _UsableKey:
    kid: str | None
    alg: str | None  # the key's own alg, if it declares one
    jwk: Mapping[str, str]  # public members only: kty, n, e (+ kid, alg)
    # PyJWK objects built per token alg, on first use (PyJWK binds one algorithm).
    built: dict[str, jwt.PyJWK] = field(default_factory=dict, compare=False)

    def for_alg(self, alg: str) -> jwt.PyJWK | None:
        if alg not in RSA_ALGORITHMS or (self.alg is not None and self.alg != alg):
            return None
        key = self.built.get(alg)
        if key is None:
            try:
                key = jwt.PyJWK(dict(self.jwk), algorithm=alg)
            except (jwt.PyJWTError, ValueError, TypeError):  # pragma: no cover - checked at fetch
                return None
            self.built[alg] = key
        return key


@dataclass(frozen=True)
class _Snapshot:
    keys: tuple[_UsableKey, ...]
    fetched_at: datetime


def _strict_base64url(value: Any) -> bytes | None:
    if not isinstance(value, str) or not _BASE64URL_RE.match(value):
        return None
    stripped = value.rstrip("=")
    if len(stripped) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None


def _usable_key(entry: Any) -> tuple[_UsableKey | None, str]:
    """The key as a :class:`_UsableKey`, or None and the reason it is skipped."""
    if not isinstance(entry, dict):
        return None, "not a JSON object"
    if entry.get("kty") != "RSA":
        return None, f"kty {entry.get('kty')!r} is not RSA"
    use = entry.get("use")
    if use is not None and use != "sig":
        return None, f"use {use!r} is not sig"
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None, "key_ops does not allow verify"
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None, "kid is not a string"
    alg = entry.get("alg")
    if alg is not None and alg not in RSA_ALGORITHMS:
        return None, f"alg {alg!r} is not an RSA signature algorithm"
    modulus, exponent = _strict_base64url(entry.get("n")), _strict_base64url(entry.get("e"))
    if not modulus or not exponent:
        return None, "n or e missing or not base64url"
    public = {"kty": "RSA", "n": entry["n"], "e": entry["e"]}  # never keep private members
    if kid is not None:
        public["kid"] = kid
    try:
        built = jwt.PyJWK(dict(public), algorithm=alg or "RS256")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return None, f"not a valid RSA public key ({type(exc).__name__})"
    if not isinstance(built.key, RSAPublicKey):
        return None, "not an RSA public key"
    if built.key.key_size < MIN_RSA_KEY_BITS:
        return None, f"RSA key of {built.key.key_size} bits is shorter than {MIN_RSA_KEY_BITS}"
    usable = _UsableKey(kid=kid, alg=alg, jwk=public)
    usable.built[alg or "RS256"] = built
    return usable, ""


def _parse_key_set(document: Mapping[str, Any]) -> tuple[_UsableKey, ...]:
    """The usable signing keys of a JWKS document; KeySetError when there are none."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise KeySetError("JWKS document has no 'keys' list")
    usable: list[_UsableKey] = []
    for index, entry in enumerate(entries):
        key, reason = _usable_key(entry)
        if key is None:
            logger.debug("JWKS key #%d skipped: %s", index, reason)
        else:
            usable.append(key)
    if not usable:
        raise KeySetError(f"JWKS holds no usable RSA signing key ({len(entries)} keys skipped)")
    return tuple(usable)


class JwksCache:
    """SuperID's signing keys, fetched from ``jwks_uri`` and cached for ``ttl``.

    Thread-safe: lookups read an immutable snapshot; fetches happen under a lock, one at a
    time, and threads waiting on it reuse the result. ``fetch_count`` counts fetch attempts
    (for tests and benchmarks). ``now`` is the injectable clock for the TTL and the refetch
    rate limit.
    """

    def __init__(
        self,
        jwks_uri: str,
        client: httpx.Client,
        *,
        ttl: timedelta = JWKS_TTL,
        min_refetch_interval: timedelta = JWKS_MIN_REFETCH_INTERVAL,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.jwks_uri = require_secure_url(jwks_uri, what="jwks_uri")
        if ttl <= timedelta(0) or min_refetch_interval < timedelta(0):
            raise ValueError("ttl must be positive and min_refetch_interval not negative")
        self._client = client
        self._ttl = ttl
        self._min_refetch_interval = min_refetch_interval
        self._now = now
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._last_attempt: datetime | None = None
        self._last_failure: datetime | None = None
        self.fetch_count = 0

    def __repr__(self) -> str:
        return f"JwksCache({url_for_error(self.jwks_uri)!r}, fetch_count={self.fetch_count})"

    @property
    def key_ids(self) -> tuple[str | None, ...]:
        """The kids of the cached usable keys (empty before the first fetch)."""
        snapshot = self._snapshot
        return () if snapshot is None else tuple(k.kid for k in snapshot.keys)

    def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The key that verifies a token with header ``kid`` and ``alg``.

        Raises SigningKeyNotFoundError when no usable key matches (after at most one
        rate-limited refetch for an unknown kid), KeySetError when the set cannot be fetched or
        has no usable key.
        """
        snapshot = self._fresh_snapshot()
        key = _select(snapshot.keys, kid, alg)
        if key is not None:
            return key
        if kid is None:
            raise SigningKeyNotFoundError(
                f"token has no kid and the JWKS does not hold exactly one key usable with {alg}"
            )
        with self._lock:
            # Another thread may have refetched while we waited for the lock.
            current = self._snapshot
            if current is not None and current is not snapshot:
                key = _select(current.keys, kid, alg)
                if key is not None:
                    return key
            if not self._may_refetch():
                raise SigningKeyNotFoundError(
                    "no JWKS key matches the token's kid (refetch rate-limited)", kid=kid
                )
            key = _select(self._fetch_locked().keys, kid, alg)
        if key is None:
            raise SigningKeyNotFoundError(
                f"no JWKS key usable with {alg} matches the token's kid, even after a refetch",
                kid=kid,
            )
        return key

    def refresh(self) -> None:
        """Fetch the key set now (for warm-up or an operator's "reload keys")."""
        with self._lock:
            self._fetch_locked()

    def _may_refetch(self) -> bool:
        last = self._last_attempt
        return last is None or self._now() - last >= self._min_refetch_interval

    def _fresh_snapshot(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._now() - snapshot.fetched_at < self._ttl:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and self._now() - snapshot.fetched_at < self._ttl:
                return snapshot
            failed = self._last_failure
            if failed is not None and self._now() - failed < self._min_refetch_interval:
                raise KeySetError(
                    f"JWKS fetch from {url_for_error(self.jwks_uri)} failed moments ago; "
                    "not retrying yet"
                )
            return self._fetch_locked()

    def _fetch_locked(self) -> _Snapshot:
        now = self._now()
        self._last_attempt = now
        self.fetch_count += 1
        try:
            document = get_json(self._client, self.jwks_uri, "JWKS")
            keys = _parse_key_set(document)
        except TransportError as exc:
            self._last_failure = now
            raise KeySetError(f"cannot fetch the JWKS: {exc}") from exc
        except KeySetError:
            self._last_failure = now
            raise
        self._last_failure = None
        snapshot = _Snapshot(keys=keys, fetched_at=now)
        self._snapshot = snapshot
        logger.info(
            "JWKS fetched from %s: %d usable key(s), kids %s",
            url_for_error(self.jwks_uri),
            len(keys),
            [k.kid for k in keys],
        )
        return snapshot


def _select(keys: tuple[_UsableKey, ...], kid: str | None, alg: str) -> jwt.PyJWK | None:
    if kid is not None:
        for candidate in keys:
            if candidate.kid == kid:
                key = candidate.for_alg(alg)
                if key is not None:
                    return key
        return None
    usable = [key for key in (k.for_alg(alg) for k in keys) if key is not None]
    return usable[0] if len(usable) == 1 else None
