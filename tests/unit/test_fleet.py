"""Fleet work: bounded concurrency, per-host rate limit, skipped tenants, events, summary."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from toolkit.errors import TenantNotRunningError
from toolkit.provisioning import FleetEvent, TokenBucket, run_fleet
from toolkit.store import Application, Secret
from toolkit.tenant import TenantState, TenantStatus


def application(name: str = "Acme Sync") -> Application:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return Application(
        id=f"id-{name}",
        name=name,
        environment="sod",
        environment_url=None,
        client_id="c",
        client_secret=Secret.of("s"),
        private_key=None,
        redirect_uri=None,
        kind="standard",
        model="internal",
        tenant=None,
        key_fingerprint=None,
        created_at=now,
        updated_at=now,
    )


def status_of(
    ctx: str, state: TenantState = TenantState.Running, host: str = "sod2"
) -> TenantStatus:
    running = state in (TenantState.Running,)
    return TenantStatus(
        context_identifier=ctx,
        endpoint=f"https://{host}.example.test/{ctx}",
        state=state,
        is_running=running,
        valid_until=None,
        api=f"https://{host}.example.test/{ctx}/api",
        state_name=state.name,
    )


def test_a_fleet_runs_every_tenant_with_bounded_concurrency() -> None:
    app = application()
    tenants = [(app, f"Cust{n}") for n in range(20)]
    offline = {"Cust3", "Cust7"}
    active = 0
    peak = 0
    lock = threading.Lock()

    def status(a: Application, ctx: str) -> TenantStatus:
        state = TenantState.OfflineMaintenance if ctx in offline else TenantState.Running
        return status_of(ctx, state)

    def unit(a: Application, ctx: str) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        if ctx == "Cust5":
            raise RuntimeError("boom")
        return ctx.lower()

    events: list[FleetEvent] = []
    summary = run_fleet(tenants, unit, status=status, concurrency=4, on_event=events.append)
    assert peak <= 4
    assert summary.counts == {"succeeded": 17, "skipped": 2, "failed": 1, "total": 20}
    assert {r.context_identifier for r in summary.skipped} == offline
    assert all(r.state == "OfflineMaintenance" for r in summary.skipped)
    assert all(r.error_type == "TenantNotRunningError" for r in summary.skipped)
    (failed,) = summary.failed
    assert (failed.context_identifier, failed.error_type, failed.error) == (
        "Cust5",
        "RuntimeError",
        "boom",
    )
    assert summary.succeeded[0].value == "cust0"
    assert summary.wall_time > 0
    kinds = [e.kind for e in events]
    assert kinds.count("started") == 18
    assert kinds.count("skipped") == 2
    assert kinds[-1] == "done"
    assert events[-1].counts.finished == 20
    assert len(summary.rows()) == 20


def test_a_tenant_that_stops_running_mid_unit_is_skipped() -> None:
    app = application()

    def unit(a: Application, ctx: str) -> None:
        raise TenantNotRunningError("went offline", state=TenantState.OfflineMaintenance)

    summary = run_fleet([(app, "Cust1")], unit)
    assert summary.counts["skipped"] == 1
    assert summary.skipped[0].state == "OfflineMaintenance"


def test_the_per_host_rate_spaces_out_units_on_one_host() -> None:
    app = application()
    starts: dict[str, list[float]] = {"sod2": [], "sod3": []}

    def status(a: Application, ctx: str) -> TenantStatus:
        return status_of(ctx, host="sod2" if ctx.endswith(("0", "2", "4")) else "sod3")

    def unit(a: Application, ctx: str) -> None:
        host = "sod2" if ctx.endswith(("0", "2", "4")) else "sod3"
        starts[host].append(time.monotonic())

    tenants = [(app, f"Cust{n}") for n in range(6)]
    begun = time.monotonic()
    summary = run_fleet(
        tenants, unit, status=status, concurrency=6, per_host_rate=10, per_host_burst=1
    )
    assert summary.counts["succeeded"] == 6
    # 3 units per host at 10/s with a burst of 1: the third starts >= ~0.2 s after the first.
    for times in starts.values():
        assert max(times) - begun >= 0.15


def test_a_token_bucket_waits_for_tokens() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, 2.0, clock=lambda: now[0], sleep=sleep)
    assert bucket.acquire() == 0
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0)
