"""Scheduled upkeep, each a scheduled workflow on the job engine (configurable, off with ""):

* **state refresh** (``SOTK_UPKEEP_STATE_REFRESH``, cron): the active tenants whose last known
  state ends (its ``ValidUntil``) before the next run, or that have none, are asked again (a
  ``check_state`` job; each answer becomes the tenant's last known state);
* **ticket renewal** (``SOTK_UPKEEP_TICKET_RENEWAL``, cron): the tenants that hold a system user
  ticket (they had background work) whose sliding window closes before the next run get a new
  one (a ``renew_ticket`` job), so work that resumes later does not wait for an exchange;
* **drift check** (``SOTK_UPKEEP_DRIFT_CHECK``, cron, nightly by default): every active tenant of
  an application with a manifest is planned (a ``plan`` job); the Overview lists the tenants
  whose plan is not empty (:func:`drifted_tenants`).

The schedules live in the engine's tables (every worker applies the same set; DBOS fires each
occurrence once, with a workflow id made from the schedule and the time). Each run enqueues one
job whose id is made from the schedule's time, so a run repeated for the same time adds none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from dbos import DBOS, SetWorkflowID

from toolkit.jobs.engine import services
from toolkit.jobs.names import FLEET_WORKFLOW
from toolkit.jobs.queues import JOBS_QUEUE
from toolkit.jobs.upkeep_schedules import (
    DEFAULT_DRIFT_CHECK,
    DEFAULT_STATE_REFRESH,
    DEFAULT_TICKET_RENEWAL,
)
from toolkit.jobs.workflows import FleetJob, fleet_job

if TYPE_CHECKING:
    from toolkit.jobs.client import Jobs

__all__ = [
    "DEFAULT_DRIFT_CHECK",
    "DEFAULT_STATE_REFRESH",
    "DEFAULT_TICKET_RENEWAL",
    "UPKEEP_ACTOR",
    "apply_upkeep_schedules",
    "drifted_tenants",
]

UPKEEP_ACTOR: Final = "upkeep"
# How far ahead of a run a ValidUntil / window end counts as "before the next run".
LOOKAHEAD: Final = timedelta(hours=1)
DRIFT_PREFIX: Final = "upkeep-drift-"


def _job_id(kind: str, at: datetime) -> str:
    return f"upkeep-{kind}-{at.astimezone(UTC):%Y%m%dT%H%M%S}"


def _start(kind: str, at: datetime, job: FleetJob) -> str | None:
    if not job.targets:
        return None
    job_id = _job_id(kind, at)
    with SetWorkflowID(job_id):
        DBOS.enqueue_workflow(JOBS_QUEUE, fleet_job, job)
    return job_id


@DBOS.step(name="sotk.upkeep_state_targets")
def state_targets(now_iso: str) -> tuple[tuple[str, str], ...]:
    """Active tenants whose last known state ends within the look-ahead (or is unknown)."""
    found = services()
    now = datetime.fromisoformat(now_iso)
    known = {
        (record.application_id, record.context_identifier.casefold()): record
        for record in found.repository.list_tenant_states(None)
    }
    chosen = []
    for record in found.repository.authorization_keys(None, status="active"):
        state = known.get((record.application_id, record.context_identifier.casefold()))
        if state is None or state.valid_until is None or state.valid_until < now + LOOKAHEAD:
            chosen.append((record.application_id, record.context_identifier))
    return tuple(chosen)


@DBOS.step(name="sotk.upkeep_ticket_targets")
def ticket_targets(now_iso: str) -> tuple[tuple[str, str], ...]:
    """Active tenants holding a ticket whose sliding window closes within the look-ahead."""
    now = datetime.fromisoformat(now_iso)
    return tuple(
        (status.application_id, status.context_identifier)
        for status in services().tenants.tickets.ticket_statuses(status="active")
        if status.held is not None
        and status.valid_until is not None
        and status.valid_until < now + LOOKAHEAD
    )


@DBOS.step(name="sotk.upkeep_drift_targets")
def drift_targets() -> tuple[tuple[str, str], ...]:
    """Active tenants of every application that has a manifest."""
    found = services()
    with_manifest = {
        app.id
        for app in found.repository.list_applications()
        if found.repository.get_application_manifest(app.id) is not None
    }
    return tuple(
        (record.application_id, record.context_identifier)
        for record in found.repository.authorization_keys(None, status="active")
        if record.application_id in with_manifest
    )


@DBOS.workflow(name="sotk.upkeep_state_refresh")
def upkeep_state_refresh(at: datetime, context: Any) -> None:
    targets = state_targets(at.astimezone(UTC).isoformat())
    _start("states", at, FleetJob("check_state", targets, UPKEEP_ACTOR))


@DBOS.workflow(name="sotk.upkeep_ticket_renewal")
def upkeep_ticket_renewal(at: datetime, context: Any) -> None:
    targets = ticket_targets(at.astimezone(UTC).isoformat())
    _start("tickets", at, FleetJob("renew_ticket", targets, UPKEEP_ACTOR))


@DBOS.workflow(name="sotk.upkeep_drift_check")
def upkeep_drift_check(at: datetime, context: Any) -> None:
    _start("drift", at, FleetJob("plan", drift_targets(), UPKEEP_ACTOR))


SCHEDULES: Final = {
    "sotk-state-refresh": upkeep_state_refresh,
    "sotk-ticket-renewal": upkeep_ticket_renewal,
    "sotk-drift-check": upkeep_drift_check,
}


def apply_upkeep_schedules(state_refresh: str, ticket_renewal: str, drift_check: str) -> list[str]:
    """Create or replace the upkeep schedules (cron with seconds; "" turns one off) in the
    engine's tables; needs a launched engine. Returns the names scheduled."""
    wanted = {
        "sotk-state-refresh": state_refresh,
        "sotk-ticket-renewal": ticket_renewal,
        "sotk-drift-check": drift_check,
    }
    existing = {schedule["schedule_name"] for schedule in DBOS.list_schedules()}
    for name, cron in wanted.items():
        if not cron and name in existing:
            DBOS.delete_schedule(name)
    DBOS.apply_schedules(
        [
            {"schedule_name": name, "workflow_fn": SCHEDULES[name], "schedule": cron}
            for name, cron in wanted.items()
            if cron
        ]
    )
    return [name for name, cron in wanted.items() if cron]


def drifted_tenants(jobs: Jobs) -> list[tuple[str, str, int]]:
    """The latest drift check's drifted tenants: (application, tenant, pending steps)."""
    found = jobs.client.list_workflows(
        name=FLEET_WORKFLOW,
        workflow_id_prefix=DRIFT_PREFIX,
        status="SUCCESS",
        sort_desc=True,
        limit=1,
        load_input=False,
        load_output=False,
    )
    if not found:
        return []
    drifted = []
    for row in jobs.tenants(found[0].workflow_id):
        plan = row.result.value if row.result is not None else None
        if plan is not None and not plan.is_empty:
            drifted.append((row.application, row.context_identifier, len(plan.pending)))
    return drifted
