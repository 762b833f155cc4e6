"""Case 6, ``engine``: the first apply of the fleet through the durable engine (``apply_fleet``:
one DBOS workflow per tenant, its state check and its apply as checkpointed steps, queues
partitioned by tenant host) against the very same work without it (``run_fleet`` over
``Provisioning.apply`` on threads, the state looked up through ``TenantAccess.status``), in one
run (same fleet, latency and load).

Both start from a fleet without the application's objects: before each measured apply the
fleet is uninstalled without the engine (not measured), so both make the same creates. The
engine's own cost is the CPU time the client spends beyond the direct run, per tenant workflow
and per step (:data:`STEPS_PER_TENANT` steps each, plus the fleet job's routing step). The fleet
is left applied, as case 3 leaves it.
"""

from __future__ import annotations

from typing import Any, Final

from benchmarks.cases import Measured, _check_fleet, manifest_text, measure, summarize
from benchmarks.world import PUBLIC_URL, BenchWorld

ACTOR = "bench"
# A tenant workflow's steps: its state check and its unit of work (toolkit/jobs/workflows.py).
STEPS_PER_TENANT: Final = 2


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


def _direct(world: BenchWorld, service: Any) -> Measured:
    from toolkit.provisioning.fleet import run_fleet

    access = world.access
    _uninstall_directly(world, service)
    with measure(world) as measured:
        summary = run_fleet(
            world.targets,
            lambda app, ctx: service.apply(app.id, ctx, actor=ACTOR),
            status=lambda app, ctx: access.status(app.id, ctx),
            concurrency=world.concurrency,
        )
    _check_fleet(summary, "apply without the engine")
    return measured


def _engine(world: BenchWorld, service: Any) -> Measured:
    from toolkit.provisioning.fleet import apply_fleet

    _uninstall_directly(world, service)
    with measure(world) as measured:
        summary = apply_fleet(service, world.targets, actor=ACTOR, concurrency=world.concurrency)
    _check_fleet(summary, "apply through the engine")
    return measured


def engine(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    service = _service(world)
    direct = []
    through = []
    for _ in range(repeat):  # interleaved: a load change hits both alike
        direct.append(_direct(world, service))
        through.append(_engine(world, service))
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
    result["engine_cpu_ms_per_step"] = round(1000 * extra_cpu / (n * STEPS_PER_TENANT + 1), 3)
    result["targets"] = {"ratio_to_direct": "<= 1.2"}
    return result
