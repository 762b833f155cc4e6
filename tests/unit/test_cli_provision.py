"""``sotk provision``: set-manifest, plan, apply, uninstall, --all, and the typed error messages,
against an in-thread emulator. The fleet functions the command builds on (``plans`` given to
``apply_fleet``, ``plan_fleet`` for an uninstall, ``uninstall_fleet``) are tested here too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.cli import open_workspace
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.provisioning import (
    ApplicationIdentity,
    apply_fleet,
    fleet_targets,
    load_manifest,
    plan_fleet,
    uninstall_fleet,
)
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

runner = CliRunner()
CTX = "Cust12345"
ADMIN = "admin@cust12345.test"
PASSWORD = "superid-demo"
PUBLIC_URL = "http://127.0.0.1:8000"
APP = "Acme Sync"

MANIFEST = """\
model = "internal"

# A list of the application's own, with two items.
[[lists]]
name = "Acme status"

[[lists.items]]
name = "Synced"
rank = 1

[[lists.items]]
name = "Failed"
rank = 2

[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"
"""


def install(
    ws: Workspace, emu: Emulator, name: str = APP, contexts: tuple[str, ...] = (CTX,)
) -> None:
    if not any(a.name == name for a in ws.applications.list()):
        ws.applications.register_with_emulator(
            name=name, emulator_url=emu.base_url, redirect_uri=f"{PUBLIC_URL}/callback", actor="t"
        )
    for ctx in contexts:
        username = ADMIN if ctx == CTX else "fleet@fleet.test"
        answer = sign_in(ws.installations.begin(name, tenant=ctx), username=username, tenant=ctx)
        ws.installations.complete(answer.params)


def add_tenants(emu: Emulator, contexts: tuple[str, ...]) -> None:
    control = f"{emu.base_url}/__emulator__"
    for n, ctx in enumerate(contexts):
        body = {"ctx": ctx, "company_name": f"Fleet {n}", "serial": str(7000 + n)}
        assert httpx.post(f"{control}/tenants", json=body, timeout=10).status_code == 201
    user = {
        "username": "fleet@fleet.test",
        "password": PASSWORD,
        "memberships": [
            {"ctx": ctx, "is_administrator": True, "associate_id": 1, "initials": "FA"}
            for ctx in contexts
        ],
    }
    assert httpx.post(f"{control}/users", json=user, timeout=10).status_code == 201


def prog_ids(emu: Emulator, ctx: str = CTX) -> set[str]:
    data = emu.world.data_of(emu.world.find_tenant(ctx))  # type: ignore[arg-type]
    return {p.entity["ProgId"] for p in data.web_panels}


@pytest.fixture
def installed(env: dict[str, str], emu: Emulator, tmp_path: Path) -> Path:
    """Acme Sync installed into Cust12345; the manifest file (not stored yet)."""
    with open_workspace(env) as ws:
        install(ws, emu)
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST, encoding="utf-8")
    return path


def test_set_manifest_plan_apply_re_plan_and_uninstall(
    env: dict[str, str], emu: Emulator, installed: Path
) -> None:
    stored = runner.invoke(app, ["provision", "set-manifest", APP, str(installed)], env=env)
    assert stored.exit_code == 0, stored.output
    assert "1 list(s), 1 web panel(s)" in stored.output

    planned = runner.invoke(app, ["provision", "plan", "--tenant", CTX], env=env)
    assert planned.exit_code == 0, planned.output
    assert f"{APP} · {CTX}: drifted: 4 create, 0 update, 0 delete, 0 unchanged" in planned.output
    assert "acme.contact" in planned.output
    assert "Synced" in planned.output
    assert "1 drifted" in planned.output.splitlines()
    assert "acme.contact" not in prog_ids(emu)  # a plan changes nothing

    applied = runner.invoke(app, ["provision", "apply", "--tenant", CTX, "--yes"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "outcome" in applied.output
    row = next(line for line in applied.output.splitlines() if line.startswith(CTX))
    assert row.split()[3:5] == ["succeeded", "4/4"]
    assert "acme.contact" in prog_ids(emu)
    with open_workspace(env) as ws:
        (run,) = ws.provisioning.runs(APP, CTX)
        assert (run.outcome, run.operation) == ("succeeded", "apply")
        assert run.actor.startswith("cli:")

    again = runner.invoke(app, ["provision", "plan", "--tenant", CTX, "--app", APP], env=env)
    assert again.exit_code == 0, again.output
    assert f"{APP} · {CTX}: up to date: 0 create, 0 update, 0 delete, 4 unchanged" in again.output

    nothing = runner.invoke(app, ["provision", "apply", "--tenant", CTX, "--yes"], env=env)
    assert nothing.exit_code == 0, nothing.output
    assert "Nothing to do" in nothing.output

    removed = runner.invoke(app, ["provision", "uninstall", "--tenant", CTX, "--yes"], env=env)
    assert removed.exit_code == 0, removed.output
    assert "acme.contact" not in prog_ids(emu)
    assert "superoffice.community" in prog_ids(emu)  # not the application's: left alone


def test_apply_asks_first_and_a_no_changes_nothing(
    env: dict[str, str], emu: Emulator, installed: Path
) -> None:
    result = runner.invoke(
        app,
        ["provision", "apply", "--tenant", CTX, "--manifest", str(installed)],
        env=env,
        input="n\n",
    )
    assert result.exit_code == 1
    assert "Apply: 4 step(s) in 1 tenant(s)?" in result.output
    assert "acme.contact" not in prog_ids(emu)


def test_an_invalid_manifest_names_file_line_and_field(
    env: dict[str, str], emu: Emulator, installed: Path
) -> None:
    installed.write_text(MANIFEST.replace('"ContactCard"', '"NavBar"'), encoding="utf-8")

    for args in (
        ["provision", "set-manifest", APP, str(installed)],
        ["provision", "apply", "--tenant", CTX, "--manifest", str(installed), "--yes"],
    ):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 1, result.output
        assert "the manifest is not valid" in result.output
        line = MANIFEST.splitlines().index('visible_in = "ContactCard"') + 1
        assert f"manifest.toml:{line}: web_panels[0].visible_in: 'NavBar'" in result.output
        assert "Traceback" not in result.output
    assert "acme.contact" not in prog_ids(emu)


def test_usage_errors_are_messages(env: dict[str, str], emu: Emulator, installed: Path) -> None:
    neither = runner.invoke(app, ["provision", "plan"], env=env)
    assert neither.exit_code == 1
    assert "give --tenant CTX or --all" in neither.output

    unknown = runner.invoke(app, ["provision", "plan", "--tenant", "Cust99999"], env=env)
    assert unknown.exit_code == 1
    assert "not actively authorized in Cust99999" in unknown.output

    no_manifest = runner.invoke(app, ["provision", "plan", "--tenant", CTX], env=env)
    assert no_manifest.exit_code == 1, no_manifest.output
    assert "has no manifest" in no_manifest.output


def test_all_runs_the_fleet_skips_a_tenant_in_maintenance_and_fails_on_a_failure(
    env: dict[str, str], emu: Emulator, installed: Path
) -> None:
    fleet = ("Cust70001", "Cust70002", "Cust70003")
    add_tenants(emu, fleet)
    with open_workspace(env) as ws:
        install(ws, emu, contexts=fleet)
        ws.provisioning.set_manifest(APP, installed, actor="test")
    emu.set_tenant_state("Cust70002", "OfflineMaintenance")

    result = runner.invoke(
        app, ["provision", "apply", "--all", "--app", APP, "--concurrency", "3", "--yes"], env=env
    )
    assert result.exit_code == 0, result.output
    outcomes = {
        line.split()[0]: line.split()[3]
        for line in result.output.splitlines()
        if line.startswith("Cust")
    }
    assert outcomes == {
        CTX: "succeeded",
        "Cust70001": "succeeded",
        "Cust70002": "skipped",
        "Cust70003": "succeeded",
    }
    assert "OfflineMaintenance" in result.output
    assert "3 succeeded" in result.output
    assert "1 skipped" in result.output

    # A tenant whose every write fails: reported, the others are up to date, exit 1.
    emu.set_tenant_state("Cust70002", "Running")
    emu.set_faults([{"kind": "status", "status": 500, "ctx": "Cust70002", "method": "POST"}])
    failing = runner.invoke(app, ["provision", "apply", "--all", "--yes"], env=env)
    assert failing.exit_code == 1, failing.output
    row = next(line for line in failing.output.splitlines() if line.startswith("Cust70002"))
    assert "failed" in row
    assert "1 tenant(s) failed" in failing.output
    assert "3 up to date" in failing.output


def test_the_fleet_functions_behind_the_command(
    env: dict[str, str], emu: Emulator, installed: Path
) -> None:
    with open_workspace(env) as ws:
        ws.provisioning.set_manifest(APP, installed, actor="test")
        targets = fleet_targets(ws.repository, APP)
        plans = plan_fleet(ws.provisioning, targets)
        (planned,) = plans.results
        assert planned.value is not None
        assert len(planned.value.pending) == 4

        # The plan given is the plan applied: a tenant changed since is refused as stale.
        api = ws.tenants.system_user_api(APP, CTX)
        api.create_list({"Name": "Acme status"})  # an administrator made it meanwhile
        stale = apply_fleet(ws.provisioning, targets, actor="t", plans=[planned.value])
        (refused,) = stale.failed
        assert refused.error_type == "StalePlanError"
        assert ws.provisioning.runs(APP) == []

        fresh = apply_fleet(ws.provisioning, targets, actor="t")
        assert fresh.counts["succeeded"] == 1

        removal = plan_fleet(ws.provisioning, targets, operation="uninstall")
        (to_remove,) = removal.results
        assert to_remove.value is not None
        assert to_remove.value.operation == "uninstall"
        assert to_remove.value.pending
        gone = uninstall_fleet(ws.provisioning, targets, actor="t")
        assert gone.counts["succeeded"] == 1
        assert "acme.contact" not in prog_ids(emu)
        with pytest.raises(ValueError, match="apply or uninstall"):
            plan_fleet(ws.provisioning, targets, operation="delete")


def test_the_example_manifest_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "manifest.toml"
    acme = ApplicationIdentity(id="3f0c-acme", name="Acme Sync")
    manifest = load_manifest(
        example, model="hybrid", public_url="https://partner.example", application=acme
    )
    assert manifest.prog_ids == {
        "acme.sync.contact",
        "acme.sync.main.panel",
        "acme.sync.main.button",
        "acme.sync.window.button",
    }
    assert manifest.task_menu_prog_ids == {"acme.sync.task.contact"}
    (contact,) = manifest.web_panels
    assert contact.url == "https://partner.example/panel/3f0c-acme?uctx=<uctx>&contact=<cuid>"
    assert [spec.name for spec in manifest.lists] == ["Acme sync status", "Category"]
