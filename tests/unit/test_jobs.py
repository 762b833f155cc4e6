"""The job engine (toolkit.jobs): lifecycle in one process, fleet jobs as one workflow per
tenant, skipped and failed tenants in words, the jobs client (list, show, cancel, retry)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from toolkit.errors import ApiConflictError, JobError, JobNotFoundError, TenantNotRunningError
from toolkit.jobs import client as client_module
from toolkit.jobs import workflows
from toolkit.jobs.client import Jobs
from toolkit.jobs.engine import (
    APPLICATION_VERSION,
    SystemDatabaseConnection,
    client_engine,
    running_engine,
    start_engine,
    system_database_url,
)
from toolkit.jobs.queues import NO_HOST, QueueLimits
from toolkit.jobs.takeover import (
    claim,
    keep_alive,
    stalled,
    take_over_stalled,
    workflow_status_table,
)
from toolkit.jobs.workflows import FleetJob, tenant_workflow_id
from toolkit.store import Repository, open_store
from toolkit.store.database import BUSY_TIMEOUT_MS
from toolkit.tenant import TenantState, TenantStatus

OFFLINE = {"Cust3", "Cust7"}
BROKEN = "Cust5"
STOPS = "Cust9"  # stops running in the middle of its unit


def status_of(ctx: str) -> TenantStatus:
    state = TenantState.OfflineMaintenance if ctx in OFFLINE else TenantState.Running
    host = "sod2" if int(ctx[4:]) % 2 else "sod3"
    return TenantStatus(
        context_identifier=ctx,
        endpoint=f"https://{host}.example.test/{ctx}",
        state=state,
        is_running=ctx not in OFFLINE,
        valid_until=None,
        api=f"https://{host}.example.test/{ctx}/api",
        state_name=state.name,
    )


@dataclass
class FakeTenants:
    def status(
        self, application: str, ctx: str, *, refresh: bool = False, recorded: Any = None
    ) -> TenantStatus:
        return status_of(ctx)


@dataclass
class FakeProvisioning:
    """The provisioning service's unit of work, counted; a gate holds applies when set."""

    repository: Repository
    tenants: FakeTenants = field(default_factory=FakeTenants)
    lock_ttl: timedelta = timedelta(seconds=5)
    calls: Counter[str] = field(default_factory=Counter)
    owners: set[str] = field(default_factory=set)
    gate: threading.Event | None = None
    started: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, application: str, ctx: str, plan: Any = None, **kw: Any) -> str:
        with self.lock:
            self.calls[ctx] += 1
            self.owners.add(kw["lock_owner"])
        self.started.release()
        if self.gate is not None:
            self.gate.wait(30)
        if ctx == BROKEN:
            raise ApiConflictError("the list changed", status_code=409)
        if ctx == STOPS:
            raise TenantNotRunningError(f"{ctx} is Suspended", state=TenantState.Suspended)
        return f"applied {ctx}"


@dataclass
class Services:
    provisioning: FakeProvisioning

    @property
    def repository(self) -> Repository:
        return self.provisioning.repository

    @property
    def tenants(self) -> FakeTenants:
        return self.provisioning.tenants


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[Repository]:
    store = open_store(None, tmp_path, None)
    yield store
    store.close()


@pytest.fixture
def services(repository: Repository) -> Iterator[Services]:
    yield Services(FakeProvisioning(repository))
    engine = running_engine()
    if engine is not None:  # never leak a launched engine into other tests
        engine.close()


def app_id(repository: Repository) -> str:
    return repository.add_application(
        "Acme Sync", environment="sod", client_id="cid", client_secret="secret"
    ).id


def test_the_engine_starts_and_stops_twice_in_one_process(services: Services) -> None:
    first = start_engine(services, executor_id="one")
    assert running_engine() is first
    second = start_engine(services, executor_id="two")  # replaces the first
    assert running_engine() is second
    second.close()
    assert running_engine() is None
    third = start_engine(services, executor_id="three")
    third.close()
    assert running_engine() is None


def test_queue_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="worker_concurrency"):
        QueueLimits(worker_concurrency=0)
    with pytest.raises(ValueError, match="per_host_rate"):
        QueueLimits(per_host_rate=0)


