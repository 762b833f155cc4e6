"""Tenant states and the state API document (protocol §6).

`GET /api/state/{ctx}` on the login host, no authentication (none is shown in any source).

Unknown tenants (open question 15): the emulator answers **200** with `State: "Unknown"`,
`IsRunning: false`, `Endpoint`, `Api` and `Version` null, and `ContextIdentifier` echoing the
request, since the reference defines `Unknown (0)` as "unknown tenant or environment problem"
and no source shows a 404 [I].
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from toolkit.emulator.world import Tenant, World

STATE_PATH = "/api/state/{ctx}"

# name -> number (protocol §6; 7 and 9 are unused).
STATE_NUMBERS: dict[str, int] = {
    "Unknown": 0,
    "Provisioning": 1,
    "Running": 2,
    "Deleted": 3,
    "Suspended": 4,
    "OnlineMaintenance": 5,
    "OfflineMaintenance": 6,
    "ProvisioningFailed": 8,
    "Deleting": 10,
    "DeleteFailed": 11,
    "MigrationPending": 12,
}
RUNNING_STATES = ("Running", "OnlineMaintenance")  # IsRunning is true only for these (§6)

# ValidUntil = "when to check next time" (§6). The real TTLs are undocumented [I]: a running
# tenant may be cached for 5 minutes; a tenant that is not running is asked again after 30 s,
# so a client notices the end of maintenance soon.
STATE_TTL_RUNNING = 300
STATE_TTL_NOT_RUNNING = 30


def is_running(state: str) -> bool:
    return state in RUNNING_STATES


def format_valid_until(epoch: float) -> str:
    """ISO-8601 UTC with 7 fractional digits and Z, e.g. `2026-02-23T09:52:01.9342965Z`."""
    ticks = round(epoch * 10_000_000)  # .NET ticks resolution (100 ns)
    seconds, fraction = divmod(ticks, 10_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:07d}Z"


def current_state(world: World, tenant: Tenant) -> str:
    """The tenant's state now; an Upgrade's OfflineMaintenance ends by itself."""
    with world.lock:
        until = tenant.maintenance_until
        if tenant.state == "OfflineMaintenance" and until is not None and world.now() >= until:
            with world.changing():
                tenant.state, tenant.maintenance_until = "Running", None
        return tenant.state


def valid_until(world: World, tenant: Tenant | None, state: str) -> float:
    now = world.now()
    if is_running(state):
        return now + STATE_TTL_RUNNING
    ttl = now + STATE_TTL_NOT_RUNNING
    if tenant is not None and tenant.maintenance_until is not None:
        return min(ttl, tenant.maintenance_until)
    return ttl


def state_document(world: World, ctx: str) -> dict[str, Any]:
    tenant = world.find_tenant(ctx)
    if tenant is None:
        return {
            "ContextIdentifier": ctx,
            "Endpoint": None,
            "State": "Unknown",
            "IsRunning": False,
            "ValidUntil": format_valid_until(valid_until(world, None, "Unknown")),
            "Api": None,
            "Version": None,
        }
    state = current_state(world, tenant)
    endpoint = world.tenant_url(tenant)
    return {
        "ContextIdentifier": tenant.ctx,
        "Endpoint": endpoint,
        "State": state,
        "IsRunning": is_running(state),
        "ValidUntil": format_valid_until(valid_until(world, tenant, state)),
        "Api": None if endpoint is None else f"{endpoint}/api",
        "Version": tenant.version,
    }
