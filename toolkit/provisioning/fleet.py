"""Fleet work: one unit of work over many tenants, bounded, rate limited and observable.

:func:`plan_fleet`, :func:`apply_fleet`, :func:`uninstall_fleet`, :func:`check_states` and
:func:`renew_tickets` run on the durable job engine (:mod:`toolkit.jobs`): one workflow per
tenant, on a queue partitioned by tenant host (a rate limit and a concurrency per host) with a
global and a per-worker concurrency; a worker that dies mid-fleet leaves its tenants to be
resumed, not lost. Each call enqueues a job, follows it and returns its :class:`FleetSummary`
(the counts by outcome, every tenant's result, the wall time); progress goes to ``on_event`` as
:class:`FleetEvent` values; nothing prints. With no engine running in the process, one is
started for the call. A tenant that is not running (OfflineMaintenance, Suspended, ...) is
**skipped** with its state, without a call to it.

:func:`run_fleet` runs a caller-supplied function (not durable: it cannot be named to another
process) for every tenant in this process: ad-hoc reads, benchmarks. :func:`fleet_targets`
lists the active authorizations to run over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urlsplit

from toolkit.errors import TenantNotRunningError
from toolkit.provisioning.manifest import Manifest
from toolkit.provisioning.plan import Plan
from toolkit.provisioning.service import Provisioning
from toolkit.store import Application, ProvisioningRun, Repository
from toolkit.tenant import TenantStatus

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FleetCounts",
    "FleetEvent",
    "FleetSummary",
    "TenantResult",
    "TokenBucket",
    "apply_fleet",
    "check_states",
    "fleet_targets",
    "plan_fleet",
    "renew_tickets",
    "run_fleet",
    "uninstall_fleet",
]

T = TypeVar("T")

# Workers by default: enough to overlap network waits, few enough for SQLite's single writer.
DEFAULT_CONCURRENCY: Final = 8
OUTCOMES: Final = ("succeeded", "skipped", "failed")

StatusLookup = Callable[[Application, str], TenantStatus]


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` held. Thread-safe.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)
            waited += wait


@dataclass(frozen=True)
class FleetCounts:
    total: int
    started: int = 0
    succeeded: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.skipped + self.failed


@dataclass(frozen=True)
class FleetEvent:
    """``kind``: ``started``, ``finished``, ``skipped`` or ``failed`` (one tenant), or
    ``done`` (the whole fleet); ``counts`` so far; ``message`` (the state, the error)."""

    kind: str
    application: str | None
    context_identifier: str | None
    counts: FleetCounts
    message: str = ""


@dataclass(frozen=True)
class TenantResult(Generic[T]):
    """One tenant's result: ``outcome`` succeeded / skipped / failed; ``value`` the unit's
    return value; ``error`` / ``error_type`` why it failed or was skipped; ``state`` the
    tenant's state name when known; ``host`` its API host; ``seconds`` its duration."""

    application: str
    context_identifier: str
    outcome: str
    value: T | None = None
    error: str | None = None
    error_type: str | None = None
    state: str | None = None
    host: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class FleetSummary(Generic[T]):
    results: tuple[TenantResult[T], ...]
    counts: Mapping[str, int] = field(hash=False)
    wall_time: float

    def by_outcome(self, outcome: str) -> tuple[TenantResult[T], ...]:
        return tuple(r for r in self.results if r.outcome == outcome)

    @property
    def succeeded(self) -> tuple[TenantResult[T], ...]:
        return self.by_outcome("succeeded")

    @property
    def skipped(self) -> tuple[TenantResult[T], ...]:
        return self.by_outcome("skipped")

    @property
    def failed(self) -> tuple[TenantResult[T], ...]:
        return self.by_outcome("failed")

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per tenant (for a table: pandas, the CLI)."""
        return [
            {
                "application": r.application,
                "context_identifier": r.context_identifier,
                "outcome": r.outcome,
                "state": r.state,
                "host": r.host,
                "error_type": r.error_type,
                "error": r.error,
                "seconds": round(r.seconds, 3),
            }
            for r in self.results
        ]


def host_of(status: TenantStatus) -> str | None:
    """The tenant's API host (its partition on the engine's queues)."""
    url = status.api_url or status.endpoint
    return urlsplit(url).netloc.lower() if url else None


class _Progress:
    def __init__(self, total: int, on_event: Callable[[FleetEvent], None] | None) -> None:
        self._lock = threading.Lock()
        self._counts = {"started": 0, "succeeded": 0, "skipped": 0, "failed": 0}
        self.total = total
        self._on_event = on_event

    def counts(self) -> FleetCounts:
        return FleetCounts(total=self.total, **self._counts)

    def event(self, kind: str, app: str | None, ctx: str | None, message: str = "") -> None:
        with self._lock:
            if kind in self._counts:
                self._counts[kind] += 1
            elif kind == "finished":
                self._counts["succeeded"] += 1
            counts = self.counts()
            if self._on_event is not None:
                # Under the lock, so a front end sees events in count order.
                self._on_event(FleetEvent(kind, app, ctx, counts, message))


def run_fleet(
    tenants: Iterable[tuple[Application, str]],
    unit: Callable[[Application, str], T],
    *,
    status: StatusLookup | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host_rate: float | None = None,
    per_host_burst: float | None = None,
    on_event: Callable[[FleetEvent], None] | None = None,
    skip_not_running: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> FleetSummary[T]:
    """Run ``unit`` for every (application, tenant) pair; never raises for one tenant.

    ``status`` looks the tenant's state up (e.g. ``TenantAccess.status``); without it there is
    no skipping before the unit and no per-host rate (the unit's own
    :class:`~toolkit.errors.TenantNotRunningError` still counts as skipped).
    ``per_host_rate`` is units started per second per tenant host (None: unlimited).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    pairs = list(tenants)
    progress = _Progress(len(pairs), on_event)
    buckets: dict[str, TokenBucket] = {}
    buckets_lock = threading.Lock()

    def bucket(host: str) -> TokenBucket | None:
        if per_host_rate is None:
            return None
        with buckets_lock:
            if host not in buckets:
                buckets[host] = TokenBucket(per_host_rate, per_host_burst)
            return buckets[host]

    def one(app: Application, ctx: str) -> TenantResult[T]:
        started = clock()
        state: str | None = None
        host: str | None = None

        def result(outcome: str, **fields: Any) -> TenantResult[T]:
            return TenantResult(
                app.name,
                ctx,
                outcome,
                state=fields.pop("state", state),
                host=host,
                seconds=clock() - started,
                **fields,
            )

        try:
            if status is not None:
                current = status(app, ctx)
                state = current.state_name or current.state.name
                host = host_of(current)
                if skip_not_running and not current.is_available:
                    progress.event("skipped", app.name, ctx, f"tenant is {state}")
                    return result(
                        "skipped",
                        error=f"tenant {ctx} is {state} (not running)",
                        error_type=TenantNotRunningError.__name__,
                    )
                limiter = bucket(host) if host else None
                if limiter is not None:
                    limiter.acquire()
            progress.event("started", app.name, ctx)
            value = unit(app, ctx)
        except Exception as exc:
            stopped = not_running(exc)
            if stopped is not None:
                name = stopped.state.name
                progress.event("skipped", app.name, ctx, f"tenant is {name}")
                return result(
                    "skipped",
                    error=str(stopped),
                    error_type=type(stopped).__name__,
                    state=name,
                )
            progress.event("failed", app.name, ctx, f"{type(exc).__name__}: {exc}")
            return result("failed", error=str(exc), error_type=type(exc).__name__)
        progress.event("finished", app.name, ctx)
        return result("succeeded", value=value)

    begun = clock()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sotk-fleet") as pool:
        futures = [pool.submit(one, app, ctx) for app, ctx in pairs]
        results = tuple(future.result() for future in futures)
    counts = dict.fromkeys(OUTCOMES, 0)
    for item in results:
        counts[item.outcome] += 1
    counts["total"] = len(results)
    progress.event("done", None, None, f"{counts['succeeded']} of {len(results)} succeeded")
    return FleetSummary(results, counts, clock() - begun)