def test_a_fleet_job_runs_one_workflow_per_tenant(services: Services) -> None:
    app = app_id(services.repository)
    targets = tuple((app, f"Cust{n}") for n in range(1, 13))
    engine = start_engine(services, executor_id="w1", limits=QueueLimits(per_host_rate=50))
    with Jobs(services.repository) as jobs:
        job_id = jobs.submit_fleet(FleetJob("apply", targets, "tester"))
        assert job_id.startswith("fleet-apply-")
        events: list[Any] = []
        info = jobs.follow(job_id, events.append)
        assert info.status == "succeeded"
        assert info.counts["total"] == 12
        assert (info.counts["succeeded"], info.counts["skipped"], info.counts["failed"]) == (
            8,
            3,
            1,
        )
        rows = {row.context_identifier: row for row in jobs.tenants(job_id)}
        assert rows["Cust3"].outcome == "skipped"
        assert rows["Cust3"].state == "OfflineMaintenance"
        assert rows[STOPS].outcome == "skipped"
        assert rows[BROKEN].outcome == rows[BROKEN].status == "failed"
        assert rows[BROKEN].error is not None
        assert rows[BROKEN].error.startswith("ApiConflictError: ")
        assert rows["Cust2"].host == "sod3.example.test"
        assert rows["Cust2"].workflow_id == f"{job_id}/{app}/cust2"
        # A tenant's work is its workflow's own, not a step (issue 14: a step cost the engine
        # four statements per tenant and repeated the result the workflow records).
        assert jobs.client.list_workflow_steps(rows["Cust2"].workflow_id) == []
        assert events[-1].kind == "done"
        # Each tenant reported as started once and as ended once (follow reads only what
        # changed between polls, then every tenant once at the end).
        everyone = Counter({f"cust{n}": 1 for n in range(1, 13)})
        for kinds in (("started",), ("finished", "skipped", "failed")):
            told = [e.context_identifier for e in events if e.kind in kinds]
            assert Counter(ctx.casefold() for ctx in told) == everyone, kinds
        assert jobs.wait(job_id) == "succeeded"
        # The job's own result: its tenants counted by outcome once none was active.
        [job_row] = jobs.client.list_workflows(workflow_ids=[job_id])
        assert job_row.output == {"succeeded": 8, "skipped": 3, "failed": 1, "total": 12}
        summary = jobs.summary(job_id)
        assert summary.counts == {"succeeded": 8, "skipped": 3, "failed": 1, "total": 12}
        assert {r.value for r in summary.succeeded} == {
            f"applied Cust{n}" for n in (1, 2, 4, 6, 8, 10, 11, 12)
        }
        # Offline tenants were never called; every other tenant exactly once.
        assert set(services.provisioning.calls) == {f"Cust{n}" for n in range(1, 13)} - OFFLINE
        assert set(services.provisioning.calls.values()) == {1}
        # The store lock's owner names the workflow, its executor and the execution (issue 13:
        # two executions of one workflow on one worker must not share the lock).
        assert any(o.startswith(f"{job_id}/{app}/cust1@w1/") for o in services.provisioning.owners)
        listed = jobs.list()
        assert [j.job_id for j in listed] == [job_id]
        assert jobs.list(status="failed") == []
        with pytest.raises(ValueError, match="status is one of"):
            jobs.list(status="exploded")

        # Retrying a finished job runs its failed tenant again, as a new job.
        retried = jobs.retry(job_id, actor="tester")
        assert retried != job_id
        again = jobs.follow(retried)
        assert again.counts["total"] == again.counts["failed"] == 1
        assert services.provisioning.calls[BROKEN] == 2
        with pytest.raises(JobNotFoundError):
            jobs.show("fleet-apply-000000000000")
    engine.close()


def test_a_cancelled_job_stops_and_resumes_on_retry(services: Services) -> None:
    app = app_id(services.repository)
    gate = threading.Event()
    services.provisioning.gate = gate
    targets = tuple((app, f"Cust{n}") for n in (1, 2, 4, 6))
    engine = start_engine(
        services, executor_id="w1", limits=QueueLimits(worker_concurrency=1, per_host_rate=50)
    )
    try:
        with Jobs(services.repository) as jobs:
            job_id = jobs.submit_fleet(FleetJob("apply", targets, "tester"))
            assert services.provisioning.started.acquire(timeout=60)  # one tenant is running
            with pytest.raises(JobError, match="still"):
                jobs.retry(job_id, actor="tester")
            cancelled = jobs.cancel(job_id)
            assert cancelled.status == "cancelled"
            gate.set()
            assert jobs.retry(job_id, actor="tester") == job_id
            done = jobs.follow(job_id)
            assert done.status == "succeeded"
            assert done.counts["succeeded"] == 4
            # Resumed, not restarted: only the tenant whose work was under way when the job
            # was cancelled runs it again (an apply is idempotent: it reads back first).
            calls = services.provisioning.calls
            assert set(calls) == {ctx for _, ctx in targets}
            assert sorted(calls.values())[:-1] == [1, 1, 1]
            assert calls.most_common(1)[0][1] <= 2
    finally:
        gate.set()
        engine.close()


