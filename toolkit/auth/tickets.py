"""The ticket manager: one system user ticket per authorization, cached, renewed sparingly.

SuperOffice asks partners to cache the system user ticket per tenant and to exchange a new one
only when it has expired or is about to: every exchange creates a credentials record in the
tenant (SD:bp, SUC README; protocol §4.7). :class:`TicketManager` therefore

* looks in memory, then in the store (sealed, shared by every process using it), and exchanges
  only when neither holds a ticket that is still fresh;
* tracks the last use of each ticket (:meth:`TicketManager.mark_used`): the ticket is valid for
  6 hours from its last use (sliding), so the toolkit's view of its expiry is
  ``last use + TICKET_WINDOW`` and it is renewed ``TICKET_REFRESH_MARGIN`` before that;
* lets one exchange at a time run per application × tenant: threads of one process share one
  in-flight renewal (a per-key single flight), and processes sharing the store take a lease row
  inside a write transaction (one conditional upsert: ``INSERT ... ON CONFLICT``) and read the
  store under it, while the others poll the store for the ticket it stores; a process that
  finds a fresh ticket there rolls its lease back; a lease expires, so a crashed holder blocks
  no one for long;
* renews once after a 401 (:meth:`TicketManager.call_with_ticket`) and then gives up with
  :class:`~toolkit.errors.TicketRejectedError`;
* on a ``Revoked``/``Expired`` or ``NeedsReapproval`` answer marks the authorization
  ``needs_reconsent`` (audited, actor ``ticket-manager``) and raises, without retrying; an
  authorization that is not ``active`` gets no exchange at all;
* tells front ends what it holds without revealing a ticket or exchanging
  (:meth:`TicketManager.ticket_status`, :meth:`TicketManager.ticket_statuses`), and renews on an
  operator's request (:meth:`TicketManager.renew`: one exchange, even if a fresh ticket is held).

The server-side expiry behaviour of tickets is only documented as "6 hours, sliding" (open
question 5); an expired ticket is assumed to answer 401 [I].
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, cast

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from toolkit.auth.jwks import SigningKeySource
from toolkit.auth.system_user import TICKET_WINDOW, SystemUserTicket, exchange_system_user_token
from toolkit.auth.tokens import DEFAULT_POLICY, ValidationPolicy
from toolkit.config import Environment
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    ConfigurationError,
    ContextMismatchError,
    DecryptionError,
    NeedsReapprovalError,
    NoSystemUserTokenError,
    SecretKeyError,
    StoreError,
    TicketLeaseTimeoutError,
    TicketRejectedError,
)
from toolkit.keys import load_private_key
from toolkit.naming import check_context_identifier, resolve_installation
from toolkit.store.records import (
    Application,
    Authorization,
    AuthorizationKey,
    RenewalView,
    StoredTicket,
)
from toolkit.store.repository import Repository

__all__ = [
    "TICKET_LEASE_TTL",
    "TICKET_LEASE_WAIT",
    "TICKET_MANAGER_ACTOR",
    "TICKET_REFRESH_MARGIN",
    "TICKET_TOUCH_INTERVAL",
    "TICKET_WINDOW",
    "TicketManager",
    "TicketStatus",
    "environment_of",
    "system_user_exchange",
]

logger = logging.getLogger("toolkit.auth.tickets")

# Renew this long before the toolkit's view of the 6 h sliding window ends: it absorbs clock
# skew with SuperOffice, the up to TICKET_TOUCH_INTERVAL lag of the stored last use, and a job
# that takes a ticket just before the end and runs for a while; it costs one exchange per
# 5.5 h of continuous use, which is still rare.
TICKET_REFRESH_MARGIN: Final = timedelta(minutes=30)
# How long a renewal lease holds before another process may take it over (a crashed holder).
# An exchange takes at most 2 attempts × (5 s connect + 10 s read) + a 1 s pause + one JWKS
# fetch, well under a minute; 90 s leaves room without blocking others for long.
TICKET_LEASE_TTL: Final = timedelta(seconds=90)
# How long a process waits for another's renewal before giving up: more than one lease TTL,
# so a crashed holder's lease expires and is taken over within the wait.
TICKET_LEASE_WAIT: Final = timedelta(seconds=120)
# Waiters poll the store this often for the ticket the lease holder stores.
TICKET_LEASE_POLL_SECONDS: Final = 0.1
# A use is written to the store at most this often per ticket: a write per API call would make
# the store the bottleneck, and a minute of lag is nothing against the 30 min margin.
TICKET_TOUCH_INTERVAL: Final = timedelta(minutes=1)
# The audit actor of status changes the manager makes.
TICKET_MANAGER_ACTOR: Final = "ticket-manager"
# Environments kept built (:func:`environment_of`): a workspace uses a handful (sod, online, an
# emulator or two); the bound only stops a stream of distinct emulator URLs from growing it.
ENVIRONMENTS_KEPT: Final = 64

TicketExchange = Callable[..., SystemUserTicket]
"""Called as ``exchange(application=Application, authorization=Authorization)``; a caller
asking for a transport adds ``transport="rest"|"soap"`` (:func:`system_user_exchange` takes it).
"""
Transport = Literal["rest", "soap"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def environment_of(application: Application) -> Environment:
    """The :class:`~toolkit.config.Environment` an application record is registered in."""
    if application.environment == "emulator" and not application.environment_url:
        raise ConfigurationError(f"application {application.name!r} has no emulator URL")
    return _environment(application.environment, application.environment_url)


@functools.lru_cache(maxsize=ENVIRONMENTS_KEPT)
def _environment(name: str, url: str | None) -> Environment:
    """Built once per name and URL: building one checks its URL (parsed, the host looked at
    as an IP address), which cost more than the rest of a ticket lookup (issue 14). A value
    that is refused raises every time (a raised error is not kept)."""
    if name == "emulator":
        return Environment.emulator(url or "")
    return Environment.named(name)


class PrivateKeys:
    """The applications' private keys, loaded once per application key: loading checks the
    key's numbers (~55 ms of CPU for RSA-2048), so not once per exchange. Keyed by the key's
    fingerprint, so a new key is loaded anew. Shared by the sync and the async exchange.

    One load at a time, and a key another thread loaded meanwhile is not loaded again: a
    fleet's first exchanges all start at once. (Today's loader holds the interpreter lock
    while it checks the key, which happens to keep the others out; this does not rely on it.)"""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str | None], RSAPrivateKey] = {}
        self._loading = threading.Lock()

    def of(self, application: Application) -> RSAPrivateKey:
        """``application``'s private key; ConfigurationError when it has none."""
        if application.private_key is None:
            raise ConfigurationError(
                f"application {application.name!r} has no private key to sign with"
            )
        slot = (application.id, application.key_fingerprint)
        loaded = self._loaded.get(slot)  # written whole under the lock: a read needs none
        if loaded is None:
            with self._loading:
                loaded = self._loaded.get(slot)
                if loaded is None:
                    loaded = load_private_key(application.private_key.reveal())
                    self._loaded[slot] = loaded
        return loaded


