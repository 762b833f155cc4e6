"""The Jobs page and the Overview's jobs: background work on the job engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.core import (
    _action,
    _frame,
    _guarded,
    _operator_only,
    _when,
    actor_name,
    workspace,
)

# -- jobs (the job engine) ------------------------------------------------------------------------

# Jobs the Jobs page lists: the newest this many.
JOBS_LIMIT = 100
JOB_COLUMNS = [
    "Job",
    "Status",
    "Succeeded",
    "Skipped",
    "Failed",
    "Running",
    "Queued",
    "Total",
    "Started",
    "Seconds",
    "By",
    "Error",
]
JOB_TENANT_COLUMNS = [
    "Tenant",
    "Application",
    "Status",
    "Outcome",
    "State",
    "Host",
    "Worker",
    "Seconds",
    "Error",
]
JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]


def _job_row(job: Any) -> dict[str, Any]:
    counts = job.counts
    return {
        "Job": job.job_id,
        "Status": job.status,
        "Succeeded": counts.get("succeeded", 0),
        "Skipped": counts.get("skipped", 0),
        "Failed": counts.get("failed", 0),
        "Running": counts.get("running", 0),
        "Queued": counts.get("queued", 0),
        "Total": counts.get("total", 0),
        "Started": _when(job.created_at),
        "Seconds": None if job.seconds is None else round(job.seconds, 1),
        "By": job.actor or "",
        "Error": job.error or "",
    }


@_guarded
def jobs_table(status: str | None = None, limit: int = JOBS_LIMIT) -> pd.DataFrame:
    """Background jobs, newest first (read live: jobs move while the page is open); ``status``
    one of :data:`JOB_STATUSES` or None for all."""
    ws = workspace()
    return _frame((_job_row(job) for job in ws.jobs.list(status=status, limit=limit)), JOB_COLUMNS)


@_guarded
def job_tenants(job_id: str) -> pd.DataFrame:
    """One job's tenants: their status, outcome, state, host, worker, duration, error in words."""
    ws = workspace()
    return _frame(
        (
            {
                "Tenant": row.context_identifier,
                "Application": row.application,
                "Status": row.status,
                "Outcome": row.outcome or "",
                "State": row.state or "",
                "Host": row.host or "",
                "Worker": row.executor or "",
                "Seconds": None if row.seconds is None else round(row.seconds, 2),
                "Error": row.error or "",
            }
            for row in ws.jobs.tenants(job_id)
        ),
        JOB_TENANT_COLUMNS,
    )


@_action
@_operator_only("cancel_job")
@_guarded
def cancel_job(job_id: str) -> str:
    """Cancel a job and its unfinished tenants; a sentence saying so."""
    job = workspace().jobs.cancel(job_id)
    return f"Job {job.job_id} is {job.status}; a tenant step under way finishes first."


@_action
@_operator_only("retry_job")
@_guarded
def retry_job(job_id: str) -> str:
    """Run again what did not succeed (a cancelled job resumes; a finished job's failed tenants
    become a new job); a sentence naming the job that runs."""
    new_id = workspace().jobs.retry(job_id, actor=actor_name())
    if new_id == job_id:
        return f"Job {job_id} resumes where it stopped."
    return f"The failed tenants of {job_id} run again as job {new_id}."


@dataclass(frozen=True)
class JobsSummary:
    """The Overview's jobs: how many run or wait now, and the recent failed ones."""

    running: int
    queued: int
    failed: pd.DataFrame
    drifted: pd.DataFrame


@_guarded
def jobs_summary(limit: int = JOBS_LIMIT) -> JobsSummary:
    """Running, queued and failed jobs among the newest ``limit`` (for the Overview)."""
    from toolkit.jobs.upkeep import drifted_tenants

    ws = workspace()
    jobs = ws.jobs.list(limit=limit)
    failed = [job for job in jobs if job.status == "failed" or job.counts.get("failed")]
    drifted = (
        {"Application": app, "Tenant": ctx, "Pending steps": steps}
        for app, ctx, steps in drifted_tenants(ws.jobs)
    )
    return JobsSummary(
        running=sum(1 for job in jobs if job.status == "running"),
        queued=sum(1 for job in jobs if job.status == "queued"),
        failed=_frame((_job_row(job) for job in failed), JOB_COLUMNS),
        drifted=_frame(drifted, ["Application", "Tenant", "Pending steps"]),
    )
