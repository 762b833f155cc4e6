"""Declarative provisioning: manifests, plans, applies, uninstalls and fleets (protocol §7).

* :mod:`toolkit.provisioning.manifest`: TOML manifests (lists, items, web panels, buttons) with
  presets per application model, validated with ``file:line: field`` messages;
* :mod:`toolkit.provisioning.plan`: read the tenant, diff by natural key (``ProgId`` / name);
* :mod:`toolkit.provisioning.apply`: perform a plan, locked, recorded, resumable;
* :mod:`toolkit.provisioning.fleet`: many tenants, bounded and rate limited;
* :mod:`toolkit.provisioning.service`: :class:`Provisioning`, the workspace's
  ``ws.provisioning``.
"""

from __future__ import annotations

from toolkit.provisioning.apply import (
    EventCallback,
    ProvisioningEvent,
    apply_manifest,
    apply_plan,
)
from toolkit.provisioning.fleet import (
    FleetCounts,
    FleetEvent,
    FleetSummary,
    TenantResult,
    TokenBucket,
    apply_fleet,
    check_states,
    fleet_targets,
    plan_fleet,
    renew_tickets,
    run_fleet,
    uninstall_fleet,
)
from toolkit.provisioning.manifest import (
    ApplicationIdentity,
    ButtonSpec,
    ListItemSpec,
    ListSpec,
    Manifest,
    TaskMenuSpec,
    WebPanelSpec,
    load_manifest,
    preset_manifest,
    preset_text,
)
from toolkit.provisioning.plan import Action, Change, Group, Kind, Plan, Step, make_plan
from toolkit.provisioning.service import Provisioning

__all__ = [
    "Action",
    "ApplicationIdentity",
    "ButtonSpec",
    "Change",
    "EventCallback",
    "FleetCounts",
    "FleetEvent",
    "FleetSummary",
    "Group",
    "Kind",
    "ListItemSpec",
    "ListSpec",
    "Manifest",
    "Plan",
    "Provisioning",
    "ProvisioningEvent",
    "Step",
    "TaskMenuSpec",
    "TenantResult",
    "TokenBucket",
    "WebPanelSpec",
    "apply_fleet",
    "apply_manifest",
    "apply_plan",
    "check_states",
    "fleet_targets",
    "load_manifest",
    "make_plan",
    "plan_fleet",
    "preset_manifest",
    "preset_text",
    "renew_tickets",
    "run_fleet",
    "uninstall_fleet",
]
