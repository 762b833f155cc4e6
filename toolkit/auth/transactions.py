"""Pending sign-ins: the server-side half of the authorization code flow (protocol §2.2, §2.3).

``begin_sign_in`` creates a :class:`SignInTransaction` (state, nonce, PKCE verifier, redirect URI)
and puts it in a :class:`TransactionStore`; the callback takes it back by ``state``. Taking is
single-use: the transaction is removed atomically, so a replayed callback finds nothing and
fails with :class:`~toolkit.errors.StateMismatchError`. The browser only ever carries the
``state``; the nonce and the verifier never leave the server.

:class:`InMemoryTransactionStore` suits one process (tests, notebooks, a single web worker); a
store-backed implementation of the same protocol serves several workers.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from toolkit.claims import REDACTED
from toolkit.errors import SignInError, StateMismatchError

logger = logging.getLogger("toolkit.auth.transactions")

# How long a pending sign-in stays usable: SuperID's authorization code lives 10 minutes
# (protocol §2.3, SD:code-flow), so a callback arriving later could not be redeemed anyway.
SIGN_IN_TTL = timedelta(minutes=10)
# Upper bound on pending sign-ins held in memory, so a flood of /install hits cannot exhaust it.
MAX_PENDING_SIGN_INS = 10_000


def utc_now() -> datetime:
    """The default clock: an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(frozen=True, repr=False)
class SignInTransaction:
    """One pending sign-in, kept on the server between the authorize redirect and the callback.

    ``state``, ``nonce`` and ``code_verifier`` are secrets of this sign-in and are never shown
    in the repr. ``tenant`` is the context identifier hint the sign-in was started with (if
    any); ``return_to`` is where the application wants to send the user afterwards.
    """

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    created_at: datetime
    response_mode: str = "query"
    tenant: str | None = None
    login_hint: str | None = None
    return_to: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def expires_at(self, ttl: timedelta = SIGN_IN_TTL) -> datetime:
        return self.created_at + ttl

    def __repr__(self) -> str:
        return (
            f"SignInTransaction(state={REDACTED!r}, redirect_uri={self.redirect_uri!r}, "
            f"created_at={self.created_at.isoformat()!r}, response_mode={self.response_mode!r}, "
            f"tenant={self.tenant!r}, return_to={self.return_to!r})"
        )

    __str__ = __repr__


@runtime_checkable
class TransactionStore(Protocol):
    """Where pending sign-ins wait for their callback.

    ``take`` must be atomic and single-use: it removes and returns the transaction, and raises
    :class:`~toolkit.errors.StateMismatchError` for an unknown, expired or already taken state.
    """

    def put(self, transaction: SignInTransaction) -> None: ...

    def take(self, state: str) -> SignInTransaction: ...


class InMemoryTransactionStore:
    """A thread-safe, bounded, in-process :class:`TransactionStore`.

    Entries expire ``ttl`` after they were put (measured with the injected clock). When the
    store is full, expired entries are evicted first; if it is still full, ``put`` refuses with
    a :class:`~toolkit.errors.SignInError` instead of dropping someone's live sign-in.
    """

    def __init__(
        self,
        ttl: timedelta = SIGN_IN_TTL,
        *,
        max_pending: int = MAX_PENDING_SIGN_INS,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._ttl = ttl
        self._max_pending = max_pending
        self._now = now
        self._lock = threading.Lock()
        # state -> (expires_at, transaction), in insertion order (which is expiry order, as
        # the ttl is constant), so expired entries are found at the front.
        self._pending: OrderedDict[str, tuple[datetime, SignInTransaction]] = OrderedDict()

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def put(self, transaction: SignInTransaction) -> None:
        if not transaction.state:
            raise SignInError("a sign-in transaction needs a state")
        now = self._now()
        with self._lock:
            self._evict_expired(now)
            if len(self._pending) >= self._max_pending:
                # A full sweep, in case the clock went backwards and the order is off.
                for key in [k for k, (exp, _) in self._pending.items() if exp <= now]:
                    del self._pending[key]
            if len(self._pending) >= self._max_pending:
                raise SignInError(
                    f"too many pending sign-ins ({self._max_pending}); refusing to start another"
                    " until some complete or expire"
                )
            if transaction.state in self._pending:
                # 256 random bits never collide; a duplicate means a caller bug.
                raise SignInError("a sign-in with this state is already pending")
            self._pending[transaction.state] = (now + self._ttl, transaction)

    def take(self, state: str) -> SignInTransaction:
        now = self._now()
        with self._lock:
            entry = self._pending.pop(state, None) if state else None
            self._evict_expired(now)
        if entry is None:
            raise StateMismatchError("unknown or already used sign-in state")
        expires_at, transaction = entry
        if expires_at <= now:
            raise StateMismatchError("the sign-in expired; start it again")
        return transaction

    def _evict_expired(self, now: datetime) -> None:
        while self._pending:
            key, (expires_at, _) = next(iter(self._pending.items()))
            if expires_at > now:
                break
            del self._pending[key]
            logger.debug("evicted an expired pending sign-in")
