"""Provisioning end to end against the emulator: install, manifest, plan, apply, re-run, lost
responses, uninstall next to another application, and a fleet of 20 tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit.auth.oidc import callback_params_from_url
from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import ManifestError, RequestOutcomeUnknownError
from toolkit.http import create_client
from toolkit.provisioning import FleetEvent, Plan, apply_fleet, fleet_targets, plan_fleet
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
FLEET_ADMIN = "fleet-admin@fleet.test"
PASSWORD = "superid-demo"
CTX = "Cust12345"
REDIRECT = "http://127.0.0.1:8000/callback"

MANIFEST = """\
model = "hybrid"

[[lists]]
name = "Acme status"
tooltip = "Sync states (Acme Sync)"

[[lists.items]]
name = "Synced"
rank = 1

[[lists.items]]
name = "Failed"
rank = 2

[[lists]]
name = "Category"

[[lists.items]]
name = "Acme customer"

[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"
window_name = "AcmeContact"

[[buttons]]
prog_id = "acme.main"
name = "Acme Sync"
url = "{public_url}/panel/{app}?uctx=<uctx>"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    settings = Settings(home=tmp_path / "home", _env_file=None)  # type: ignore[call-arg]
    with create_client() as http, Workspace.open(settings, http=http) as workspace:
        yield workspace


def install(ws: Workspace, app: str, ctx: str = CTX, username: str = ADMIN) -> None:
    url = ws.installations.begin(app, tenant=ctx, response_mode="query")
    result = sign_in(url, username=username, password=PASSWORD, tenant=ctx)
    assert result.redirect_url is not None
    ws.installations.complete(callback_params_from_url(result.redirect_url))


def register(ws: Workspace, emu: Emulator, name: str = "Acme Sync", model: str = "hybrid") -> str:
    ws.applications.register_with_emulator(
        name=name, emulator_url=emu.base_url, redirect_uri=REDIRECT, model=model, actor="test"
    )
    return name


@pytest.fixture
def acme(ws: Workspace, emu: Emulator) -> str:
    name = register(ws, emu)
    install(ws, name)
    ws.provisioning.set_manifest(name, MANIFEST, actor="test")
    return name


def panels(emu: Emulator, ctx: str = CTX) -> list[dict[str, Any]]:
    data = emu.world.data_of(emu.world.find_tenant(ctx))  # type: ignore[arg-type]
    return [dict(p.entity, _owner=p.owner) for p in data.web_panels]


def items(emu: Emulator, list_name: str, ctx: str = CTX) -> list[str]:
    data = emu.world.data_of(emu.world.find_tenant(ctx))  # type: ignore[arg-type]
    found = data.find_list(list_name)
    return [] if found is None else [item.name for item in found.items]


def test_apply_then_a_re_run_plans_nothing(ws: Workspace, emu: Emulator, acme: str) -> None:
    plan = ws.provisioning.plan(acme, CTX)
    assert plan.counts()["create"] == 7
    run = ws.provisioning.apply(acme, CTX, plan, actor="test")
    assert run.outcome == "succeeded"
    assert items(emu, "Acme status") == ["Synced", "Failed"]
    assert "Acme customer" in items(emu, "Category")
    mine = [p for p in panels(emu) if p["ProgId"].startswith("acme.")]
    assert sorted(p["ProgId"] for p in mine) == [
        "acme.contact",
        "acme.main.button",
        "acme.main.panel",
    ]
    (button,) = [p for p in mine if p["ProgId"] == "acme.main.button"]
    assert button["Url"] == "soprotocol:browser.AcmeSyncWindow"
    (contact,) = [p for p in mine if p["ProgId"] == "acme.contact"]
    app_id = ws.applications.get(acme).id
    assert contact["Url"] == f"http://127.0.0.1:8000/panel/{app_id}?uctx=<uctx>&contact=<cuid>"
    assert ws.provisioning.plan(acme, CTX).is_empty
    assert [r.outcome for r in ws.provisioning.runs(acme)] == ["succeeded"]
    assert len(ws.provisioning.run(run.id).steps) == 7


def test_drift_is_repaired(ws: Workspace, emu: Emulator, acme: str) -> None:
    ws.provisioning.apply(acme, CTX, actor="test")
    api = ws.tenants.system_user_api(acme, CTX)
    (contact,) = [p for p in api.app_web_panels() if p.prog_id == "acme.contact"]
    api.delete_web_panel(contact.web_panel_id)  # someone soft-deletes it
    plan = ws.provisioning.plan(acme, CTX)
    (step,) = plan.pending
    assert (str(step.action), step.key) == ("update", "acme.contact")
    ws.provisioning.apply(acme, CTX, plan, actor="test")
    assert ws.provisioning.plan(acme, CTX).is_empty


def test_an_administrators_edits_to_the_apps_own_list_are_noticed_by_a_fresh_plan(
    ws: Workspace, emu: Emulator, acme: str
) -> None:
    """An administrator edits the list the application created, its definition and an item,
    in the emulator. The next plan reads the items by the list ids the store kept and sees
    the item's edit; the definition's shows once the store's copy is older than
    SOTK_PROVISIONING_LIST_CACHE_SECONDS, or at once in a fresh plan (which reads every
    definition again). An apply repairs both, and the plan after it is empty."""
    ws.provisioning.apply(acme, CTX, actor="test")
    data = emu.world.data_of(emu.world.find_tenant(CTX))  # type: ignore[arg-type]
    with emu.world.changing():
        status = data.find_list("Acme status")
        assert status is not None
        status.tooltip = "Changed by an administrator"
        (synced,) = [item for item in status.items if item.name == "Synced"]
        synced.rank = 7

    def changed(plan: Plan) -> dict[str, tuple[str, list[str]]]:
        return {s.key: (str(s.action), [c.field for c in s.changes]) for s in plan.pending}

    assert changed(ws.provisioning.plan(acme, CTX)) == {"Acme status/Synced": ("update", ["Rank"])}
    plan = ws.provisioning.plan(acme, CTX, fresh=True)
    assert changed(plan) == {
        "Acme status": ("update", ["Tooltip"]),
        "Acme status/Synced": ("update", ["Rank"]),
    }
    # The fresh plan's read is now the store's copy: a plan from it sees the edit too.
    assert changed(ws.provisioning.plan(acme, CTX)) == changed(plan)
    assert ws.provisioning.apply(acme, CTX, plan, actor="test").outcome == "succeeded"
    assert (status.tooltip, synced.rank) == ("Sync states (Acme Sync)", 1)
    assert ws.provisioning.plan(acme, CTX).is_empty
    assert ws.provisioning.plan(acme, CTX, fresh=True).is_empty


def test_a_post_dropped_by_the_network_does_not_duplicate(
    ws: Workspace, emu: Emulator, acme: str
) -> None:
    emu.set_faults(
        [
            {
                "kind": "drop",
                "method": "POST",
                "path_prefix": f"/{CTX}/api/v1/Agents/List/SaveWebPanelEntity",
                "count": 1,
            }
        ]
    )
    run = ws.provisioning.apply(acme, CTX, actor="test")
    assert run.outcome == "succeeded"
    rules = httpx.get(f"{emu.base_url}/__emulator__/faults", timeout=10).json()["rules"]
    assert rules[0]["fired"] == 1
    assert sum(1 for p in panels(emu) if p["ProgId"] == "acme.contact") == 1
    assert ws.provisioning.plan(acme, CTX).is_empty


def test_a_create_applied_by_the_server_whose_answer_is_lost_is_adopted(
    ws: Workspace, emu: Emulator, acme: str
) -> None:
    tenants = ws.tenants
    lost = {"done": False}

    class Losing:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def create_list_item(self, list_ref: Any, entity: Any) -> Any:
            created = self.inner.create_list_item(list_ref, entity)
            if not lost["done"]:
                lost["done"] = True
                raise RequestOutcomeUnknownError("the answer was lost after the server saved it")
            return created

    ws.provisioning._api = lambda app, ctx: Losing(tenants.system_user_api(app.id, ctx))
    run = ws.provisioning.apply(acme, CTX, actor="test")
    assert "adopted" in {step.outcome for step in run.steps}
    assert items(emu, "Acme status") == ["Synced", "Failed"]
    ws.provisioning._api = None
    assert ws.provisioning.plan(acme, CTX).is_empty


def test_uninstall_leaves_other_applications_alone(ws: Workspace, emu: Emulator, acme: str) -> None:
    ws.provisioning.apply(acme, CTX, actor="test")
    other = register(ws, emu, "Other App", model="internal")
    install(ws, other)
    other_api = ws.tenants.system_user_api(other, CTX)
    from toolkit.tenant import VisibleIn, WebPanelEntity

    theirs = other_api.save_web_panel(
        WebPanelEntity(
            prog_id="other.panel",
            name="Other",
            visible_in=VisibleIn.ContactCard,
            url="https://other.example.com/",
        )
    )
    run = ws.provisioning.uninstall(acme, CTX, actor="test")
    assert run.outcome == "succeeded"
    left = {p["ProgId"] for p in panels(emu)}
    assert left == {"superoffice.community", theirs.prog_id}
    assert items(emu, "Acme status") == []  # the list itself is gone
    assert "Acme customer" not in items(emu, "Category")
    assert "VIP Customer" in items(emu, "Category")
    assert [p.prog_id for p in other_api.app_web_panels()] == ["other.panel"]


def test_provision_after_install_uses_the_stored_manifest(ws: Workspace, emu: Emulator) -> None:
    name = register(ws, emu)
    install(ws, name)
    assert ws.provisioning.provision_after_install(name, CTX, actor="callback") is None
    with pytest.raises(ManifestError):
        ws.provisioning.set_manifest(name, MANIFEST.replace("ContactCard", "NavBar"), actor="t")
    ws.provisioning.set_manifest(name, MANIFEST, actor="test")
    run = ws.provisioning.provision_after_install(name, CTX, actor="callback")
    assert run is not None
    assert run.outcome == "succeeded"


def test_the_stored_manifest_is_read_once_per_text_and_follows_a_new_one(
    ws: Workspace, emu: Emulator
) -> None:
    """A fleet plans each tenant with the application's stored manifest: it is validated once
    per stored text (the same immutable Manifest comes back), and storing another text is
    seen at once, as is removing it."""
    name = register(ws, emu)
    ws.provisioning.set_manifest(name, MANIFEST, actor="test")
    first = ws.provisioning.manifest_for(name)
    assert first is not None
    assert ws.provisioning.manifest_for(name) is first
    ws.provisioning.set_manifest(name, MANIFEST.replace("Acme", "Acme two", 1), actor="test")
    second = ws.provisioning.manifest_for(name)
    assert second is not None
    assert second is not first
    assert second != first
    ws.provisioning.set_manifest(name, None, actor="test")
    assert ws.provisioning.manifest_for(name) is None


@pytest.mark.slow
def test_a_fleet_of_twenty_tenants(ws: Workspace, emu: Emulator) -> None:
    control = f"{emu.base_url}/__emulator__"
    contexts = [f"Cust{70000 + n}" for n in range(20)]
    for n, ctx in enumerate(contexts):
        host = "sod2" if n % 2 else None
        body = {"ctx": ctx, "company_name": f"Fleet {n}", "serial": str(9000 + n)}
        if host is not None and host in emu.host_urls:
            body["host"] = host
        assert httpx.post(f"{control}/tenants", json=body, timeout=10).status_code == 201
    user = {
        "username": FLEET_ADMIN,
        "password": PASSWORD,
        "memberships": [
            {"ctx": ctx, "is_administrator": True, "associate_id": 1, "initials": "FA"}
            for ctx in contexts
        ],
    }
    assert httpx.post(f"{control}/users", json=user, timeout=10).status_code == 201
    name = register(ws, emu)
    for ctx in contexts:
        install(ws, name, ctx, username=FLEET_ADMIN)
    ws.provisioning.set_manifest(name, MANIFEST, actor="test")
    emu.set_tenant_state(contexts[5], "OfflineMaintenance")

    targets = fleet_targets(ws.repository, name)
    assert len(targets) == 20
    events: list[FleetEvent] = []
    summary = apply_fleet(
        ws.provisioning,
        targets,
        actor="fleet",
        concurrency=6,
        per_host_rate=50,
        on_event=events.append,
    )
    assert summary.counts == {"succeeded": 19, "skipped": 1, "failed": 0, "total": 20}, (
        summary.rows()
    )
    (skipped,) = summary.skipped
    assert (skipped.context_identifier, skipped.state) == (contexts[5], "OfflineMaintenance")
    assert all(r.value is not None and r.value.outcome == "succeeded" for r in summary.succeeded)
    assert events[-1].kind == "done"
    assert sum(1 for e in events if e.kind == "skipped") == 1

    again = plan_fleet(ws.provisioning, targets, concurrency=6)
    assert all(r.value is not None and r.value.is_empty for r in again.succeeded)
    assert again.counts["skipped"] == 1
