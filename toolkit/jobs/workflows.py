"""The workflows: one per job, one per (application, tenant).

A fleet job (:func:`fleet_job`) routes its tenants (the state API's host of each, one step),
enqueues one :func:`fleet_tenant` per tenant on the tenants queue with the host as partition
key (one step, a batch of tenants per transaction through the jobs client:
:meth:`~toolkit.jobs.client.Jobs.enqueue_fleet_tenants`), and waits for them; its result is
the counts by outcome. A tenant enqueued on its own (install-time provisioning, a
notification) is a :func:`tenant_job`, the same work under the name that makes it a job. A
tenant workflow runs :func:`tenant_work`, which

1. reads the application and the tenant's last known state in the store (one statement), and
   asks the state API: a tenant that is not running is *skipped* with its state, without a
   call to it;
2. runs the unit of work: the same plain function of (application, tenant) the provisioning
   service offers (plan, apply, uninstall, a state check, a ticket renewal);
3. returns a :class:`~toolkit.provisioning.fleet.TenantResult`; the workflow returns it, or
   fails with :class:`~toolkit.errors.TenantJobFailedError` (the error in words and its type).

The work is not a step, and neither is the state check (issue 14: a step costs the engine four
statements per tenant, its owner and cancellation checks, the read of a recorded result and the
write of its own): nothing runs after it in the workflow, so a step's checkpoint would only repeat
the result the workflow records when it ends. The state's answer is cached until ``ValidUntil`` and
only decides whether the work runs, so asking again when the work runs again is right, not wasteful
(a tenant that stopped running meanwhile is skipped instead of called). The cache is the worker's
own, so the tenant's last known state in the store (what any worker recorded: a "check now" on
another worker, a notification it confirmed) is weighed against it: the one observed later wins (a
recorded answer past its ValidUntil is asked for afresh). A worker that cached "in maintenance"
therefore works a tenant as soon as another worker's check found it running, not when its own
answer expires; with one worker the record is its own answer and adds no state API call (nor a
statement: the record is read with the application).

A finished tenant workflow's result is recorded: a job resumed after a crash does not run it
again. A workflow cut off in the middle (its worker died, or the job was cancelled while it
ran) runs its work again when it is resumed, as a step cut off in the middle would: the apply
re-plans then and reads every object back by natural key before creating it, so it completes
only the rest and duplicates nothing; a state check or a ticket renewal simply happens again.
DESIGN.md has the SuperOffice calls as steps; here they run in the workflow itself, for the
reason above, and are written to be run twice all the same.
Its store lock is owned by that *execution* (``{workflow id}@{executor id}/{nonce}``): two
executions of one workflow (a resumed copy, even on the same worker) never hold it at once, so
the lock alone keeps one changing workflow per tenant; a worker restarted under the same
identity, like any other, waits for the dead run's lock to expire (at most its TTL).

Workflow ids: a job's is ``{kind}-{hex}``; its tenants' are ``{job id}/{application id}/{tenant}``
(the tenant case-folded), so ``list_workflows(workflow_id_prefix=job id + "/")`` is its progress
and a job re-run after a crash enqueues no tenant twice.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from dbos import DBOS

from toolkit.errors import TenantJobFailedError, TenantNotRunningError
from toolkit.jobs.engine import JobServices, required_engine, running_engine, services
from toolkit.jobs.names import FLEET_TENANT_WORKFLOW, FLEET_WORKFLOW, TENANT_WORKFLOW
from toolkit.jobs.queues import NO_HOST
from toolkit.provisioning.fleet import OUTCOMES, TenantResult, host_of, not_running
from toolkit.provisioning.manifest import Manifest
from toolkit.provisioning.plan import Plan
from toolkit.store.records import TenantStateRecord

__all__ = [
    "OPERATIONS",
    "FleetJob",
    "TenantTask",
    "fleet_job",
    "fleet_tenant",
    "tenant_job",
    "tenant_workflow_id",
]

# What a tenant workflow can do. "plan_uninstall" plans what "uninstall" would remove.
OPERATIONS: Final = (
    "plan",
    "plan_uninstall",
    "apply",
    "uninstall",
    "check_state",
    "renew_ticket",
)
# Operations that change the tenant; they run under the store's apply lock.
CHANGING: Final = frozenset({"apply", "uninstall"})
# A changing workflow waits this many lock TTLs for the tenant's lock before it fails as busy.
LOCK_WAIT_TTLS: Final = 1.5
# A fleet job's tenant workflows not finished yet (DBOS's statuses).
ACTIVE_STATUSES: Final = ("DELAYED", "ENQUEUED", "PENDING")
# How often a fleet job asks whether its tenants are done: DBOS's own wait on a workflow's
# result polls every second; this poll reads a few rows at most, so it can be twice as often.
WAIT_POLL_SECONDS: Final = 0.5
# ... and once no more than this many are left (the last round of a fleet: about one tenant's
# apply from its end), five times as often, so the job ends a twentieth of a second after its
# last tenant on average instead of a quarter (issue 14).
WAIT_END_TENANTS: Final = 16
WAIT_END_POLL_SECONDS: Final = 0.1


@dataclass(frozen=True)
class TenantTask:
    """One tenant's work (the workflow's pickled input)."""

    operation: str
    application_id: str
    context_identifier: str
    actor: str
    manifest: Manifest | None = None
    plan: Plan | None = None

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation is one of {', '.join(OPERATIONS)}")


@dataclass(frozen=True)
class FleetJob:
    """A fleet job's input: ``targets`` are (application id, tenant) pairs; ``plans`` are
    applied as they are (a tenant that changed since is refused as stale)."""

    operation: str
    targets: tuple[tuple[str, str], ...]
    actor: str
    manifest: Manifest | None = None
    plans: tuple[Plan, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation is one of {', '.join(OPERATIONS)}")

    def tasks(self) -> list[TenantTask]:
        """Each target's task, in the targets' order (with its plan, if one was given)."""
        # reversed: of two plans for one tenant, the first is applied
        plans = {
            (p.application_id, p.context_identifier.casefold()): p for p in reversed(self.plans)
        }
        return [
            TenantTask(
                self.operation,
                application_id,
                context_identifier,
                self.actor,
                manifest=self.manifest,
                plan=plans.get((application_id, context_identifier.casefold())),
            )
            for application_id, context_identifier in self.targets
        ]


def tenant_workflow_id(job_id: str, application_id: str, context_identifier: str) -> str:
    return f"{job_id}/{application_id}/{context_identifier.casefold()}"


# -- steps ------------------------------------------------------------------------------------


@DBOS.step(name="sotk.route_tenants")
def route_tenants(targets: tuple[tuple[str, str], ...]) -> list[str]:
    """Each tenant's API host (its queue partition); :data:`NO_HOST` when the state API
    cannot say (the tenant's own workflow then reports why).

    The state API is asked for up to the worker's concurrency of tenants at once: one after
    the other, a fleet whose states are not cached waited a round trip per tenant before its
    first tenant was enqueued (issue 14: 500 tenants at 50 ms, 29 s of a 72 s apply). The
    threads live only for this step's reads; a step cut off routes again."""
    access = services().tenants
    engine = running_engine()
    width = engine.limits.worker_concurrency if engine is not None else 1

    def host(target: tuple[str, str]) -> str:
        try:
            return host_of(access.status(*target)) or NO_HOST
        except Exception:
            return NO_HOST

    if width <= 1 or len(targets) <= 1:
        return [host(target) for target in targets]
    with ThreadPoolExecutor(min(width, len(targets)), thread_name_prefix="sotk-route") as pool:
        return list(pool.map(host, targets))


def tenant_state(
    found: JobServices,
    application_id: str,
    context_identifier: str,
    recorded: TenantStateRecord | None = None,
) -> dict[str, Any]:
    """The tenant's state now (state API, cached until ValidUntil, or ``recorded``, the store's
    last known state, when that was observed later); never raises."""
    try:
        current = found.tenants.status(application_id, context_identifier, recorded=recorded)
    except Exception as exc:
        stopped = not_running(exc)
        return {
            "state": stopped.state.name if stopped is not None else None,
            "host": None,
            "error": str(exc),
            "error_type": type(exc).__name__,
            "not_running": stopped is not None,
        }
    return {
        "state": current.state_name or current.state.name,
        "host": host_of(current),
        "not_running": not current.is_available,
    }


def _lock_owner() -> str:
    # Unique per execution (issue 13: a workflow resumed while it still ran on the same worker
    # shared its owner, so both copies applied the tenant at once); readable for operators.
    return f"{DBOS.workflow_id}@{DBOS.executor_id}"[:180] + f"/{uuid.uuid4().hex[:12]}"


def _perform(task: TenantTask) -> Any:
    found = services()
    provisioning = found.provisioning
    app, ctx = task.application_id, task.context_identifier
    if task.operation == "plan":
        return provisioning.plan(app, ctx, task.manifest)
    if task.operation == "plan_uninstall":
        return provisioning.plan_uninstall(app, ctx, task.manifest)
    # A dead run's lock expires within one TTL of the wait's start; the rest is margin.
    wait = provisioning.lock_ttl.total_seconds() * LOCK_WAIT_TTLS
    if task.operation == "apply":
        return provisioning.apply(
            app,
            ctx,
            task.plan,
            actor=task.actor,
            manifest=task.manifest,
            lock_wait=wait,
            lock_owner=_lock_owner(),
        )
    if task.operation == "uninstall":
        return provisioning.uninstall(
            app, ctx, task.manifest, actor=task.actor, lock_wait=wait, lock_owner=_lock_owner()
        )
    if task.operation == "check_state":
        status = found.tenants.status(app, ctx, refresh=True)
        events = getattr(found, "tenant_events", None)  # a workspace's, on its clock
        if events is not None:
            events.record_status(app, status, actor=task.actor)
        else:
            # A fleet run without a workspace (apply_fleet(ws.provisioning, ...)) records the
            # answer all the same: the tenant's work may run on another worker, whose cached
            # answer gives way only to a later one recorded in the store.
            from toolkit.auth.transactions import utc_now
            from toolkit.tenant_events import record_tenant_status

            record_tenant_status(
                found.repository, app, status, observed_at=utc_now(), actor=task.actor
            )
        return status
    expires = found.tenants.tickets.renew(app, ctx, actor=task.actor).expires_at
    return expires.isoformat() if expires is not None else "renewed"


def tenant_work(task: TenantTask) -> TenantResult[Any]:
    """The tenant's state, then the unit of work, in the tenant's workflow (not a step: see
    the module doc). Never raises: the outcome and the error in words are the result (only
    plain values cross the engine; a toolkit error would not survive its pickling)."""
    found = services()
    view = found.repository.tenant_work_view(task.application_id, task.context_identifier)
    app = view.application
    started = time.monotonic()
    state: str | None = None
    host: str | None = None

    def result(outcome: str, **fields: Any) -> TenantResult[Any]:
        fields.setdefault("state", state)
        return TenantResult(
            app.name,
            task.context_identifier,
            outcome,
            host=host,
            seconds=time.monotonic() - started,
            **fields,
        )

    if task.operation != "check_state":  # that one asks the state API itself
        current = tenant_state(found, task.application_id, task.context_identifier, view.state)
        state, host = current["state"], current["host"]
        if current["not_running"]:
            return result(
                "skipped",
                error=current.get("error")
                or f"tenant {task.context_identifier} is {state} (not running)",
                error_type=current.get("error_type") or TenantNotRunningError.__name__,
            )
        if "error" in current:
            return result("failed", error=current["error"], error_type=current["error_type"])
    try:
        value = _perform(task)
    except Exception as exc:
        stopped = not_running(exc)
        if stopped is not None:
            return result(
                "skipped",
                error=str(stopped),
                error_type=type(stopped).__name__,
                state=stopped.state.name,
            )
        return result("failed", error=str(exc), error_type=type(exc).__name__)
    return result("succeeded", value=value)


# -- workflows --------------------------------------------------------------------------------


def _tenant_outcome(task: TenantTask) -> TenantResult[Any]:
    outcome = tenant_work(task)
    if outcome.outcome == "failed":
        raise TenantJobFailedError(
            f"{outcome.error_type}: {outcome.error}", error_type=outcome.error_type or "Error"
        )
    return outcome


@DBOS.workflow(name=TENANT_WORKFLOW)
def tenant_job(task: TenantTask) -> TenantResult[Any]:
    """One tenant's work enqueued on its own, a job (see the module doc)."""
    return _tenant_outcome(task)


@DBOS.workflow(name=FLEET_TENANT_WORKFLOW)
def fleet_tenant(task: TenantTask) -> TenantResult[Any]:
    """One tenant's work in a fleet job (see the module doc)."""
    return _tenant_outcome(task)


@DBOS.workflow(name=FLEET_WORKFLOW)
def fleet_job(job: FleetJob) -> dict[str, int]:
    """Enqueue one tenant workflow per target (partitioned by host) and wait for them all."""
    job_id = DBOS.workflow_id or ""
    hosts = route_tenants(job.targets)
    enqueue_tenants(job_id, job, hosts)
    return wait_for_tenants(job_id)


@DBOS.step(name="sotk.enqueue_tenants")
def enqueue_tenants(job_id: str, job: FleetJob, hosts: list[str]) -> int:
    """Enqueue the job's tenant workflows, a batch per transaction. Cut off, it enqueues again:
    the workflows already enqueued stay as they are. A job cancelled meanwhile enqueues no
    further batch (its tenants enqueued so far are cancelled with it; a retry resumes the job,
    which enqueues the rest)."""
    jobs = required_engine().jobs
    return jobs.enqueue_fleet_tenants(
        (
            (tenant_workflow_id(job_id, task.application_id, task.context_identifier), task, host)
            for task, host in zip(job.tasks(), hosts, strict=True)
        ),
        stop=lambda: jobs.status(job_id) == "cancelled",
    )


@DBOS.step(name="sotk.wait_for_tenants")
def wait_for_tenants(job_id: str) -> dict[str, int]:
    """Wait until none of the job's tenant workflows is queued or running, then count them by
    outcome: one step, where a handle's ``get_result`` per tenant recorded a step each (issue
    14: a read of the tenant's result, and its result pickled and written again, per tenant).
    A poll reads at most :data:`WAIT_END_TENANTS` active tenants (without their input or
    output), to tell the last round from the rest; the results are read once, at the end. Cut
    off (the worker died), it waits again."""
    prefix = f"{job_id}/"
    while active := DBOS.list_workflows(
        workflow_id_prefix=prefix,
        status=list(ACTIVE_STATUSES),
        limit=WAIT_END_TENANTS + 1,
        load_input=False,
        load_output=False,
    ):
        time.sleep(WAIT_POLL_SECONDS if len(active) > WAIT_END_TENANTS else WAIT_END_POLL_SECONDS)
    counts = dict.fromkeys(OUTCOMES, 0)
    finished = DBOS.list_workflows(workflow_id_prefix=prefix, load_input=False)
    for status in finished:
        output = status.output if status.status == "SUCCESS" else None
        counts[output.outcome if isinstance(output, TenantResult) else "failed"] += 1
    counts["total"] = len(finished)
    return counts
