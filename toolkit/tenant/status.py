"""Tenant status: the state API, its cache, and the "is it running?" gate (protocol §6).

``GET {login host}/api/state/{ctx}`` answers where a tenant lives (``Endpoint``, ``Api``) and
whether it is running (``State``, ``IsRunning``) until ``ValidUntil`` ("when to check next
time"). :class:`TenantStatusClient` asks before work and caches each answer until its
``ValidUntil``, bounded by :data:`STATUS_MIN_TTL` and :data:`STATUS_MAX_TTL`; a tenant that is
not running (OfflineMaintenance, Suspended, MigrationPending, ...) raises
:class:`~toolkit.errors.TenantNotRunningError` from the cached answer, so it gets no calls (not
even state calls) until ``ValidUntil``. A 421 from a tenant host makes the caller
:meth:`~TenantStatusClient.invalidate` the entry and ask again.

The cache is one process's; other workers of the fleet ask the state API too (a "check now", a
confirmed state-change notification) and record their answers (the store's last known state).
A caller that has such a record (:class:`RecordedStatus`) passes it: the client then trusts
whichever was observed later, its cached answer or the record (still valid: taken as the
cached answer; past its ``ValidUntil``: asked afresh), so a worker never acts on an answer
older than one the fleet already has.

Open question 15: whether the state API ever answers non-200 for an unknown tenant is not
documented; both ``State: "Unknown"`` and a 404 raise :class:`~toolkit.errors.UnknownTenantError`
[I]. No authentication is sent: no source shows any (§6).

Parsing is a pure function (:func:`parse_tenant_status`), so an async twin stays thin.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from toolkit.config import Environment
from toolkit.errors import (
    TenantNotRunningError,
    UnexpectedResponseError,
    UnknownTenantError,
)
from toolkit.http import RetryPolicy, send_request, url_for_error
from toolkit.vocabulary import RUNNING_STATES, TenantState

__all__ = [
    "DEFAULT_STATUS_RETRY",
    "RUNNING_STATES",
    "STATUS_MAX_TTL",
    "STATUS_MIN_TTL",
    "RecordedStatus",
    "TenantState",
    "TenantStatus",
    "TenantStatusClient",
    "parse_tenant_status",
    "parse_valid_until",
    "recorded_status",
]

logger = logging.getLogger("toolkit.tenant.status")

# An answer is reused at least this long, even when its ValidUntil is already past or very
# near: a clock skew or a zero TTL must not turn every API call into a state call as well.
STATUS_MIN_TTL: Final = timedelta(seconds=5)
# ... and at most this long, even when ValidUntil is far away: a tenant moves routinely (§1) and
# a wrong ValidUntil must not pin a stale host for hours (a 421 re-resolves anyway).
STATUS_MAX_TTL: Final = timedelta(minutes=15)
# The state API is a GET: retried per the default policy (connect errors, 429, 502-504).
DEFAULT_STATUS_RETRY: Final = RetryPolicy()


_VALID_UNTIL_RE = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<zone>Z|z|[+-]\d{2}:?\d{2})?"
)


def parse_valid_until(value: Any) -> datetime | None:
    """``ValidUntil`` as an aware UTC datetime: ISO-8601 with up to 7 (.NET) fractional digits.

    ``2026-02-23T09:52:01.9342965Z`` → ``09:52:01.934296+00:00`` (truncated to microseconds).
    No zone means UTC (the documented values all end in Z). None for absent or unreadable.
    """
    if not isinstance(value, str):
        return None
    match = _VALID_UNTIL_RE.fullmatch(value.strip())
    if match is None:
        return None
    fraction = (match.group("fraction") or "").ljust(6, "0")[:6]
    zone = match.group("zone")
    try:
        moment = datetime.strptime(match.group("base").replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
        moment = moment.replace(microsecond=int(fraction))
        if zone and zone.upper() != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            return (moment - sign * offset).replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TenantStatus:
    """One state API answer (§6).

    ``endpoint`` is the tenant root (``https://online2.superoffice.com/Cust12345``), ``api``
    the web API root (``.../Cust12345/api``), both None for an unknown tenant. ``is_running``
    is the wire ``IsRunning``; :attr:`is_available` also requires a running ``state``.
    """

    context_identifier: str
    endpoint: str | None
    state: TenantState
    is_running: bool
    valid_until: datetime | None
    api: str | None
    version: str | None = None
    state_name: str | None = None
    """The wire ``State`` as sent (differs from ``state.name`` for a state unknown to us)."""

    @property
    def is_available(self) -> bool:
        """The API may be called: ``IsRunning`` and a running state (Running, OnlineMaintenance)."""
        return self.is_running and self.state in RUNNING_STATES

    @property
    def api_url(self) -> str | None:
        """``Api``, or ``{Endpoint}/api`` when the answer has no ``Api`` (older responses)."""
        if self.api:
            return self.api.rstrip("/")
        if self.endpoint:
            return f"{self.endpoint.rstrip('/')}/api"
        return None

    @property
    def netserver_url(self) -> str | None:
        """``{Endpoint}/Remote/Services88/``: the SOAP root on the tenant's current host (§5)."""
        if not self.endpoint:
            return None
        return f"{self.endpoint.rstrip('/')}/Remote/Services88/"


@dataclass(frozen=True)
class RecordedStatus:
    """A state API answer a worker recorded for the fleet (the store's last known state of a
    tenant), and when it was observed (when the answer came, on that worker's clock)."""

    status: TenantStatus
    observed_at: datetime


def recorded_status(
    context_identifier: str,
    *,
    state: str | None,
    endpoint: str | None,
    api: str | None,
    version: str | None,
    valid_until: datetime | None,
    observed_at: datetime,
) -> RecordedStatus:
    """A recorded answer as a :class:`RecordedStatus`. The record keeps the wire ``State``, not
    ``IsRunning``: that is true exactly for the running states (§6)."""
    tenant_state = TenantState.from_wire(state)
    return RecordedStatus(
        TenantStatus(
            context_identifier=context_identifier,
            endpoint=endpoint,
            state=tenant_state,
            is_running=tenant_state in RUNNING_STATES,
            valid_until=valid_until,
            api=api,
            version=version,
            state_name=state,
        ),
        observed_at,
    )


def _optional_text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UnexpectedResponseError(f"state API: {name} is not a string")
    return value.strip() or None


def parse_tenant_status(document: Any, context_identifier: str) -> TenantStatus:
    """A :class:`TenantStatus` from a state API JSON body (pure).

    Raises :class:`~toolkit.errors.UnexpectedResponseError` for a body that is not an object or
    whose ``ContextIdentifier`` names another tenant.
    """
    if not isinstance(document, Mapping):
        raise UnexpectedResponseError("state API: the answer is not a JSON object")
    ctx = _optional_text(document, "ContextIdentifier") or context_identifier
    if ctx.casefold() != context_identifier.casefold():
        raise UnexpectedResponseError(
            f"state API: asked for {context_identifier!r}, the answer is about {ctx!r}"
        )
    raw_state = document.get("State")
    state = TenantState.from_wire(raw_state)
    if raw_state is not None and state is TenantState.Unknown and raw_state != "Unknown":
        logger.warning("state API: unrecognised State %r for %s", raw_state, ctx)
    is_running = document.get("IsRunning")
    return TenantStatus(
        context_identifier=ctx,
        endpoint=_optional_text(document, "Endpoint"),
        state=state,
        is_running=is_running is True,
        valid_until=parse_valid_until(document.get("ValidUntil")),
        api=_optional_text(document, "Api"),
        version=_optional_text(document, "Version"),
        state_name=None if raw_state is None else str(raw_state),
    )


def require_running_status(status: TenantStatus, context_identifier: str) -> TenantStatus:
    """``status`` when the tenant is running with an ``Api``, else the typed error (pure: both
    the sync and the async state client use it)."""
    if status.state is TenantState.Unknown:
        raise UnknownTenantError(
            f"the state API does not know tenant {context_identifier!r} (State Unknown)",
            state=status.state,
            valid_until=status.valid_until,
            context_identifier=context_identifier,
        )
    if not status.is_available:
        when = "" if status.valid_until is None else f" until {status.valid_until.isoformat()}"
        raise TenantNotRunningError(
            f"tenant {context_identifier!r} is {status.state_name or status.state.name}"
            f" (not running); no calls{when}",
            state=status.state,
            valid_until=status.valid_until,
            context_identifier=context_identifier,
        )
    if status.api_url is None:
        raise UnexpectedResponseError(
            f"state API: running tenant {context_identifier!r} has neither Api nor Endpoint"
        )
    return status


def parse_state_response(
    status_code: int, content: bytes, *, url: str, context_identifier: str
) -> TenantStatus:
    """The state API's answer as a :class:`TenantStatus` (pure: both transports parse here)."""
    if status_code == 404:
        # Open question 15: a 404 is read as "unknown tenant" [I]; cached like an answer.
        logger.info("state API answered 404 for %s", context_identifier)
        return TenantStatus(
            context_identifier=context_identifier,
            endpoint=None,
            state=TenantState.Unknown,
            is_running=False,
            valid_until=None,
            api=None,
            state_name="Unknown",
        )
    if status_code != 200:
        raise UnexpectedResponseError(
            f"state API: HTTP {status_code} from {url_for_error(url)}",
            url=url_for_error(url),
            status_code=status_code,
        )
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise UnexpectedResponseError(
            f"state API: the answer from {url_for_error(url)} is not JSON",
            url=url_for_error(url),
            status_code=status_code,
        ) from exc
    return parse_tenant_status(document, context_identifier)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Cached:
    status: TenantStatus
    until: datetime
    observed_at: datetime
    """When the answer came (this client's clock), or when a recorded one was observed."""


class TenantStatusClient:
    """The state API of one environment, cached per context identifier until ``ValidUntil``.

    ``now`` is the clock for the cache (aware UTC). ``retry`` is the policy for the state API
    GET (None: one attempt). Thread-safe: concurrent askers for one tenant share one call.
    """

    def __init__(
        self,
        http: httpx.Client,
        environment: Environment,
        *,
        now: Callable[[], datetime] = _utc_now,
        min_ttl: timedelta = STATUS_MIN_TTL,
        max_ttl: timedelta = STATUS_MAX_TTL,
        retry: RetryPolicy | None = DEFAULT_STATUS_RETRY,
    ) -> None:
        if min_ttl < timedelta(0) or max_ttl < min_ttl:
            raise ValueError("need 0 <= min_ttl <= max_ttl")
        self.http = http
        self.environment = environment
        self._now = now
        self._min_ttl = min_ttl
        self._max_ttl = max_ttl
        self._retry = retry
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self.fetch_count = 0
        """State API calls this client made."""

    def __repr__(self) -> str:
        return (
            f"TenantStatusClient({self.environment.name!r}, cached={len(self._cache)}, "
            f"fetch_count={self.fetch_count})"
        )

    def status(
        self,
        context_identifier: str,
        *,
        refresh: bool = False,
        recorded: RecordedStatus | None = None,
    ) -> TenantStatus:
        """The tenant's status: the cached answer while it is valid, else one state API call.

        ``refresh=True`` asks the state API even when the cached answer is still valid (an
        operator's "check now"); :meth:`require_running` never does.

        ``recorded`` is the newest answer the fleet recorded for the tenant (another worker may
        have asked since this one cached its answer). When it was observed after the cached
        answer, it replaces that answer while its ``ValidUntil`` is ahead, and the state API is
        asked afresh once it is past; an older one changes nothing. With nothing cached, the
        state API is asked as before (a dropped answer, after a 421 or an unconfirmed
        notification, is asked for again, not taken back from the record).
        """
        key = context_identifier.casefold()
        if not refresh:
            found = self._newest(key, recorded)
            if found is not None:
                return found
        with self._key_lock(key):
            if not refresh:
                found = self._newest(key, recorded)  # another thread may just have asked
                if found is not None:
                    return found
            return self.remember(self._fetch(context_identifier))

    def consider(self, recorded: RecordedStatus) -> None:
        """Take ``recorded`` (the store's last known state of a tenant) instead of the cached
        answer when it was observed later and is still valid, as :meth:`status` does; never
        calls. A later record whose ValidUntil is past drops the cached answer, so the state API
        is asked afresh when needed, as it is with nothing cached."""
        key = recorded.status.context_identifier.casefold()
        if self._newest(key, recorded) is None and self._entry(key) is not None:
            with self._lock:
                self._cache.pop(key, None)

    def remember(self, status: TenantStatus) -> TenantStatus:
        """Cache an answer the state API gave just now (the async client shares this cache)."""
        until = self._cache_until(status)
        observed = self._now()
        with self._lock:
            self._cache[status.context_identifier.casefold()] = _Cached(status, until, observed)
        return status

    def cached(self, context_identifier: str) -> TenantStatus | None:
        """The cached answer if it is still valid; never calls."""
        return self._valid(context_identifier.casefold())

    def require_running(self, context_identifier: str) -> TenantStatus:
        """The status of a running tenant, or a typed error without any call to the tenant.

        Raises :class:`~toolkit.errors.UnknownTenantError` for ``Unknown`` (or a 404),
        :class:`~toolkit.errors.TenantNotRunningError` (with ``state`` and ``valid_until``) for
        any other state that is not running, and
        :class:`~toolkit.errors.UnexpectedResponseError` for a running tenant without ``Api``.
        """
        return require_running_status(self.status(context_identifier), context_identifier)

    def invalidate(self, context_identifier: str) -> None:
        """Forget the cached answer (after a 421: the tenant moved)."""
        with self._lock:
            self._cache.pop(context_identifier.casefold(), None)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- internals -------------------------------------------------------------------------

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _valid(self, key: str) -> TenantStatus | None:
        entry = self._entry(key)
        return None if entry is None else entry.status

    def _entry(self, key: str) -> _Cached | None:
        with self._lock:
            entry = self._cache.get(key)
        if entry is None or self._now() >= entry.until:
            return None
        return entry

    def _newest(self, key: str, recorded: RecordedStatus | None) -> TenantStatus | None:
        """The cached answer, or ``recorded`` when it was observed later and is still valid
        (it is cached from now on); None when the state API must be asked (nothing cached, or
        a later record whose ValidUntil is past)."""
        entry = self._entry(key)
        if entry is None:
            return None
        # Clocks of different workers [I]: a record stamped on a clock behind this one by more
        # than the time since this answer came is taken as older; ValidUntil still bounds it.
        if recorded is None or recorded.observed_at <= entry.observed_at:
            return entry.status
        later = recorded.status
        if later.valid_until is None or later.valid_until <= self._now():
            return None  # a later check, no longer valid: ask afresh
        until = self._cache_until(later)
        with self._lock:
            current = self._cache.get(key)
            if (
                current is not entry
                and current is not None
                and current.until > self._now()
                and current.observed_at >= recorded.observed_at
            ):
                return current.status  # a newer answer came meanwhile
            self._cache[key] = _Cached(later, until, recorded.observed_at)
        return later

    def _cache_until(self, status: TenantStatus) -> datetime:
        now = self._now()
        target = status.valid_until or now
        return min(max(target, now + self._min_ttl), now + self._max_ttl)

    def _fetch(self, context_identifier: str) -> TenantStatus:
        url = self.environment.state_url(context_identifier)
        with self._lock:
            self.fetch_count += 1
        response = send_request(
            self.http,
            "GET",
            url,
            what="state API",
            retry=self._retry,
            headers={"Accept": "application/json"},
        )
        status = parse_state_response(
            response.status_code, response.content, url=url, context_identifier=context_identifier
        )
        logger.debug(
            "state of %s: %s (valid until %s)",
            context_identifier,
            status.state.name,
            status.valid_until,
        )
        return status