def system_user_token_of(authorization: Authorization) -> str:
    """The authorization's system user token; NoSystemUserTokenError when it holds none."""
    if authorization.system_user_token is None:
        raise NoSystemUserTokenError(
            f"the authorization in {authorization.context_identifier!r} holds no system user token"
        )
    return authorization.system_user_token.reveal()


def system_user_exchange(
    *,
    http: httpx.Client,
    keys: SigningKeySource | Callable[[Environment], SigningKeySource],
    transport: Transport = "rest",
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: Callable[[], datetime] = _utc_now,
) -> TicketExchange:
    """The real exchange for :class:`TicketManager`, from stored application records.

    ``keys`` is SuperID's key set (a :class:`~toolkit.auth.jwks.JwksCache`), or a function
    giving the key set of an environment when applications live in several. ``transport`` is
    the default; a call may ask for the other with ``transport=...``.
    """
    default_transport = transport
    private_keys = PrivateKeys()

    def keys_for(environment: Environment) -> SigningKeySource:
        if callable(getattr(keys, "signing_key", None)):
            return cast(SigningKeySource, keys)
        return cast(Callable[[Environment], SigningKeySource], keys)(environment)

    def exchange(
        *,
        application: Application,
        authorization: Authorization,
        transport: Transport | None = None,
    ) -> SystemUserTicket:
        system_user_token = system_user_token_of(authorization)
        private_key = private_keys.of(application)
        environment = environment_of(application)
        return exchange_system_user_token(
            http=http,
            environment=environment,
            keys=keys_for(environment),
            application_token=application.client_secret.reveal(),
            context_identifier=authorization.context_identifier,
            system_user_token=system_user_token,
            private_key=private_key,
            transport=transport or default_transport,
            policy=policy,
            now=now,
        )

    return exchange


