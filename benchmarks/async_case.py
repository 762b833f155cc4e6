"""Case 5, ``async_api``: the cold exchange and the re-plan through the async API, beside the
same two through the sync API, in one run (same fleet, same latency, same machine load).

* cold exchange: every stored ticket deleted, a fresh ``TenantAccess`` (no ticket in memory, no
  JWKS), then a ticket for every tenant. Async: ``AsyncWorkspace.ticket`` for all tenants on one
  event loop, at most ``concurrency`` at a time (an ``asyncio.Semaphore``), one pooled
  ``httpx.AsyncClient``. Sync: ``run_fleet`` over ``TicketManager.ticket`` (case 1's toolkit
  figure, measured again here).
* re-plan: the provisioning manifest of case 3, applied once if the fleet is not at it yet (not
  measured), then ``AsyncWorkspace.plan`` for every tenant (same concurrency) against
  ``run_fleet`` over ``Provisioning.plan`` on threads (the same planning code; case 3's
  ``plan_fleet`` adds the job engine); every plan must be empty.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from benchmarks.cases import (
    Measured,
    _changes,
    _check_fleet,
    _median_run,
    manifest_text,
    measure,
    summarize,
)
from benchmarks.counting import AsyncCountingTransport
from benchmarks.world import MAX_CONNECTIONS, PUBLIC_URL, BenchWorld

ACTOR = "bench"


def _async_client(world: BenchWorld) -> httpx.AsyncClient:
    from toolkit.http import create_async_client

    limit = max(MAX_CONNECTIONS, world.concurrency)
    inner = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    )
    return create_async_client(transport=AsyncCountingTransport(inner, world.counter))


def _fleet(
    world: BenchWorld, work: Callable[[Any, Any, str], Awaitable[Any]]
) -> tuple[Measured, list[Any]]:
    """``work(aws, app, ctx)`` for every tenant on one event loop, ``concurrency`` at a time,
    through a fresh AsyncWorkspace over the world's workspace (its current TenantAccess)."""
    from toolkit.async_workspace import AsyncWorkspace

    targets = world.targets

    async def run() -> tuple[Measured, list[Any]]:
        gate = asyncio.Semaphore(world.concurrency)
        async with AsyncWorkspace.of(world.workspace, http=_async_client(world)) as aws:

            async def one(app: Any, ctx: str) -> Any:
                async with gate:
                    return await work(aws, app, ctx)

            with measure(world) as measured:
                results = await asyncio.gather(*(one(app, ctx) for app, ctx in targets))
            return measured, list(results)

    return asyncio.run(run())


def _fresh_access(world: BenchWorld) -> Any:
    """No ticket stored or in memory, no JWKS, no state: a cold start for both APIs."""
    world.forget_tickets()
    access = world.new_access()
    world.workspace.tenants = access  # the AsyncWorkspace shares the workspace's access
    return access


def _async_cold(world: BenchWorld) -> Measured:
    _fresh_access(world)

    async def ticket(aws: Any, app: Any, ctx: str) -> Any:
        return await aws.ticket(app.id, ctx)

    measured, _tickets = _fleet(world, ticket)
    return measured


def _sync_cold(world: BenchWorld) -> Measured:
    from toolkit.provisioning.fleet import run_fleet

    access = _fresh_access(world)
    with measure(world) as measured:
        summary = run_fleet(
            world.targets,
            lambda app, ctx: access.tickets.ticket(app.id, ctx),
            concurrency=world.concurrency,
        )
    _check_fleet(summary, "cold exchange (sync)")
    return measured


def _provisioned(world: BenchWorld) -> Any:
    """The provisioning service with case 3's manifest, applied across the fleet if needed."""
    from toolkit.provisioning.fleet import apply_fleet, plan_fleet
    from toolkit.provisioning.service import Provisioning

    service = Provisioning(world.repository, world.access, public_url=PUBLIC_URL)
    service.set_manifest(world.targets[0][0].id, manifest_text(), actor=ACTOR)
    plans = plan_fleet(service, world.targets, concurrency=world.concurrency)
    _check_fleet(plans, "plan before the async re-plan")
    if any(r.value is not None and _changes(r.value) for r in plans.results):
        summary = apply_fleet(service, world.targets, actor=ACTOR, concurrency=world.concurrency)
        _check_fleet(summary, "apply before the async re-plan")
    return service


def _async_replan(world: BenchWorld) -> tuple[Measured, int]:
    async def plan(aws: Any, app: Any, ctx: str) -> Any:
        return await aws.plan(app.id, ctx)

    measured, plans = _fleet(world, plan)
    return measured, sum(1 for p in plans if _changes(p))


def _sync_replan(world: BenchWorld, service: Any) -> tuple[Measured, int]:
    """The same planning code on threads: ``run_fleet`` over ``Provisioning.plan`` (like for
    like with the async fleet; case 3's ``plan_fleet`` runs on the job engine instead)."""
    from toolkit.provisioning.fleet import run_fleet

    with measure(world) as measured:
        plans = run_fleet(
            world.targets,
            lambda app, ctx: service.plan(app.id, ctx),
            concurrency=world.concurrency,
        )
    _check_fleet(plans, "re-plan (sync)")
    changes = sum(1 for r in plans.results if r.value is not None and _changes(r.value))
    return measured, changes


def _figures(world: BenchWorld, runs: list[Measured]) -> dict[str, Any]:
    n = world.n
    middle = _median_run(runs)
    return {
        "wall_seconds": round(statistics.median(r.wall_seconds for r in runs), 3),
        "wall_seconds_runs": [round(r.wall_seconds, 3) for r in runs],
        "cpu_seconds": round(statistics.median(r.cpu_seconds for r in runs), 3),
        "requests": middle.requests,
        "requests_per_tenant": round(middle.total_requests / n, 3),
        "exchanges_per_tenant": round(middle.requests.get("exchange", 0) / n, 3),
        "emulator_exchanges_per_tenant": round(middle.credentials / n, 3),
    }


def async_api(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    sync_cold = [_sync_cold(world) for _ in range(repeat)]
    async_cold = [_async_cold(world) for _ in range(repeat)]  # last: tickets for the re-plans
    service = _provisioned(world)
    sync_replans = [_sync_replan(world, service) for _ in range(repeat)]
    async_replans = [_async_replan(world) for _ in range(repeat)]
    result = summarize("async_api", world, async_cold, latency_ms)
    result["phase"] = "cold exchange through AsyncWorkspace (re-plan and the sync figures below)"
    sync_cold_figures = _figures(world, sync_cold)
    result["ratio_to_sync"] = round(sync_cold_figures["wall_seconds"] / result["wall_seconds"], 2)
    replan = _figures(world, [m for m, _ in async_replans])
    replan["tenants_with_changes"] = max(c for _, c in async_replans)
    sync_replan = _figures(world, [m for m, _ in sync_replans])
    sync_replan["tenants_with_changes"] = max(c for _, c in sync_replans)
    replan["ratio_to_sync"] = round(sync_replan["wall_seconds"] / replan["wall_seconds"], 2)
    result["replan"] = replan
    result["sync"] = {"cold_exchange": sync_cold_figures, "replan": sync_replan}
    result["targets"] = {"exchanges_per_tenant": "== 1", "replan_tenants_with_changes": "== 0"}
    return result
