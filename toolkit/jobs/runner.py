"""Run a fleet job to its end from a synchronous caller (a notebook, the dashboard, a test).

The job goes through the engine like any other: enqueued, run by whichever workers share the
database, followed until it finishes. When no engine runs in this process, one is started for
the job and destroyed after it, so a single process needs nothing else running.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from toolkit.jobs.engine import JobServices, running_engine, start_engine
from toolkit.jobs.queues import JOBS_QUEUE, TENANTS_QUEUE, QueueLimits
from toolkit.jobs.workflows import FleetJob
from toolkit.provisioning.fleet import FleetEvent, FleetSummary

__all__ = ["limits_for", "run_job"]


def limits_for(concurrency: int | None = None, per_host_rate: float | None = None) -> QueueLimits:
    """Queue limits from a caller's ``concurrency`` (per worker) and ``per_host_rate``."""
    base = QueueLimits()
    worker = concurrency if concurrency is not None else base.worker_concurrency
    if worker < 1:
        raise ValueError("concurrency must be at least 1")
    rate = base.per_host_rate if per_host_rate is None else max(1, math.ceil(per_host_rate))
    return QueueLimits(
        global_concurrency=max(base.global_concurrency, worker),
        worker_concurrency=worker,
        per_host_concurrency=min(base.per_host_concurrency, worker),
        per_host_rate=rate,
    )


def run_job(
    services: JobServices,
    job: FleetJob,
    *,
    on_event: Callable[[FleetEvent], None] | None = None,
    limits: QueueLimits | None = None,
) -> FleetSummary[Any]:
    """Enqueue ``job``, follow it (events through ``on_event``) and return its summary."""
    engine = running_engine()
    own = engine is None or not engine.listen
    if engine is None or own:
        # An engine started for this job works its queues only (each queue worked is polled);
        # one replacing a non-listening engine keeps processing notifications as that one did.
        queues = (JOBS_QUEUE, TENANTS_QUEUE) if engine is None else None
        engine = start_engine(services, limits=limits, queues=queues)
    try:
        jobs = engine.jobs  # the client its workflows enqueue through, not a second one
        job_id = jobs.submit_fleet(job)
        if on_event is None:
            jobs.wait(job_id)  # its status only, until it ends
        else:
            jobs.follow(job_id, on_event)
        return jobs.summary(job_id)
    finally:
        if own:
            engine.close()