@dataclass(frozen=True)
class TicketStatus:
    """What the manager holds for one authorization, without the ticket itself.

    ``held`` is where the ticket is (``"memory"``, ``"store"``) or None; ``valid_until`` the
    toolkit's view of the sliding window (last use, or obtained, + 6 h); ``fresh`` whether
    :meth:`TicketManager.ticket` would use it without an exchange (before the refresh margin).
    ``authorization_status`` is the record's (``active``, ``revoked``, ``needs_reconsent``).
    """

    application_id: str
    context_identifier: str
    authorization_status: str
    held: Literal["memory", "store"] | None
    obtained_at: datetime | None = None
    last_used_at: datetime | None = None
    valid_until: datetime | None = None
    fresh: bool = False
    webapi_url: str | None = None
    netserver_url: str | None = None


@dataclass
class _Entry:
    """A ticket cached in memory, with the uses this process saw."""

    ticket: SystemUserTicket
    authorization_id: str
    last_used_at: datetime | None = None
    persisted_used_at: datetime | None = None


@dataclass
class _Flight:
    """One renewal in progress in this process; followers wait for its outcome."""

    done: threading.Event = field(default_factory=threading.Event)
    result: SystemUserTicket | None = None
    error: BaseException | None = None

    def outcome(
        self, landed: bool, rejected: str | None, context_identifier: str
    ) -> SystemUserTicket | None:
        """What a follower takes from the flight it waited for (``landed``: it ended in time):
        its ticket, its error raised, or None when it found the rejected ticket again (the
        follower then leads a flight of its own). Shared by the sync and the async manager."""
        if not landed:
            raise TicketLeaseTimeoutError(
                f"gave up waiting for this process's renewal of the ticket for "
                f"{context_identifier!r}"
            )
        if self.error is not None:
            raise self.error
        if self.result is not None and self.result.ticket != rejected:
            return self.result
        return None


