"""Jobs as every front end sees them, from any machine sharing the database: enqueue, list,
show, follow, cancel, retry. No engine needed (DBOS's client talks to the system database).

A *job* is a fleet job (its tenants' workflows, ids ``{job id}/...``, are enqueued by it
under :data:`FLEET_TENANT_WORKFLOW`) or one tenant's workflow enqueued on its own
(install-time provisioning, a notification). Statuses are DBOS's: ``ENQUEUED``, ``PENDING``
(running), ``SUCCESS``, ``ERROR``, ``CANCELLED``, ``MAX_RECOVERY_ATTEMPTS_EXCEEDED``;
:data:`STATUS_WORDS` says them in words.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from toolkit.errors import JobError, JobNotFoundError, TenantJobFailedError
from toolkit.jobs.engine import (
    APPLICATION_VERSION,
    ENGINE_NAME,
    client_engine,
    jobs_schema,
    new_job_id,
    system_database_url,
)
from toolkit.jobs.names import FLEET_TENANT_WORKFLOW, FLEET_WORKFLOW, TENANT_WORKFLOW
from toolkit.jobs.queues import JOBS_QUEUE, NO_HOST, TENANTS_QUEUE
from toolkit.provisioning.fleet import (
    OUTCOMES,
    FleetCounts,
    FleetEvent,
    FleetSummary,
    TenantResult,
)

if TYPE_CHECKING:
    from dbos import DBOSClient, EnqueueOptions, WorkflowStatus
    from sqlalchemy.engine import Engine

    from toolkit.jobs.workflows import FleetJob, TenantTask
    from toolkit.store import Repository

__all__ = ["STATUS_WORDS", "JobInfo", "Jobs", "TenantJobInfo"]

JOB_WORKFLOWS: Final = (FLEET_WORKFLOW, TENANT_WORKFLOW)
# A fleet job's tenants enqueued per transaction: a transaction holds SQLite's one writer (and
# the store's writer turn) while it runs, so a batch is short, and the first tenants start
# while later batches are still being enqueued.
ENQUEUE_BATCH: Final = 50
UPKEEP_PREFIX: Final = "upkeep-"  # toolkit.jobs.upkeep's job ids
STATUS_WORDS: Final = {
    "DELAYED": "waiting",
    "ENQUEUED": "queued",
    "PENDING": "running",
    "SUCCESS": "succeeded",
    "ERROR": "failed",
    "CANCELLED": "cancelled",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
}
ACTIVE: Final = frozenset({"DELAYED", "ENQUEUED", "PENDING"})
FINISHED: Final = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
# How often a front end following a job asks the database for progress.
FOLLOW_POLL_SECONDS: Final = 0.25
# Following a job, the tenants finished this long before the latest one seen are read again
# (a tenant's outcome may be committed a little after a later one's; see Jobs._progress).
FINISHED_MARGIN_MS: Final = 5000


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat()


def _when(epoch_ms: int | None) -> datetime | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, UTC)


def _seconds(status: WorkflowStatus) -> float | None:
    start = status.dequeued_at or status.created_at
    if start is None or status.status not in FINISHED or status.updated_at is None:
        return None
    return max(0.0, (status.updated_at - start) / 1000)


def _error_words(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, TenantJobFailedError):
        return str(error)
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class TenantJobInfo:
    """One tenant's workflow: ``status`` in words, ``outcome`` succeeded / skipped / failed
    once finished, the error in words, the duration."""

    workflow_id: str
    application: str
    application_id: str
    context_identifier: str
    status: str
    outcome: str | None
    error: str | None
    state: str | None
    host: str | None
    executor: str | None
    seconds: float | None
    result: TenantResult[Any] | None


@dataclass(frozen=True)
class JobInfo:
    """A job: ``kind`` (``fleet-apply``, ``install``, ...), ``status`` in words, ``counts`` of
    its tenants by outcome (``queued``, ``running`` too), times, the error in words."""

    job_id: str
    kind: str
    operation: str | None
    actor: str | None
    status: str
    counts: dict[str, int]
    created_at: datetime | None
    seconds: float | None
    error: str | None
    executor: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


class Jobs:
    """The jobs in the store's database (see the module doc). Close it when done."""

    def __init__(self, repository: Repository) -> None:
        self.database_url = system_database_url(repository)
        self._client: DBOSClient | None = None
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Jobs()"

    @property
    def client(self) -> DBOSClient:
        with self._lock:
            if self._client is None:
                from dbos import DBOS, DBOSClient

                schema = jobs_schema(self.database_url)
                # The engine's tables are created at start-up by whoever comes first.
                DBOS.migrate(self.database_url, schema=schema or "dbos")
                self._engine = client_engine(self.database_url)
                self._client = DBOSClient(
                    system_database_engine=self._engine,
                    dbos_system_schema=schema or "dbos",
                    application_name=ENGINE_NAME,
                    retry_connection_errors=False,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.destroy()
                self._client = None
            if self._engine is not None:  # DBOS's client leaves an engine it was given
                self._engine.dispose()
                self._engine = None

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- enqueue ------------------------------------------------------------------------------

    def submit_fleet(self, job: FleetJob, *, kind: str | None = None) -> str:
        """Enqueue a fleet job; returns its id at once (a worker runs it)."""
        job_id = new_job_id(kind or f"fleet-{job.operation.replace('_', '-')}")
        self.client.enqueue(
            {
                "workflow_name": FLEET_WORKFLOW,
                "queue_name": JOBS_QUEUE,
                "workflow_id": job_id,
                "app_version": APPLICATION_VERSION,
            },
            job,
        )
        return job_id

    def enqueue_fleet_tenants(
        self,
        tenants: Iterable[tuple[str, TenantTask, str]],
        *,
        stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Enqueue a fleet job's tenant workflows, (workflow id, task, host) each, in one
        transaction per :data:`ENQUEUE_BATCH` (issue 14: enqueued one by one from the job's
        workflow, a tenant cost the engine six statements and a transaction of its own; here
        two, and a transaction per batch). A workflow id already enqueued starts nothing new,
        so enqueueing again after a crash only adds what is missing. ``stop`` is asked before
        each batch (the job was cancelled); returns how many were enqueued."""
        client = self.client
        engine = self._engine
        if engine is None:  # closed meanwhile
            raise JobError("the jobs client is closed")
        pending = list(tenants)
        enqueued = 0
        for start in range(0, len(pending), ENQUEUE_BATCH):
            batch = pending[start : start + ENQUEUE_BATCH]
            if stop():
                break
            with engine.begin() as connection:
                for workflow_id, task, host in batch:
                    options = _tenant_options(FLEET_TENANT_WORKFLOW, workflow_id, host)
                    client.enqueue_in_transaction(connection, options, task)
            enqueued += len(batch)
        return enqueued

    def submit_tenant(self, task: TenantTask, workflow_id: str, host: str | None = None) -> str:
        """Enqueue one tenant's workflow under ``workflow_id``; a workflow id already used
        starts nothing new (the same notification, the same install)."""
        self.client.enqueue(_tenant_options(TENANT_WORKFLOW, workflow_id, host or NO_HOST), task)
        return workflow_id

    # -- read ---------------------------------------------------------------------------------

    def _status(self, workflow_id: str, *, load: bool = True) -> WorkflowStatus:
        found = self.client.list_workflows(
            workflow_ids=[workflow_id], load_input=load, load_output=load
        )
        if not found:
            raise JobNotFoundError(f"no job {workflow_id!r}")
        return found[0]

    def tenants(
        self, job_id: str, *, inputs: bool = False, outputs: bool = True
    ) -> list[TenantJobInfo]:
        """The job's tenant workflows (or the job itself when it is one tenant's).
        ``inputs`` / ``outputs``: read each workflow's task / result too (the result has the
        outcome, skipped or succeeded, and the state; without it a finished tenant counts as
        succeeded)."""
        return self._tenants(self._status(job_id, load=False), inputs=inputs, outputs=outputs)

    def _tenants(
        self, parent: WorkflowStatus, *, inputs: bool = False, outputs: bool = True
    ) -> list[TenantJobInfo]:
        if parent.name == TENANT_WORKFLOW:
            one = self._status(parent.workflow_id, load=True)
            return [self._tenant_info(one)]
        children = self.client.list_workflows(
            workflow_id_prefix=f"{parent.workflow_id}/", load_input=inputs, load_output=outputs
        )
        if outputs and not inputs:
            # A failed tenant has no result to name it: read its task (few, and only those).
            failed = [
                c.workflow_id for c in children if c.status not in ACTIVE and c.output is None
            ]
            if failed:
                tasks = {
                    found.workflow_id: found
                    for found in self.client.list_workflows(
                        workflow_ids=failed, load_input=True, load_output=True
                    )
                }
                children = [tasks.get(c.workflow_id, c) for c in children]
        return [self._tenant_info(child) for child in children]

    def statuses(self, job_id: str) -> dict[str, int]:
        """The job's tenant workflows by status in words, without reading any result (cheap
        enough to poll)."""
        found = self.client.list_workflows(
            workflow_id_prefix=f"{job_id}/", load_input=False, load_output=False
        )
        counts: dict[str, int] = {}
        for status in found:
            word = STATUS_WORDS.get(status.status, status.status.lower())
            counts[word] = counts.get(word, 0) + 1
        return counts

    @staticmethod
    def _tenant_info(status: WorkflowStatus) -> TenantJobInfo:
        # Ids are {job}/{application id}/{tenant, case-folded}; the task or result has the case.
        parts = status.workflow_id.split("/")
        application = application_id = parts[-2] if len(parts) >= 3 else ""
        ctx = parts[-1] if len(parts) >= 3 else ""
        task = status.input["args"][0] if status.input and status.input["args"] else None
        if task is not None:
            application = application_id = task.application_id
            ctx = task.context_identifier
        result = status.output if isinstance(status.output, TenantResult) else None
        outcome = result.outcome if result is not None else None
        if status.status == "SUCCESS" and outcome is None:
            outcome = "succeeded"
        if status.status in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
            outcome = "failed"
        if result is not None:
            application, ctx = result.application, result.context_identifier
        return TenantJobInfo(
            workflow_id=status.workflow_id,
            application=application,
            application_id=application_id,
            context_identifier=ctx,
            status=STATUS_WORDS.get(status.status, status.status.lower()),
            outcome=outcome,
            error=_error_words(status.error)
            or (result.error if result and result.outcome != "succeeded" else None),
            state=result.state if result else None,
            host=(result.host if result else None) or status.queue_partition_key,
            executor=status.executor_id,
            seconds=result.seconds if result else _seconds(status),
            result=result,
        )

    @staticmethod
    def _counts(parent: WorkflowStatus, rows: list[TenantJobInfo]) -> dict[str, int]:
        counts = dict.fromkeys((*OUTCOMES, "queued", "running", "cancelled"), 0)
        for row in rows:
            key = row.outcome or row.status
            counts[key if key in counts else "running"] += 1
        if parent.name == FLEET_WORKFLOW and parent.input and parent.input["args"]:
            counts["total"] = len(parent.input["args"][0].targets)
            # Tenants not enqueued yet (the job is routing them) are queued too.
            counts["queued"] += max(0, counts["total"] - len(rows))
        else:
            counts["total"] = len(rows)
        return counts

    def status(self, job_id: str) -> str:
        """The job's status in words, reading nothing else (cheap enough to poll)."""
        found = self._status(job_id, load=False).status
        return STATUS_WORDS.get(found, found.lower())

    def counts(self, job_id: str) -> dict[str, int]:
        """The job's tenants by outcome, plus ``queued``, ``running`` and ``total``."""
        return self.show(job_id).counts

    def show(self, job_id: str) -> JobInfo:
        return self._job_info(self._status(job_id))

    def _job_info(self, status: WorkflowStatus, rows: list[TenantJobInfo] | None = None) -> JobInfo:
        job_input = status.input["args"][0] if status.input and status.input["args"] else None
        operation = getattr(job_input, "operation", None)
        if rows is None:
            rows = self._tenants(status)
        return JobInfo(
            job_id=status.workflow_id,
            kind=status.workflow_id.rsplit("-", 1)[0].split("/")[0],
            operation=operation,
            actor=getattr(job_input, "actor", None),
            status=STATUS_WORDS.get(status.status, status.status.lower()),
            counts=self._counts(status, rows),
            created_at=_when(status.created_at),
            seconds=_seconds(status),
            error=_error_words(status.error),
            executor=status.executor_id,
        )

    def list(self, *, status: str | None = None, limit: int = 50) -> list[JobInfo]:
        """Jobs, newest first; ``status`` in words (queued, running, succeeded, failed,
        cancelled) filters."""
        wanted = None
        if status is not None:
            wanted = [k for k, v in STATUS_WORDS.items() if v == status]
            if not wanted:
                raise ValueError(
                    f"status is one of {', '.join(sorted(set(STATUS_WORDS.values())))}"
                )
        found = self.client.list_workflows(
            name=list(JOB_WORKFLOWS),
            status=wanted,
            has_parent=False,
            sort_desc=True,
            limit=limit,
        )
        # Upkeep jobs are children of their schedule's workflow, under their own ids.
        found += self.client.list_workflows(
            name=FLEET_WORKFLOW,
            status=wanted,
            workflow_id_prefix=UPKEEP_PREFIX,
            sort_desc=True,
            limit=limit,
        )
        found.sort(key=lambda item: item.created_at or 0, reverse=True)
        return [self._job_info(item) for item in found[:limit]]

    # -- wait ---------------------------------------------------------------------------------

    def wait(
        self,
        job_id: str,
        *,
        stop: threading.Event | None = None,
        poll: float = FOLLOW_POLL_SECONDS,
    ) -> str:
        """Wait until the job finishes (or ``stop`` is set), reading only its status: one
        row a poll, however many tenants it has. Returns the status in words."""
        for _ in self._polls(stop or threading.Event(), poll):
            found = self._status(job_id, load=False).status
            if found in FINISHED:
                break
        return self.status(job_id)

    def follow(
        self,
        job_id: str,
        on_event: Callable[[FleetEvent], None] | None = None,
        *,
        stop: threading.Event | None = None,
        poll: float = FOLLOW_POLL_SECONDS,
    ) -> JobInfo:
        """Wait until the job finishes, reporting each tenant that starts and ends as a
        :class:`~toolkit.provisioning.fleet.FleetEvent` (then ``done``). ``stop`` ends the wait
        early (the job goes on). Returns the job as it is then.

        A poll reads the job's status, its running tenants and the tenants finished since the
        last poll (with their results, each once), not every tenant (issue 14: at 500 tenants
        a poll of them all cost more CPU than the job's own steps); once the job has finished,
        one read of every tenant makes sure none was missed."""
        if on_event is None:
            self.wait(job_id, stop=stop, poll=poll)
            return self.show(job_id)
        seen: dict[str, str] = {}
        known: dict[str, TenantJobInfo] = {}  # finished tenants, read once with their result
        parent = self._status(job_id)  # its input (the targets) is read once
        since: int | None = None  # completed_at of the latest finished tenant seen (ms)
        idle = stop or threading.Event()
        for _ in self._polls(idle, poll):
            now = self._status(job_id, load=False)
            parent.status, parent.updated_at = now.status, now.updated_at
            finished = parent.status in FINISHED
            if finished:
                parent = self._status(job_id)  # its error too
            if parent.name == TENANT_WORKFLOW:
                rows = self._tenants(parent, outputs=False)
            else:
                rows, since = self._progress(parent, known, since, everyone=finished)
            info = self._job_info(parent, rows)
            for row in rows:
                self._report(row, seen, info, on_event)
            if info.finished:
                c = info.counts
                on_event(
                    FleetEvent(
                        "done",
                        None,
                        None,
                        _fleet_counts(c),
                        f"{c['succeeded']} of {c['total']} succeeded",
                    )
                )
                return info
        return self.show(job_id)

    def _progress(
        self,
        parent: WorkflowStatus,
        known: dict[str, TenantJobInfo],
        since: int | None,
        *,
        everyone: bool,
    ) -> tuple[builtins.list[TenantJobInfo], int | None]:
        """A fleet job's tenants as :meth:`follow` sees them: the finished ones (``known``,
        added to with their results, each read once) and the running ones; the rest are
        queued. ``everyone``: read every tenant's status, not only the recent ones."""
        prefix = f"{parent.workflow_id}/"
        if everyone:
            listed = self.client.list_workflows(
                workflow_id_prefix=prefix, load_input=False, load_output=False
            )
            running = [s for s in listed if s.status in ACTIVE]
            done = [s for s in listed if s.status in FINISHED]
        else:
            running = self.client.list_workflows(
                workflow_id_prefix=prefix, status="PENDING", load_input=False, load_output=False
            )
            # [I] completed_at is stamped with the database's clock as the tenant's outcome is
            # written (whole seconds on SQLite), so a tenant committed a little after a later
            # stamp is still listed: the margin; one finished after a longer stall is found by
            # the read of every tenant at the end.
            after = None if since is None else since - FINISHED_MARGIN_MS
            done = self.client.list_workflows(
                workflow_id_prefix=prefix,
                status=sorted(FINISHED),
                completed_after=None if after is None else _iso(after),
                load_input=False,
                load_output=False,
            )
        for status in done:
            if status.completed_at is not None:
                since = max(since or 0, status.completed_at)
        new = [s.workflow_id for s in done if s.workflow_id not in known]
        if new:
            found = self.client.list_workflows(workflow_ids=new, load_input=False, load_output=True)
            known.update((f.workflow_id, self._tenant_info(f)) for f in found)
        rows = list(known.values())
        rows += [self._tenant_info(s) for s in running if s.workflow_id not in known]
        return rows, since

    @staticmethod
    def _polls(stop: threading.Event, poll: float) -> Iterator[None]:
        while True:
            yield
            # Waits on the event, so a caller can end the wait at once.
            if stop.wait(poll):
                return

    @staticmethod
    def _report(
        row: TenantJobInfo,
        seen: dict[str, str],
        info: JobInfo,
        on_event: Callable[[FleetEvent], None] | None,
    ) -> None:
        before = seen.get(row.workflow_id)
        now = row.outcome or row.status
        if now in (before, "queued"):
            return
        seen[row.workflow_id] = now
        if on_event is None:
            return
        counts = _fleet_counts(info.counts)
        if before is None and now != "running":
            on_event(FleetEvent("started", row.application, row.context_identifier, counts))
        kind = {"running": "started", "succeeded": "finished"}.get(now, now)
        if kind in ("started", "finished", "skipped", "failed"):
            on_event(
                FleetEvent(kind, row.application, row.context_identifier, counts, row.error or "")
            )

    def summary(self, job_id: str) -> FleetSummary[Any]:
        """The finished job as a :class:`~toolkit.provisioning.fleet.FleetSummary`."""
        parent = self._status(job_id)
        rows = self._tenants(parent)
        results: list[TenantResult[Any]] = []
        for row in rows:
            if row.result is not None:
                results.append(row.result)
                continue
            error_type = None
            if row.error and ":" in row.error:
                error_type = row.error.split(":", 1)[0]
            results.append(
                TenantResult(
                    row.application,
                    row.context_identifier,
                    "failed",
                    error=(row.error or row.status).split(": ", 1)[-1],
                    error_type=error_type,
                    host=row.host,
                    seconds=row.seconds or 0.0,
                )
            )
        counts = dict.fromkeys(OUTCOMES, 0)
        for item in results:
            counts[item.outcome] += 1
        counts["total"] = len(results)
        return FleetSummary(tuple(results), counts, _seconds(parent) or 0.0)

    # -- act ----------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel the job and its unfinished tenants (a tenant at work finishes it first)."""
        ids = [job_id] + [
            row.workflow_id
            for row in self.tenants(job_id, outputs=False)
            if row.workflow_id != job_id and row.status in ("queued", "running", "waiting")
        ]
        self.client.cancel_workflows(ids)
        return self.show(job_id)

    def retry(self, job_id: str, *, actor: str) -> str:
        """Run again what did not succeed: a cancelled job resumes where it stopped; a
        finished job's failed tenants become a new job (returned)."""
        status = self._status(job_id)
        if status.status not in FINISHED:
            raise JobError(f"job {job_id!r} is still {STATUS_WORDS[status.status]}")
        if status.status == "CANCELLED":
            cancelled = [
                row.workflow_id
                for row in self.tenants(job_id, outputs=False)
                if row.status == "cancelled"
            ]
            self.client.resume_workflows(list(dict.fromkeys([job_id, *cancelled])))
            return job_id
        from toolkit.jobs.workflows import FleetJob, TenantTask

        job_input = status.input["args"][0] if status.input and status.input["args"] else None
        failed = [row for row in self.tenants(job_id, inputs=True) if row.outcome == "failed"]
        if not failed:
            raise JobError(f"job {job_id!r} has no failed tenant to retry")
        if isinstance(job_input, TenantTask):
            task = TenantTask(
                job_input.operation,
                job_input.application_id,
                job_input.context_identifier,
                actor,
                manifest=job_input.manifest,
            )
            return self.submit_tenant(task, new_job_id("retry"), status.queue_partition_key)
        job = cast("FleetJob", job_input)
        targets = tuple((r.application_id, r.context_identifier) for r in failed)
        return self.submit_fleet(
            FleetJob(job.operation, targets, actor, manifest=job.manifest),
            kind=f"retry-{job.operation.replace('_', '-')}",
        )


def _tenant_options(name: str, workflow_id: str, host: str) -> EnqueueOptions:
    """How a tenant workflow is enqueued: on the tenants queue, partitioned by its host."""
    return {
        "workflow_name": name,
        "queue_name": TENANTS_QUEUE,
        "workflow_id": workflow_id,
        "app_version": APPLICATION_VERSION,
        "queue_partition_key": host,
    }


def _fleet_counts(counts: dict[str, int]) -> FleetCounts:
    started = counts["running"] + counts["succeeded"] + counts["skipped"] + counts["failed"]
    return FleetCounts(
        total=counts["total"],
        started=started,
        succeeded=counts["succeeded"],
        skipped=counts["skipped"],
        failed=counts["failed"],
    )
