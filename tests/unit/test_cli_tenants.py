"""``sotk tenants status`` and ``sotk tenants history`` against an in-thread emulator: the table,
stored answers reused until ValidUntil, ``--refresh``, the exit codes (0 all running, 2 some not,
1 errors) and the webhook history."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from support.cli import open_workspace
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in

pytestmark = pytest.mark.emulator

runner = CliRunner()
CTX = "Cust12345"
OTHER = "Cust33333"
ADMIN = "admin@cust12345.test"
FLEET_ADMIN = "tenants@fleet.test"
PASSWORD = "superid-demo"
PUBLIC_URL = "http://127.0.0.1:8000"
APP = "Acme Sync"


def add_tenant(emu: Emulator, ctx: str) -> None:
    control = f"{emu.base_url}/__emulator__"
    body = {"ctx": ctx, "company_name": "Other AS", "serial": "7333"}
    assert httpx.post(f"{control}/tenants", json=body, timeout=10).status_code == 201
    user = {
        "username": FLEET_ADMIN,
        "password": PASSWORD,
        "memberships": [
            {"ctx": ctx, "is_administrator": True, "associate_id": 1, "initials": "TA"}
        ],
    }
    assert httpx.post(f"{control}/users", json=user, timeout=10).status_code == 201


@pytest.fixture
def installed(env: dict[str, str], emu: Emulator) -> None:
    """Acme Sync installed into Cust12345 and Cust33333."""
    add_tenant(emu, OTHER)
    with open_workspace(env) as ws:
        ws.applications.register_with_emulator(
            name=APP, emulator_url=emu.base_url, redirect_uri=f"{PUBLIC_URL}/callback", actor="t"
        )
        for ctx, username in ((CTX, ADMIN), (OTHER, FLEET_ADMIN)):
            answer = sign_in(ws.installations.begin(APP, tenant=ctx), username=username, tenant=ctx)
            ws.installations.complete(answer.params)


def rows(output: str) -> dict[str, list[str]]:
    """Table rows by tenant: the cells split on runs of two or more spaces."""
    found = {}
    for line in output.splitlines():
        if line.startswith("Cust"):
            found[line.split()[0]] = [cell.strip() for cell in line.split("  ") if cell.strip()]
    return found


def test_status_of_all_tenants_running_exits_0_and_stores_the_answers(
    env: dict[str, str], emu: Emulator, installed: None
) -> None:
    result = runner.invoke(app, ["tenants", "status", "--all"], env=env)

    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header[:5] == ["TENANT", "APPLICATION", "STATE", "RUNNING", "ENDPOINT"]
    table = rows(result.output)
    assert set(table) == {CTX, OTHER}
    for ctx, cells in table.items():
        assert cells[:4] == [ctx, APP, "Running", "yes"]
        assert cells[4] == emu.tenant_url(ctx)
        assert cells[-1] == "state API"
    with open_workspace(env) as ws:
        stored = ws.tenant_events.known_states(APP)
        assert {record.state for record in stored.values()} == {"Running"}
        assert all(record.source == "state-api" for record in stored.values())
        events = [
            e for e in ws.repository.list_audit(application=APP) if e.actor.startswith("cli:")
        ]
        assert {e.action for e in events} == {"tenant.state_recorded"}


def test_a_suspended_tenant_exits_2_once_the_state_api_is_asked_again(
    env: dict[str, str], emu: Emulator, installed: None
) -> None:
    assert runner.invoke(app, ["tenants", "status", "--all"], env=env).exit_code == 0
    emu.change_tenant(OTHER, "Suspend")  # no state-change URL registered: no webhook

    # The stored answers are still valid (ValidUntil ahead): shown without asking.
    stored = runner.invoke(app, ["tenants", "status", "--all"], env=env)
    assert stored.exit_code == 0, stored.output
    assert rows(stored.output)[OTHER][-1] == "stored"

    refreshed = runner.invoke(app, ["tenants", "status", "--all", "--refresh"], env=env)
    assert refreshed.exit_code == 2, refreshed.output
    table = rows(refreshed.output)
    assert table[OTHER][2:4] == ["Suspended", "no"]
    assert table[CTX][2:4] == ["Running", "yes"]
    assert "1 of 2 not running" in refreshed.output

    # One tenant, with --app: the stored Suspended answer (valid for a while) still exits 2.
    one = runner.invoke(app, ["tenants", "status", OTHER, "--app", APP], env=env)
    assert one.exit_code == 2, one.output
    assert list(rows(one.output)) == [OTHER]
    assert rows(one.output)[OTHER][-1] == "stored"


def test_a_state_api_error_exits_1(env: dict[str, str], emu: Emulator, installed: None) -> None:
    emu.set_faults([{"kind": "status", "status": 500, "path_prefix": "/api/state"}])

    result = runner.invoke(app, ["tenants", "status", CTX], env=env)

    assert result.exit_code == 1, result.output
    assert rows(result.output)[CTX][2] == "error"
    assert "HTTP 500" in result.output
    assert "could not be asked" in result.output


def test_usage_errors_are_messages(env: dict[str, str], emu: Emulator, installed: None) -> None:
    neither = runner.invoke(app, ["tenants", "status"], env=env)
    assert neither.exit_code == 1
    assert "give a tenant (CTX) or --all" in neither.output

    unknown = runner.invoke(app, ["tenants", "status", "Cust99999"], env=env)
    assert unknown.exit_code == 1
    assert "no application is authorized in Cust99999" in unknown.output

    no_app = runner.invoke(app, ["tenants", "status", "--all", "--app", "Nope"], env=env)
    assert no_app.exit_code == 1
    assert "Traceback" not in no_app.output


def test_history_lists_the_webhooks_newest_first(
    env: dict[str, str], emu: Emulator, installed: None
) -> None:
    empty = runner.invoke(app, ["tenants", "history", CTX], env=env)
    assert empty.exit_code == 0, empty.output
    assert f"no state-change webhooks received for {CTX}" in empty.output

    with open_workspace(env) as ws:
        ws.repository.apply_state_change(
            APP,
            CTX,
            change_type="Suspend",
            issued_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            fingerprint="a" * 64,
            state="Suspended",
            status="suspended",
            status_from=frozenset({"active"}),
            actor="webhook",
        )
        ws.repository.apply_state_change(
            APP,
            CTX,
            change_type="Move",
            issued_at=datetime(2026, 3, 1, 12, 5, tzinfo=UTC),
            fingerprint="b" * 64,
            public_endpoint="sod3.superoffice.com",
            endpoint=f"https://sod3.superoffice.com/{CTX}",
            api=f"https://sod3.superoffice.com/{CTX}/api",
            actor="webhook",
        )
        ws.repository.record_state_change(
            APP,
            outcome="rejected",
            reason="signature",
            context_identifier=CTX,
            change_type="Delete",
        )

    result = runner.invoke(app, ["tenants", "history", CTX], env=env)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["RECEIVED", "AT", "APPLICATION"]
    changes = [[c.strip() for c in line.split("  ") if c.strip()] for line in lines[1:]]
    assert [row[2] for row in changes] == ["Delete", "Move", "Suspend"]
    assert changes[0][-2:] == ["rejected", "signature"]
    assert "sod3.superoffice.com" in changes[1]
    assert changes[2][-2:] == ["applied", "-"]

    other = runner.invoke(app, ["tenants", "history", OTHER, "--app", APP], env=env)
    assert other.exit_code == 0
    assert "no state-change webhooks" in other.output
