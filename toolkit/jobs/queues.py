"""The engine's queues and their limits (no import of the engine here: settings read these).

* ``sotk-jobs``: one workflow per job (a fleet apply, an install's provisioning, a scheduled
  upkeep run); it enqueues its tenants' workflows and waits for them.
* ``sotk-tenants``: one workflow per (application, tenant), partitioned by the tenant's API
  host (the state API's ``Api`` host, e.g. ``sod2``): a rate limit and a concurrency per host,
  so a fleet does not hammer one SuperOffice server (SuperOffice documents no limits, open
  question 12: the rates are the partner's choice), and a global concurrency over all hosts.

* ``sotk-notifications``: one workflow per state-change notification
  (:mod:`toolkit.jobs.notifications`), enqueued by the request that validated it; every
  engine works it, also one that works no job queues (the partner endpoints' own).

At most one *changing* workflow per tenant at a time is the store's apply lock
(:func:`toolkit.provisioning.apply.apply_plan`), not the engine's: the same lock also guards
applies that do not go through the engine (``sotk provision apply --tenant``, the installation
pages), and DBOS refuses deduplication on partitioned queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_GLOBAL_CONCURRENCY",
    "DEFAULT_PER_HOST_CONCURRENCY",
    "DEFAULT_PER_HOST_RATE",
    "DEFAULT_WORKER_CONCURRENCY",
    "JOBS_POLL_SECONDS",
    "JOBS_QUEUE",
    "NOTIFICATIONS_QUEUE",
    "NO_HOST",
    "QUEUE_POLL_SECONDS",
    "TENANTS_QUEUE",
    "QueueLimits",
    "register_queues",
]

JOBS_QUEUE: Final = "sotk-jobs"
TENANTS_QUEUE: Final = "sotk-tenants"
NOTIFICATIONS_QUEUE: Final = "sotk-notifications"
# Partition of a tenant whose host the state API did not give (unknown tenant, state API down).
NO_HOST: Final = "(no host)"

# Tenant workflows running at once over every worker: the SQLite store's single writer and a
# small PostgreSQL both serve a few dozen concurrent appliers well.
DEFAULT_GLOBAL_CONCURRENCY: Final = 32
# Tenant workflows one worker runs at once: enough to overlap network waits (the former thread
# pool's size).
DEFAULT_WORKER_CONCURRENCY: Final = 8
# Tenant workflows running at once on one SuperOffice host, over every worker.
DEFAULT_PER_HOST_CONCURRENCY: Final = 8
# Tenant workflows started per second on one SuperOffice host, over every worker.
DEFAULT_PER_HOST_RATE: Final = 20
# Notifications one engine processes at once: each is a state API call and a store write, so a
# burst is worked off steadily instead of all at once against the store.
NOTIFICATION_CONCURRENCY: Final = 8
# How often a worker asks the database for queued tenant workflows: short enough that a
# tenant's slot freed mid-fleet is filled again promptly (a tenant's apply is a second or two
# of requests, and DBOS wakes no worker when a workflow ends: a freed slot waits half this on
# average). Issue 14: 0.1 s instead of 0.2 s took a 500-tenant apply from 40 s to 36-38 s
# (direct: 31 s); an idle worker pays about 14 statements and 10 ms of CPU a second more.
QUEUE_POLL_SECONDS: Final = 0.1
# How often a worker asks for queued jobs and notifications: each poll of a queue is a few
# statements and a few milliseconds of CPU, idle or not (issue 14), and neither waits on a
# slot: a job or a notification starting within half a second is prompt enough.
JOBS_POLL_SECONDS: Final = 0.5


@dataclass(frozen=True)
class QueueLimits:
    """The limits the queues are registered with (from settings; see the module doc)."""

    global_concurrency: int = DEFAULT_GLOBAL_CONCURRENCY
    worker_concurrency: int = DEFAULT_WORKER_CONCURRENCY
    per_host_concurrency: int = DEFAULT_PER_HOST_CONCURRENCY
    per_host_rate: int = DEFAULT_PER_HOST_RATE

    def __post_init__(self) -> None:
        for name in ("global_concurrency", "worker_concurrency", "per_host_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.per_host_rate < 1:
            raise ValueError("per_host_rate must be at least 1 per second")

    @classmethod
    def from_settings(cls, settings: Any) -> QueueLimits:
        return cls(
            global_concurrency=settings.jobs_global_concurrency,
            worker_concurrency=settings.jobs_worker_concurrency,
            per_host_concurrency=settings.jobs_per_host_concurrency,
            per_host_rate=settings.jobs_per_host_rate,
        )


def register_queues(limits: QueueLimits) -> None:
    """Register (or update) the queues in the system database; needs a launched engine."""
    from dbos import DBOS

    # The queue rows are shared by every worker: the last one started sets the limits.
    # [I] partition_concurrency may not exceed global_concurrency (DBOS validates it).
    per_host = min(limits.per_host_concurrency, limits.global_concurrency)
    DBOS.register_queue(
        TENANTS_QUEUE,
        global_concurrency=limits.global_concurrency,
        worker_concurrency=max(limits.worker_concurrency, 1),
        partition_concurrency=per_host,
        partition_worker_concurrency=min(per_host, limits.worker_concurrency),
        partition_limiter={"limit": limits.per_host_rate, "period": 1.0},
        polling_interval_sec=QUEUE_POLL_SECONDS,
        on_conflict="always_update",
    )
    DBOS.register_queue(
        NOTIFICATIONS_QUEUE,
        worker_concurrency=NOTIFICATION_CONCURRENCY,
        polling_interval_sec=JOBS_POLL_SECONDS,
        on_conflict="always_update",
    )
    DBOS.register_queue(
        JOBS_QUEUE,
        # A job mostly waits for its tenants; a handful per worker keeps several jobs moving.
        worker_concurrency=4,
        polling_interval_sec=JOBS_POLL_SECONDS,
        on_conflict="always_update",
    )