def test_a_fleets_tenants_are_enqueued_a_batch_at_a_time_and_each_once(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: through the jobs client, a batch per transaction (no engine needed: nothing
    # runs them here, so they stay queued as enqueued).
    monkeypatch.setattr(client_module, "ENQUEUE_BATCH", 2)
    app = app_id(repository)
    job = FleetJob("apply", tuple((app, f"Cust{n}") for n in range(1, 6)), "tester")
    entries = [
        (tenant_workflow_id("fleet-apply-0", t.application_id, t.context_identifier), t, "sod2")
        for t in job.tasks()
    ]
    asked = itertools.count()
    with Jobs(repository) as jobs:
        # Asked before each batch: told to stop (the job was cancelled) after the first one.
        assert jobs.enqueue_fleet_tenants(entries, stop=lambda: next(asked) >= 1) == 2
        assert next(asked) == 2
        jobs.client.cancel_workflows([entries[0][0]])
        # Enqueued again (the step cut off, or the job resumed): the rest are added, the
        # ones there already are left as they are (the cancelled one is not restarted).
        assert jobs.enqueue_fleet_tenants(entries) == 5
        rows = {
            row.workflow_id: row
            for row in jobs.client.list_workflows(workflow_id_prefix="fleet-apply-0/")
        }
        assert sorted(rows) == sorted(wid for wid, _, _ in entries)
        assert {row.name for row in rows.values()} == {"sotk.fleet_tenant"}
        assert {row.queue_partition_key for row in rows.values()} == {"sod2"}
        assert {row.app_version for row in rows.values()} == {APPLICATION_VERSION}
        assert [rows[wid].status for wid, _, _ in entries] == ["CANCELLED"] + ["ENQUEUED"] * 4
        assert rows[entries[3][0]].input["args"][0] == job.tasks()[3]
        # A fleet's tenants are not jobs of their own.
        assert jobs.list() == []


def test_a_job_polls_its_tenants_more_often_in_their_last_round(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: every half second while more than WAIT_END_TENANTS are queued or running,
    # every tenth of a second after, so the job ends soon after its last tenant.
    monkeypatch.setattr(workflows, "WAIT_END_TENANTS", 2)
    app = app_id(services.repository)
    job = FleetJob("apply", tuple((app, f"Cust{n}") for n in range(1, 6)), "tester")
    tasks = job.tasks()
    ids = [tenant_workflow_id("fleet-apply-0", app, t.context_identifier) for t in tasks]
    engine = start_engine(services, executor_id="w", listen=False)  # they stay queued
    try:
        jobs = engine.jobs
        jobs.enqueue_fleet_tenants(
            (wid, task, "sod2") for wid, task in zip(ids, tasks, strict=True)
        )
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # a tenant ends during each wait
            waits.append(seconds)
            jobs.client.cancel_workflows([ids[len(waits) - 1]])

        monkeypatch.setattr(workflows, "time", SimpleNamespace(sleep=sleep))
        counts = workflows.wait_for_tenants("fleet-apply-0")
    finally:
        engine.close()
    assert waits == [0.5, 0.5, 0.5, 0.1, 0.1]
    assert (counts["total"], counts["failed"]) == (5, 5)  # cancelled: not succeeded


def test_the_job_clients_sqlite_connections_write_as_the_engines_do(
    repository: Repository,
) -> None:
    # They take the store's writer turn, open writes with BEGIN IMMEDIATE and commit with
    # synchronous = NORMAL, as DBOS's own connections in toolkit.jobs.engine.
    engine = client_engine(system_database_url(repository))
    try:
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert isinstance(raw, SystemDatabaseConnection)
            assert raw.isolation_level == "IMMEDIATE"
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_a_tenant_whose_state_cannot_be_read_fails_under_no_host(services: Services) -> None:
    app = app_id(services.repository)

    def broken(application: str, ctx: str, *, refresh: bool = False, **_: Any) -> TenantStatus:
        raise RuntimeError("the state API is down")

    services.provisioning.tenants.status = broken  # type: ignore[method-assign]
    engine = start_engine(services, executor_id="w1")
    try:
        with Jobs(services.repository) as jobs:
            job_id = jobs.submit_fleet(FleetJob("apply", ((app, "Cust1"),), "tester"))
            info = jobs.follow(job_id)
            (row,) = jobs.tenants(job_id)
            assert info.counts["failed"] == 1
            assert row.host == NO_HOST
            assert row.error is not None
            assert row.error == "RuntimeError: the state API is down"
    finally:
        engine.close()


def test_a_fleet_routes_its_tenants_asking_the_state_api_for_several_at_once(
    services: Services,
) -> None:
    """Routing waits for no tenant's answer before asking about the next: the first four
    state calls meet at a barrier, which they pass only when asked together (one after the
    other, the first would wait out the barrier's hang guard and every tenant would land under
    NO_HOST)."""
    app = app_id(services.repository)
    tenants = ("Cust1", "Cust2", "Cust4", "Cust6")
    meet = threading.Barrier(len(tenants), timeout=60)
    asked: list[str] = []
    lock = threading.Lock()

    def status(application: str, ctx: str, *, refresh: bool = False, **_: Any) -> TenantStatus:
        with lock:
            asked.append(ctx)
            first = len(asked) <= len(tenants)
        if first:
            meet.wait()
        return status_of(ctx)

    services.provisioning.tenants.status = status  # type: ignore[method-assign]
    engine = start_engine(services, executor_id="w1", limits=QueueLimits(per_host_rate=50))
    try:
        with Jobs(services.repository) as jobs:
            job = FleetJob("apply", tuple((app, ctx) for ctx in tenants), "tester")
            job_id = jobs.submit_fleet(job)
            info = jobs.follow(job_id)
            assert info.counts["succeeded"] == len(tenants)
            assert not meet.broken  # the four routing calls were in flight together
            hosts = {row.context_identifier: row.host for row in jobs.tenants(job_id)}
            assert hosts == {
                "Cust1": "sod2.example.test",
                "Cust2": "sod3.example.test",
                "Cust4": "sod3.example.test",
                "Cust6": "sod3.example.test",
            }
    finally:
        engine.close()


def test_the_lock_lease_setting_defaults_to_the_apply_lock() -> None:
    from toolkit.config import DEFAULT_LOCK_SECONDS, Settings
    from toolkit.provisioning.apply import LOCK_TTL

    assert LOCK_TTL.total_seconds() == DEFAULT_LOCK_SECONDS
    assert Settings(_env_file=None).provisioning_lock_seconds == DEFAULT_LOCK_SECONDS  # type: ignore[call-arg]


def _age(repository: Repository, workflow_id: str, seconds: float) -> None:
    # As DBOS leaves it while a workflow runs: updated_at at its dequeue, long ago.
    table = workflow_status_table(None)
    with repository.engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.workflow_uuid == workflow_id)
            .values(updated_at=int((time.time() - seconds) * 1000))
        )


def test_a_live_workflow_is_kept_alive_and_a_stalled_one_is_claimed_by_one_worker(
    services: Services,
) -> None:
    # Issue 13: a live worker's slow apply was resumed while it ran, by two survivors at once.
    app = app_id(services.repository)
    gate = threading.Event()
    services.provisioning.gate = gate
    database = services.repository.engine
    table = workflow_status_table(None)
    engine = start_engine(services, executor_id="w1", limits=QueueLimits(per_host_rate=50))
    try:
        with Jobs(services.repository) as jobs:
            job_id = jobs.submit_fleet(FleetJob("apply", ((app, "Cust1"),), "tester"))
            assert services.provisioning.started.acquire(timeout=60)  # running at w1
            running = tenant_workflow_id(job_id, app, "Cust1")
            _age(services.repository, running, 600)
            assert [s[0] for s in stalled(database, table, "w2", 60)] == [running]
            # w1 is alive: its keep-alive makes the workflow recent again.
            assert keep_alive(database, table, "w1") >= 1
            assert stalled(database, table, "w2", 60) == []
            # w1 went silent: two survivors list it; only the first one's claim holds.
            _age(services.repository, running, 600)
            [seen] = stalled(database, table, "w2", 60)
            [seen_too] = stalled(database, table, "w3", 60)
            assert claim(database, table, "w2", seen)
            assert not claim(database, table, "w3", seen_too)
            assert take_over_stalled(database, table, "w3", 60) == []
            gate.set()
            assert jobs.follow(job_id).status == "succeeded"
    finally:
        gate.set()
        engine.close()
