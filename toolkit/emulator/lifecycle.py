"""Tenant lifecycle actions of the control plane: state changes, moves, and the state-change
webhooks they send (protocol §6).

Effects on the tenant's State [I where the reference is silent]:
- Upgrade: the version changes (`version`, or the release label's last number + 1). With
  `duration` > 0 seconds the tenant is OfflineMaintenance until then (emulator clock), and
  Running afterwards; with the default 0 it stays Running.
- BackupRestored: no state change. Suspend: Suspended. Resume: Running. Delete: Deleted.
- Move: the tenant now lives on `host`; `PublicEndpoint` is that host's `host:port` (the
  emulator's equivalent of "sod3.superoffice.com"). The old host answers 421 from now on.
Each sends a NotificationMessage to every approving app with a state-change URL, unless
`notify` is false. Setting a State directly (`set_state`) sends nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from toolkit.emulator.errors import WorldError
from toolkit.emulator.webhooks import CHANGE_TYPES, Webhooks
from toolkit.emulator.world import TENANT_STATES, Tenant, World

_CHANGE_STATES = {"Suspend": "Suspended", "Resume": "Running", "Delete": "Deleted"}
MAX_UPGRADE_SECONDS = 24 * 3600


def _tenant(world: World, ctx: str) -> Tenant:
    tenant = world.find_tenant(ctx)
    if tenant is None:
        raise WorldError("not_found", f"no tenant {ctx}", 404)
    return tenant


def next_version(version: str) -> str:
    match = re.fullmatch(r"(.*?)(\d+)", version)
    if match is None:
        return version + "-01"
    digits = match.group(2)
    return match.group(1) + str(int(digits) + 1).zfill(len(digits))


def set_state(world: World, ctx: str, state: Any) -> Tenant:
    if state not in TENANT_STATES:
        raise WorldError("invalid_state", f"state must be one of {', '.join(TENANT_STATES)}")
    with world.changing():
        tenant = _tenant(world, ctx)
        tenant.state, tenant.maintenance_until = state, None
        return tenant


def apply_change(
    world: World,
    webhooks: Webhooks,
    ctx: str,
    change: Any,
    *,
    host: Any = None,
    version: Any = None,
    duration: Any = 0,
    notify: Any = True,
) -> dict[str, Any]:
    if change not in CHANGE_TYPES:
        raise WorldError("invalid_change", f"change must be one of {', '.join(CHANGE_TYPES)}")
    if not isinstance(notify, bool):
        raise WorldError("invalid_change", "notify must be true or false")
    public_endpoint = None
    with world.changing():
        tenant = _tenant(world, ctx)
        if change == "Move":
            if host not in world.hosts:
                raise WorldError("invalid_host", f"host must be one of {', '.join(world.hosts)}")
            if host == tenant.host:
                raise WorldError("invalid_host", f"{tenant.ctx} already lives on {host}")
            tenant.host = host
            url = world.host_urls.get(host)
            public_endpoint = urlsplit(url).netloc if url else host
        elif host is not None:
            raise WorldError("invalid_change", "host belongs to Move")
        if change == "Upgrade":
            if version is not None and (not isinstance(version, str) or not version):
                raise WorldError("invalid_change", "version must be a non-empty string")
            if isinstance(duration, bool) or not isinstance(duration, int | float):
                raise WorldError("invalid_change", "duration must be seconds")
            if not 0 <= duration <= MAX_UPGRADE_SECONDS:
                raise WorldError("invalid_change", "duration must be 0 .. 86400 seconds")
            tenant.version = version or next_version(tenant.version)
            if duration > 0:
                tenant.state = "OfflineMaintenance"
                tenant.maintenance_until = world.now() + float(duration)
            else:
                tenant.state, tenant.maintenance_until = "Running", None
        elif version is not None or duration:
            raise WorldError("invalid_change", "version and duration belong to Upgrade")
        if change in _CHANGE_STATES:
            tenant.state, tenant.maintenance_until = _CHANGE_STATES[change], None
        snapshot = asdict(tenant)
    deliveries = webhooks.notify(tenant, change, public_endpoint) if notify else []
    return {"tenant": snapshot, "deliveries": [d.id for d in deliveries]}