def not_running(exc: BaseException) -> TenantNotRunningError | None:
    """The TenantNotRunningError in ``exc``'s cause chain (a run error wraps it), if any."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, TenantNotRunningError):
            return seen
        seen = seen.__cause__
    return None


# ============================================================================================
# Helpers
# ============================================================================================


def fleet_targets(
    repository: Repository, application: str | None = None
) -> list[tuple[Application, str]]:
    """Every active authorization (or one application's) as (application, tenant) pairs."""
    apps = {app.id: app for app in repository.list_applications()}
    return [
        (apps[record.application_id], record.context_identifier)
        for record in repository.list_authorizations(application, status="active")
        if record.application_id in apps
    ]


def _through_engine(
    services: Any,
    operation: str,
    tenants: Iterable[tuple[Application, str]],
    *,
    actor: str,
    manifest: Manifest | None = None,
    plans: Iterable[Plan] = (),
    on_event: Callable[[FleetEvent], None] | None = None,
    concurrency: int | None = None,
    per_host_rate: float | None = None,
    **ignored: Any,
) -> FleetSummary[Any]:
    # Imported here: the engine (DBOS) loads only when fleet work runs.
    from toolkit.jobs.runner import limits_for, run_job
    from toolkit.jobs.workflows import FleetJob

    # ``status``, ``per_host_burst``, ``skip_not_running``: the engine's tenant workflow asks
    # the state API itself and its queue's per-host limiter replaces the token bucket.
    del ignored
    job = FleetJob(
        operation,
        tuple((app.id, ctx) for app, ctx in tenants),
        actor,
        manifest=manifest,
        plans=tuple(plans),
    )
    return run_job(services, job, on_event=on_event, limits=limits_for(concurrency, per_host_rate))


def _services(provisioning: Provisioning) -> Any:
    from toolkit.jobs.engine import ServiceSet

    return ServiceSet(provisioning)


def plan_fleet(
    provisioning: Provisioning,
    tenants: Iterable[tuple[Application, str]],
    *,
    manifest: Manifest | None = None,
    operation: str = "apply",
    **options: Any,
) -> FleetSummary[Plan]:
    """Plan every tenant against its application's stored manifest, or ``manifest``
    (``provisioning`` is the :class:`~toolkit.provisioning.service.Provisioning` service).
    ``operation="uninstall"`` plans the removal of what the application owns (what
    :func:`uninstall_fleet` would do). One workflow per tenant on the job engine."""
    if operation not in ("apply", "uninstall"):
        raise ValueError("operation is apply or uninstall")
    chosen = "plan_uninstall" if operation == "uninstall" else "plan"
    return _through_engine(
        _services(provisioning), chosen, tenants, actor="plan", manifest=manifest, **options
    )


def apply_fleet(
    provisioning: Provisioning,
    tenants: Iterable[tuple[Application, str]],
    *,
    actor: str,
    plans: Iterable[Plan] = (),
    manifest: Manifest | None = None,
    **options: Any,
) -> FleetSummary[ProvisioningRun]:
    """Plan and apply every tenant: one workflow per tenant on the job engine, each apply under
    its tenant's store lock, so it is resumed (not lost) when a worker dies.

    ``plans`` (e.g. the values of a :func:`plan_fleet` an operator has looked at) are applied
    as they are, so a tenant that changed since is refused as stale
    (:class:`~toolkit.errors.StalePlanError`, a failed result) instead of being re-planned;
    tenants without one are planned now, against ``manifest`` or the stored manifest.
    """
    return _through_engine(
        _services(provisioning),
        "apply",
        tenants,
        actor=actor,
        manifest=manifest,
        plans=plans,
        **options,
    )


def uninstall_fleet(
    provisioning: Provisioning,
    tenants: Iterable[tuple[Application, str]],
    *,
    actor: str,
    manifest: Manifest | None = None,
    **options: Any,
) -> FleetSummary[ProvisioningRun]:
    """Uninstall the application from every tenant: its web panels, the lists and items it
    created, nothing else (one workflow per tenant on the job engine, each under its lock)."""
    return _through_engine(
        _services(provisioning), "uninstall", tenants, actor=actor, manifest=manifest, **options
    )


def check_states(
    provisioning: Provisioning, tenants: Iterable[tuple[Application, str]], **options: Any
) -> FleetSummary[TenantStatus]:
    """Ask the state API about every tenant now (``refresh``); not-running tenants are results
    here, not skips."""
    return _through_engine(
        _services(provisioning), "check_state", tenants, actor="state-check", **options
    )


def renew_tickets(
    provisioning: Provisioning,
    tenants: Iterable[tuple[Application, str]],
    *,
    actor: str = "ticket-manager",
    **options: Any,
) -> FleetSummary[str]:
    """Exchange a new system user ticket for every running tenant; the value is the new
    ticket's expiry (ISO 8601), never the ticket. Each renewal is audited naming ``actor``."""
    return _through_engine(_services(provisioning), "renew_ticket", tenants, actor=actor, **options)