class TicketManager:
    """System user tickets per application × tenant: memory, then store, then one exchange.

    ``application`` arguments are an application's name or id, as in the repository.
    ``exchange`` is called as ``exchange(application=..., authorization=...)`` with the stored
    records; without it, ``http`` and ``keys`` build the real one
    (:func:`system_user_exchange`). ``now`` is the clock for freshness; the repository's own
    clock times leases. Thread-safe.
    """

    def __init__(
        self,
        repository: Repository,
        *,
        exchange: TicketExchange | None = None,
        http: httpx.Client | None = None,
        keys: SigningKeySource | Callable[[Environment], SigningKeySource] | None = None,
        refresh_margin: timedelta = TICKET_REFRESH_MARGIN,
        window: timedelta = TICKET_WINDOW,
        lease_ttl: timedelta = TICKET_LEASE_TTL,
        lease_wait: timedelta = TICKET_LEASE_WAIT,
        poll_interval: float = TICKET_LEASE_POLL_SECONDS,
        touch_interval: timedelta = TICKET_TOUCH_INTERVAL,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        owner: str | None = None,
    ) -> None:
        if exchange is None:
            if http is None or keys is None:
                raise ConfigurationError("TicketManager needs an exchange, or http and keys")
            exchange = system_user_exchange(http=http, keys=keys, now=now)
        if window <= timedelta(0) or not timedelta(0) <= refresh_margin < window:
            raise ConfigurationError("refresh_margin must be between 0 and the ticket window")
        if lease_ttl <= timedelta(0) or lease_wait <= timedelta(0) or poll_interval <= 0:
            raise ConfigurationError("lease_ttl, lease_wait and poll_interval must be positive")
        self._repository = repository
        self._exchange = exchange
        self._margin = refresh_margin
        self._window = window
        self._lease_ttl = lease_ttl
        self._lease_wait = lease_wait
        self._poll = poll_interval
        self._touch_interval = touch_interval
        self._now = now
        self._sleep = sleep
        self.owner = owner or f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        # Names and ids callers used, resolved once: application ids never change.
        self._application_ids: dict[str, str] = {}
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._flights: dict[tuple[str, str], _Flight] = {}
        self.exchange_count = 0
        """Exchanges this manager started (successful or not)."""

    def __repr__(self) -> str:
        return f"TicketManager(owner={self.owner!r}, cached={len(self._entries)})"

    # -- public API ---------------------------------------------------------------------------

    def ticket(
        self, application: str, context_identifier: str, *, transport: Transport | None = None
    ) -> SystemUserTicket:
        """A fresh ticket for the application in the tenant: memory, store, or one exchange.

        ``transport`` chooses REST or SOAP for an exchange, if one is needed (default: the
        exchange's own). Raises :class:`~toolkit.errors.AuthorizationNotActiveError` (no
        exchange) when the authorization is not active,
        :class:`~toolkit.errors.NoSystemUserTokenError` when it holds no system user token, the
        exchange's errors otherwise.
        """
        key = self._key(application, context_identifier)
        cached = self._fresh_entry(key, rejected=None)
        if cached is not None:
            return cached
        return self._renew(key, rejected=None, transport=transport)

    def renew(
        self,
        application: str,
        context_identifier: str,
        *,
        transport: Transport | None = None,
        actor: str = TICKET_MANAGER_ACTOR,
    ) -> SystemUserTicket:
        """Exchange a new ticket now, even if a fresh one is held (an operator's "Renew").

        One exchange, shared with any renewal already in flight for the tenant (the single
        flight still holds); the held ticket is replaced only when the exchange succeeds. A
        refusal raises as in :meth:`ticket` (``Revoked`` marks the record ``needs_reconsent``).
        The renewal is an audit event (``ticket.renewed``) naming ``actor``; never the ticket.
        """
        held = self.peek(application, context_identifier)
        rejected = held.ticket if held is not None else None
        key = self._key(application, context_identifier)
        renewed = self._renew(key, rejected=rejected, transport=transport)
        try:
            self._repository.record_audit(
                actor,
                "ticket.renewed",
                application=self._repository.get_application(key[0]).name,
                context_identifier=context_identifier,
                summary={
                    "valid_until": None
                    if renewed.expires_at is None
                    else renewed.expires_at.isoformat(),
                    "transport": transport or "rest",
                },
            )
        except StoreError:  # the ticket is renewed and stored; a lost audit row must not undo it
            logger.exception("could not record the audit event of a ticket renewal")
        return renewed

    def ticket_status(self, application: str, context_identifier: str) -> TicketStatus:
        """What is held for the application in the tenant; never exchanges, never decrypts.

        Raises :class:`~toolkit.errors.UnknownApplicationError` for an unknown application,
        :class:`~toolkit.errors.NotInstalledError` when the tenant has no record (any status
        is shown), :class:`~toolkit.errors.InvalidContextIdentifierError` for a malformed tenant.
        """
        _, authorization = resolve_installation(
            self._repository, application, context_identifier, active=False
        )
        return self._status_of(authorization)

    def ticket_statuses(
        self,
        application: str | None = None,
        *,
        status: str | None = None,
        authorizations: Sequence[AuthorizationKey | Authorization] | None = None,
    ) -> list[TicketStatus]:
        """:meth:`ticket_status` of every authorization record (or one application's, or those
        with ``status``), or of ``authorizations`` (say, one page of a table): set-based, the
        records in one query and their stored tickets in one more, never one per record."""
        if authorizations is None:
            records: Sequence[AuthorizationKey | Authorization] = (
                self._repository.authorization_keys(application, status=status)
            )
            stored = self._repository.tickets_of(application=application, status=status)
        else:
            records = authorizations
            stored = self._repository.tickets_of([record.id for record in records])
        with self._lock:
            in_memory = {entry.authorization_id: entry for entry in self._entries.values()}
            views = {key: self._view(entry) for key, entry in in_memory.items()}
        return [
            self._status_from(record, views.get(record.id), stored.get(record.id))
            for record in records
        ]

    def peek(self, application: str, context_identifier: str) -> SystemUserTicket | None:
        """The ticket held in memory or in the store, fresh or not; never exchanges."""
        key = self._key(application, context_identifier)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return self._view(entry)
        stored = self._repository.ticket_renewal_view(*key).ticket  # one statement
        if stored is None:
            return None
        try:
            return self._from_store(stored, context_identifier)
        except (DecryptionError, SecretKeyError):
            return None

    def mark_used(
        self,
        application: str,
        context_identifier: str,
        ticket: SystemUserTicket | str | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """Record a use of the cached ticket: its 6 h window slides from ``at`` (default now).

        With ``ticket``, only a use of that very ticket counts. The store learns of uses at
        most every ``touch_interval`` per ticket.
        """
        moment = at or self._now()
        text = ticket.ticket if isinstance(ticket, SystemUserTicket) else ticket
        key = self._key(application, context_identifier)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (text is not None and entry.ticket.ticket != text):
                return
            if entry.last_used_at is None or entry.last_used_at < moment:
                entry.last_used_at = moment
            persisted = entry.persisted_used_at
            if persisted is not None and moment - persisted < self._touch_interval:
                return
            entry.persisted_used_at = moment
            authorization_id, value = entry.authorization_id, entry.ticket.ticket
        self._repository.touch_ticket(
            authorization_id, ticket=value, used_at=moment, expires_at=moment + self._window
        )

    def invalidate(
        self,
        application: str,
        context_identifier: str,
        ticket: SystemUserTicket | str | None = None,
    ) -> None:
        """Forget the ticket in memory and in the store; with ``ticket``, only that one."""
        text = ticket.ticket if isinstance(ticket, SystemUserTicket) else ticket
        key = self._key(application, context_identifier)
        with self._lock:
            entry = self._entries.get(key)
            authorization_id = entry.authorization_id if entry is not None else None
            if entry is not None and (text is None or entry.ticket.ticket == text):
                del self._entries[key]
        if authorization_id is None:
            app = self._repository.get_application(application)
            authorization_id = self._repository.get_authorization(app.id, context_identifier).id
        self._repository.delete_ticket(authorization_id, ticket=text)

    def call_with_ticket(
        self,
        application: str,
        context_identifier: str,
        fn: Callable[[SystemUserTicket], httpx.Response],
    ) -> httpx.Response:
        """Call ``fn`` with a ticket; after a 401, renew once and call again.

        A response other than 401 counts as a use of the ticket (the window slides). A second
        401 raises :class:`~toolkit.errors.TicketRejectedError`.
        """
        current = self.ticket(application, context_identifier)
        response = fn(current)
        if response.status_code != 401:
            self.mark_used(application, context_identifier, current)
            return response
        response.close()
        logger.info("ticket for %s answered 401; renewing once", context_identifier)
        self.invalidate(application, context_identifier, current)
        renewed = self._renew(self._key(application, context_identifier), rejected=current.ticket)
        response = fn(renewed)
        if response.status_code == 401:
            response.close()
            self.invalidate(application, context_identifier, renewed)
            raise TicketRejectedError(
                f"the tenant {context_identifier!r} answered 401 to a renewed system user "
                "ticket too",
                status_code=401,
            )
        self.mark_used(application, context_identifier, renewed)
        return response

    def clear_memory(self) -> None:
        """Drop every ticket cached in memory (the store keeps them)."""
        with self._lock:
            self._entries.clear()

    # -- internals ----------------------------------------------------------------------------

    def _key(self, application: str, context_identifier: str) -> tuple[str, str]:
        """The cache key: the application's id, so its name and id share one entry, and the
        tenant in canonical spelling, so ``cust12345`` and ``Cust12345`` share one too (a
        malformed tenant raises :class:`~toolkit.errors.InvalidContextIdentifierError`)."""
        context_identifier = check_context_identifier(context_identifier)
        with self._lock:
            application_id = self._application_ids.get(application)
        if application_id is None:
            application_id = self._repository.get_application(application).id
            with self._lock:
                self._application_ids[application] = application_id
        return application_id, context_identifier

    def _status_of(self, authorization: Authorization) -> TicketStatus:
        with self._lock:
            entry = next(
                (e for e in self._entries.values() if e.authorization_id == authorization.id),
                None,
            )
            view = self._view(entry) if entry is not None else None
        if view is not None:
            return self._status_from(authorization, view, None)
        # The store's ticket, sealed: not decrypted here.
        return self._status_from(authorization, None, self._repository.get_ticket(authorization.id))

    def _status_from(
        self,
        authorization: AuthorizationKey | Authorization,
        view: SystemUserTicket | None,
        stored: StoredTicket | None,
    ) -> TicketStatus:
        """The status from the ticket in memory (``view``), else the stored one, else none.
        Built in one go (no ``replace``): a page of the Overview makes 10,000 of them."""
        held: Literal["memory", "store"]
        if view is not None:
            held, valid_until = "memory", view.valid_until
            obtained_at, last_used_at = view.obtained_at, view.last_used_at
            webapi_url, netserver_url = view.webapi_url, view.netserver_url
        elif stored is not None:
            held, valid_until = "store", self._expires_at(stored.obtained_at, stored.last_used_at)
            obtained_at, last_used_at = stored.obtained_at, stored.last_used_at
            webapi_url, netserver_url = stored.webapi_url, stored.netserver_url
        else:
            return TicketStatus(
                application_id=authorization.application_id,
                context_identifier=authorization.context_identifier,
                authorization_status=authorization.status,
                held=None,
            )
        return TicketStatus(
            application_id=authorization.application_id,
            context_identifier=authorization.context_identifier,
            authorization_status=authorization.status,
            held=held,
            obtained_at=obtained_at,
            last_used_at=last_used_at,
            valid_until=valid_until,
            fresh=self._is_fresh(valid_until),
            webapi_url=webapi_url,
            netserver_url=netserver_url,
        )

    def _expires_at(self, obtained_at: datetime, last_used_at: datetime | None) -> datetime:
        return (last_used_at or obtained_at) + self._window

    def _is_fresh(self, expires_at: datetime) -> bool:
        return self._now() < expires_at - self._margin

    def _view(self, entry: _Entry) -> SystemUserTicket:
        return replace(
            entry.ticket,
            last_used_at=entry.last_used_at,
            expires_at=self._expires_at(entry.ticket.obtained_at, entry.last_used_at),
        )

    def _fresh_entry(self, key: tuple[str, str], rejected: str | None) -> SystemUserTicket | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.ticket.ticket == rejected:
                return None
            view = self._view(entry)
        return view if self._is_fresh(view.valid_until) else None

    def _from_store(self, stored: StoredTicket, context_identifier: str) -> SystemUserTicket:
        return SystemUserTicket(
            ticket=stored.ticket.reveal(),
            context_identifier=context_identifier,
            serial=stored.serial or "",
            webapi_url=stored.webapi_url,
            netserver_url=stored.netserver_url,
            obtained_at=stored.obtained_at,
            last_used_at=stored.last_used_at,
            expires_at=self._expires_at(stored.obtained_at, stored.last_used_at),
        )

    def _cache(
        self, key: tuple[str, str], ticket: SystemUserTicket, authorization_id: str
    ) -> SystemUserTicket:
        entry = _Entry(
            ticket=ticket,
            authorization_id=authorization_id,
            last_used_at=ticket.last_used_at,
            # The store's window slides from the obtained time until a use is written: a use
            # within the touch interval of it need not be (one write fewer per exchange).
            persisted_used_at=ticket.last_used_at or ticket.obtained_at,
        )
        with self._lock:
            self._entries[key] = entry
            return self._view(entry)

    def _renew(
        self, key: tuple[str, str], rejected: str | None, transport: Transport | None = None
    ) -> SystemUserTicket:
        """One renewal per key in this process: the first caller leads, the others wait."""
        for _round in (1, 2):
            flight, leader = self._join_flight(key)
            if leader:
                try:
                    result = self._renew_leader(key, rejected, transport)
                    flight.result = result
                    return result
                except BaseException as exc:
                    flight.error = exc
                    raise
                finally:
                    self._land_flight(key, flight)
            landed = flight.done.wait(timeout=self._flight_wait_seconds())
            ticket = flight.outcome(landed, rejected, key[1])
            if ticket is not None:
                return ticket
            # That flight started before our ticket was rejected and found it again: lead one.
        raise TicketRejectedError(f"no ticket other than the rejected one for {key[1]!r}")

    def _join_flight(self, key: tuple[str, str]) -> tuple[_Flight, bool]:
        """The renewal in flight for ``key`` in this process, and whether the caller leads it
        (threads and the async API, :mod:`toolkit.auth.async_tickets`, share these flights)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = _Flight()
            return flight, True

    def _land_flight(self, key: tuple[str, str], flight: _Flight) -> None:
        """The leader is done (``result`` or ``error`` set): release the followers."""
        with self._lock:
            self._flights.pop(key, None)
        flight.done.set()

    def _flight_wait_seconds(self) -> float:
        """How long a follower waits for this process's leader: its lease wait and TTL, and
        a minute for the exchange itself."""
        return (self._lease_wait + self._lease_ttl).total_seconds() + 60

    @staticmethod
    def _check_usable(authorization: Authorization) -> Authorization:
        """``authorization`` if an exchange may run for it; else why not, raised."""
        context_identifier = authorization.context_identifier
        if authorization.status != "active":
            raise AuthorizationNotActiveError(
                f"the authorization in {context_identifier!r} is {authorization.status}; "
                "no system user ticket is exchanged for it",
                status=authorization.status,
            )
        if not authorization.has_system_user_token:
            raise NoSystemUserTokenError(
                f"the authorization in {context_identifier!r} holds no system user token "
                "(was the app granted the SystemToken claim?)"
            )
        return authorization

    def _fresh_stored(
        self, stored: StoredTicket | None, context_identifier: str, rejected: str | None
    ) -> SystemUserTicket | None:
        """The stored ticket if it can be used (opens, is not ``rejected``, is fresh)."""
        if stored is None:
            return None
        try:
            ticket = self._from_store(stored, context_identifier)
        except (DecryptionError, SecretKeyError):
            logger.warning("stored ticket for %s cannot be opened; ignored", context_identifier)
            return None
        if ticket.ticket == rejected or not self._is_fresh(ticket.valid_until):
            return None
        return ticket

    def _store_or_lease(
        self, key: tuple[str, str], rejected: str | None
    ) -> SystemUserTicket | tuple[Application, Authorization] | None:
        """A fresh stored ticket (cached), or the lease taken (the records to exchange with),
        or None while another process holds the lease. One store transaction of two
        statements: the lease, then the records read under it; when they hold a fresh ticket
        (another process's exchange) or cannot be used, the lease is rolled back with it
        (shared with the async manager, which runs it in a worker thread)."""
        application, context_identifier = key
        judged: list[SystemUserTicket | None] = []

        def keep(view: RenewalView) -> bool:  # inside the lease's transaction
            self._check_usable(view.authorization)
            judged.append(self._fresh_stored(view.ticket, context_identifier, rejected))
            return judged[0] is None

        view, taken = self._repository.take_ticket_renewal(
            application, context_identifier, self.owner, ttl=self._lease_ttl, keep=keep
        )
        authorization = self._check_usable(view.authorization)
        if taken:
            return view.application, authorization
        stored = (
            judged[0] if judged else self._fresh_stored(view.ticket, context_identifier, rejected)
        )
        if stored is not None:
            return self._cache(key, stored, authorization.id)
        return None

    def _renew_leader(
        self, key: tuple[str, str], rejected: str | None, transport: Transport | None = None
    ) -> SystemUserTicket:
        context_identifier = key[1]
        cached = self._fresh_entry(key, rejected)  # a flight that just ended may have cached
        if cached is not None:
            return cached
        deadline = time.monotonic() + self._lease_wait.total_seconds()
        while True:
            step = self._store_or_lease(key, rejected)
            if isinstance(step, SystemUserTicket):
                return step
            if step is not None:
                return self._exchange_and_store(key, *step, transport)
            if time.monotonic() >= deadline:
                raise TicketLeaseTimeoutError(
                    f"another process kept renewing the ticket for {context_identifier!r} "
                    f"for more than {self._lease_wait.total_seconds():.0f} s"
                )
            self._sleep(self._poll)

    def _exchange_and_store(
        self,
        key: tuple[str, str],
        app: Application,
        authorization: Authorization,
        transport: Transport | None = None,
    ) -> SystemUserTicket:
        """The lease is held: one exchange, then store the ticket, which releases the lease
        in the same write; on any failure the lease is released here."""
        self._count_exchange()
        # Only a caller that chose a transport passes one: injected exchanges need not take it.
        options = {} if transport is None else {"transport": transport}
        try:
            ticket = self._exchange(application=app, authorization=authorization, **options)
            return self._store_exchanged(key, authorization, ticket)
        except BaseException as exc:
            self._refused(key, app, authorization, exc)
            raise

    def _refused(
        self, key: tuple[str, str], app: Application, authorization: Authorization, error: object
    ) -> None:
        """After a failed exchange (or store): mark a refusal, release the lease."""
        try:
            if isinstance(error, AuthorizationRevokedError | NeedsReapprovalError):
                self._mark_needs_reconsent(key, app, authorization, error.error_code)
        finally:
            self._repository.release_ticket_lease(authorization.id, self.owner)

    def _count_exchange(self) -> None:
        with self._lock:
            self.exchange_count += 1

    def _store_exchanged(
        self, key: tuple[str, str], authorization: Authorization, ticket: SystemUserTicket
    ) -> SystemUserTicket:
        """Check, store (sealed) and cache a ticket an exchange just gave (sync or async)."""
        if ticket.context_identifier.casefold() != authorization.context_identifier.casefold():
            raise ContextMismatchError(
                "the exchange returned a ticket for another tenant", claim="ctx"
            )
        obtained_at = ticket.obtained_at
        ticket = replace(
            ticket,
            last_used_at=None,
            expires_at=self._expires_at(obtained_at, None),
        )
        self._repository.put_ticket(
            authorization.id,
            ticket=ticket.ticket,
            obtained_at=obtained_at,
            expires_at=ticket.valid_until,
            serial=ticket.serial,
            webapi_url=ticket.webapi_url,
            netserver_url=ticket.netserver_url,
            lease_owner=self.owner,
        )
        logger.info(
            "system user ticket renewed for %s (valid until %s without use)",
            authorization.context_identifier,
            ticket.valid_until.isoformat(),
        )
        return self._cache(key, ticket, authorization.id)

    def _mark_needs_reconsent(
        self,
        key: tuple[str, str],
        app: Application,
        authorization: Authorization,
        error_code: str | None,
    ) -> None:
        with self._lock:
            self._entries.pop(key, None)
        try:
            self._repository.set_authorization_status(
                app.id,
                authorization.context_identifier,
                "needs_reconsent",
                actor=TICKET_MANAGER_ACTOR,
                reason=f"system user exchange answered {error_code or 'a refusal'}",
            )
        except StoreError:
            logger.exception(
                "could not mark the authorization in %s as needs_reconsent",
                authorization.context_identifier,
            )
        logger.warning(
            "authorization of %s in %s marked needs_reconsent (%s)",
            app.name,
            authorization.context_identifier,
            error_code,
        )
