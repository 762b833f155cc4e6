"""Case 6, ``engine``: the first apply of the fleet through the durable engine (``apply_fleet``:
one DBOS workflow per tenant doing its state check and its apply itself, no step, queues
partitioned by tenant host) against the very same work without it (``run_fleet`` over
``Provisioning.apply`` on threads, the state looked up through ``TenantAccess.status``), in one
run (same fleet, latency and load).

Both start from a fleet without the application's objects: before each measured apply the
fleet is uninstalled without the engine (not measured), so both make the same creates. The
engine's own cost is the CPU time the client spends beyond the direct run, per tenant workflow
and per checkpoint (what the engine records: :data:`CHECKPOINTS_PER_TENANT` per tenant, plus
the fleet job's :data:`JOB_STEPS` steps). The SQL statements both runs send are counted at the
cursor (SQLite's ``BEGIN`` included), the store's apart from the engine's (DBOS's system tables,
through its own connections and the job client's): the engine's per tenant workflow and per
checkpoint. Its polling (the queues every
:data:`~toolkit.jobs.queues.QUEUE_POLL_SECONDS`, the job followed until it ends) is in them too,
so they grow with the run's length as well as with N. The fleet is left applied, as case 3
leaves it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Engine

from benchmarks.cases import (
    Measured,
    _check_fleet,
    _median_run,
    manifest_text,
    measure,
    summarize,
)
from benchmarks.world import PUBLIC_URL, BenchWorld

ACTOR = "bench"
# What the engine records per tenant: its workflow enqueued (status and input, written by the
# job's enqueue step a batch per transaction since issue 14's sixth round; before, the job
# wrote each one, with a record of its own of having done so) and the workflow's result. Its
# state check and unit of work are the workflow's own since the fifth round, no step
# (toolkit/jobs/workflows.py); they were one step before, two before the second round.
CHECKPOINTS_PER_TENANT: Final = 2
# The fleet job's own steps: routing its tenants, enqueueing them, waiting for them.
JOB_STEPS: Final = 3


@dataclass
class Statements:
    """SQL statements sent during a block: the store's, and every other engine's (the job
    engine's system database, DBOS's and the job client's connections)."""

    store: int = 0
    engine: int = 0


@contextmanager
def count_statements(store: Engine) -> Iterator[Statements]:
    counted = Statements()
    lock = threading.Lock()

    def seen(connection: Any, *_: Any) -> None:
        with lock:
            if connection.engine is store:
                counted.store += 1
            else:
                counted.engine += 1

    # On the Engine class: DBOS builds its engines inside the run (the engine started for the job).
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield counted
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


def _service(world: BenchWorld) -> Any:
    from toolkit.provisioning.service import Provisioning

    service = Provisioning(world.repository, world.access, public_url=PUBLIC_URL)
    app_id = world.targets[0][0].id
    if service.manifest_for(app_id) is None:
        service.set_manifest(app_id, manifest_text(), actor=ACTOR)
    return service


def _uninstall_directly(world: BenchWorld, service: Any) -> None:
    from toolkit.provisioning.fleet import run_fleet

    summary = run_fleet(
        world.targets,
        lambda app, ctx: service.uninstall(app.id, ctx, actor=ACTOR),
        concurrency=world.concurrency,
    )
    _check_fleet(summary, "uninstall before an apply")


def _direct(world: BenchWorld, service: Any) -> tuple[Measured, Statements]:
    from toolkit.provisioning.fleet import run_fleet

    access = world.access
    _uninstall_directly(world, service)
    with count_statements(world.repository.engine) as statements, measure(world) as measured:
        summary = run_fleet(
            world.targets,
            lambda app, ctx: service.apply(app.id, ctx, actor=ACTOR),
            status=lambda app, ctx: access.status(app.id, ctx),
            concurrency=world.concurrency,
        )
    _check_fleet(summary, "apply without the engine")
    return measured, statements


def _engine(world: BenchWorld, service: Any) -> tuple[Measured, Statements]:
    from toolkit.provisioning.fleet import apply_fleet

    _uninstall_directly(world, service)
    with count_statements(world.repository.engine) as statements, measure(world) as measured:
        summary = apply_fleet(service, world.targets, actor=ACTOR, concurrency=world.concurrency)
    _check_fleet(summary, "apply through the engine")
    return measured, statements


def engine(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    service = _service(world)
    direct: list[Measured] = []
    through: list[Measured] = []
    statements: list[tuple[Statements, Statements]] = []
    for _ in range(repeat):  # interleaved: a load change hits both alike
        plain_run, plain_statements = _direct(world, service)
        engine_run, engine_statements = _engine(world, service)
        direct.append(plain_run)
        through.append(engine_run)
        statements.append((plain_statements, engine_statements))
    result = summarize("engine", world, through, latency_ms)
    result["phase"] = "first apply through the job engine (the same work without it below)"
    plain = summarize("engine_direct", world, direct, latency_ms)
    result["direct"] = {
        key: plain[key]
        for key in ("wall_seconds", "wall_seconds_runs", "cpu_seconds", "requests_per_tenant")
    }
    result["direct"]["requests"] = plain["requests"]
    result["ratio_to_direct"] = round(result["wall_seconds"] / plain["wall_seconds"], 3)
    extra_cpu = result["cpu_seconds"] - plain["cpu_seconds"]
    n = world.n
    result["engine_cpu_ms_per_tenant"] = round(1000 * extra_cpu / n, 3)
    checkpoints = n * CHECKPOINTS_PER_TENANT + JOB_STEPS
    result["engine_cpu_ms_per_checkpoint"] = round(1000 * extra_cpu / checkpoints, 3)
    result["checkpoints_per_tenant"] = CHECKPOINTS_PER_TENANT
    # Counts of the engine's median run (by wall time), its direct run beside it.
    plain_statements, engine_statements = statements[through.index(_median_run(through))]
    result["sql_statements"] = {
        "direct_store": plain_statements.store,
        "store": engine_statements.store,
        "engine": engine_statements.engine,
        "engine_per_tenant": round(engine_statements.engine / n, 2),
        "engine_per_checkpoint": round(engine_statements.engine / checkpoints, 2),
        "store_per_tenant_beyond_direct": round(
            (engine_statements.store - plain_statements.store) / n, 2
        ),
    }
    result["targets"] = {"ratio_to_direct": "<= 1.2"}
    return result
