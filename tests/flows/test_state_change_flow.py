"""State-change webhooks end to end: the emulator POSTs them to the running partner endpoints.

Install (admin approves) → the emulator's control plane changes the tenant (Suspend, Resume,
Move, Upgrade, Delete) → its NotificationMessage (a SuperID token, protocol §6) arrives at
/state-change → the partner confirms it with the emulator's state API → the store follows. A
genuine token replayed with another body changes nothing the state API does not confirm.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.notifications import settle_notifications
from support.partner import install_as_administrator

from toolkit.emulator import Emulator
from toolkit.store import StateChangeOutcome
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"


def register(emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints) -> dict[str, Any]:
    """Register at the emulator with a state-change URL, store the credentials it issued."""
    issued = emu.register_app(
        APP,
        [f"{endpoints.base_url}/callback"],
        vendor="Acme AS",
        state_change_url=f"{endpoints.base_url}/state-change",
    )
    workspace.applications.register(
        name=APP,
        environment="emulator",
        environment_url=emu.base_url,
        client_id=issued["client_id"],
        client_secret=issued["client_secret"],
        redirect_uri=f"{endpoints.base_url}/callback",
        private_key=issued["private_key_xml"],
        actor="test",
    )
    return issued


def install(endpoints: PartnerEndpoints) -> None:
    response = install_as_administrator(endpoints, APP, TENANT, ADMIN)
    assert response.status_code == 200, response.text


@pytest.fixture
def installed(emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints) -> dict[str, Any]:
    issued = register(emu, workspace, endpoints)
    install(endpoints)
    assert workspace.repository.get_authorization(APP, TENANT).status == "active"
    return issued


def delivered(emu: Emulator) -> list[int | None]:
    deliveries = emu.wait_for_webhooks(timeout=10)
    assert all(d["status"] != "pending" for d in deliveries)
    settle_notifications()  # the 200 means enqueued; the store follows once it is processed
    return [d["status_code"] for d in deliveries]


def status(workspace: Workspace) -> str:
    return workspace.repository.get_authorization(APP, TENANT).status


def test_the_tenants_lifecycle_reaches_the_store(
    installed: dict[str, Any], emu: Emulator, workspace: Workspace
) -> None:
    emu.change_tenant(TENANT, "Suspend")
    assert delivered(emu) == [200]
    assert status(workspace) == "suspended"
    state = workspace.repository.get_tenant_state(APP, TENANT)
    assert state is not None
    assert (state.state, state.source) == ("Suspended", "webhook")

    emu.change_tenant(TENANT, "Resume")
    assert delivered(emu) == [200, 200]
    assert status(workspace) == "active"

    emu.move_tenant(TENANT, "sod3")
    assert delivered(emu) == [200, 200, 200]
    state = workspace.repository.get_tenant_state(APP, TENANT)
    assert state is not None
    assert state.endpoint == emu.tenant_url(TENANT)
    assert urlsplit(state.endpoint).netloc == urlsplit(emu.host_urls["sod3"]).netloc

    emu.change_tenant(TENANT, "Upgrade", version="Release_11.11_2026.03.01-01")
    assert delivered(emu) == [200] * 4
    state = workspace.repository.get_tenant_state(APP, TENANT)
    assert state is not None
    assert state.version == "Release_11.11_2026.03.01-01"

    emu.change_tenant(TENANT, "Delete")
    assert delivered(emu) == [200] * 5
    assert status(workspace) == "deleted"

    history = workspace.tenant_events.history(application=APP)
    assert [c.change_type for c in history] == ["Delete", "Upgrade", "Move", "Resume", "Suspend"]
    assert {c.outcome for c in history} == {StateChangeOutcome.APPLIED}
    events = [e for e in workspace.repository.list_audit(application=APP) if e.actor == "webhook"]
    assert len(events) == 5


def test_a_redelivered_webhook_changes_nothing(
    installed: dict[str, Any], emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    emu.change_tenant(TENANT, "Suspend")
    [delivery] = emu.wait_for_webhooks(timeout=10)
    assert delivery["status_code"] == 200
    again = httpx.post(
        f"{endpoints.base_url}/state-change",
        content=json.dumps(delivery["message"]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert again.status_code == 200
    settle_notifications()
    assert status(workspace) == "suspended"
    # The endpoints run a job engine: the redelivery attaches to the first delivery's
    # workflow (its id is made from the notification), so nothing is processed or recorded.
    outcomes = [c.outcome for c in workspace.tenant_events.history()]
    assert outcomes == [StateChangeOutcome.APPLIED]


def captured(emu: Emulator, client_id: str) -> list[dict[str, Any]]:
    """The messages the emulator sent (or tried to send) to another application."""
    deliveries = emu.wait_for_webhooks(timeout=10)
    return [d["message"] for d in deliveries if d["client_id"] == client_id]


def post(endpoints: PartnerEndpoints, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{endpoints.base_url}/state-change",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )


def test_a_replayed_token_with_another_body_is_recorded_and_not_applied(
    installed: dict[str, Any], emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    # Another application approved in the same tenant: its notification tokens are SuperID
    # tokens too (no audience), so one of them replayed to us validates; its body must not.
    other = emu.register_app(
        "Other App",
        ["http://127.0.0.1:9/callback"],
        state_change_url="http://127.0.0.1:9/state-change",
        grant_system_token=False,
    )
    emu.activate_app(other["client_id"], TENANT, ADMIN)
    emu.change_tenant(TENANT, "Suspend")
    emu.wait_for_webhooks(timeout=10)  # one change at a time: deliveries run in parallel
    settle_notifications()
    assert status(workspace) == "suspended"
    emu.change_tenant(TENANT, "Resume")
    emu.wait_for_webhooks(timeout=10)
    settle_notifications()
    assert status(workspace) == "active"
    suspend, resume = captured(emu, other["client_id"])
    assert (suspend["ChangeType"], resume["ChangeType"]) == (2, 3)

    # The state API reports the tenant running where it was: nothing is suspended or moved.
    assert post(endpoints, suspend).status_code == 200
    settle_notifications()  # recorded before the next one (the history's order)
    moved = {**resume, "ChangeType": 5, "PublicEndpoint": "evil.example"}
    assert post(endpoints, moved).status_code == 200
    settle_notifications()

    assert status(workspace) == "active"
    state = workspace.repository.get_tenant_state(APP, TENANT)
    assert state is not None
    assert (state.state, state.endpoint) == ("Running", emu.tenant_url(TENANT))
    history = workspace.tenant_events.history(application=APP)
    assert [(c.change_type, c.outcome.value, c.reason) for c in history[:2]] == [
        ("Move", "unconfirmed", "state_api:Running"),
        ("Suspend", "unconfirmed", "state_api:Running"),
    ]


def test_a_forged_webhook_changes_nothing(
    installed: dict[str, Any], emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": emu.base_url, "iat": now, "exp": now + 300}
    body = {
        "ChangeType": 4,
        "ContextIdentifier": TENANT,
        "VersionName": "x",
        "FileVersion": "x",
        "Token": jwt.encode(claims, attacker, algorithm="RS256", headers={"kid": "forged"}),
    }
    response = httpx.post(
        f"{endpoints.base_url}/state-change",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert status(workspace) == "active"
    assert workspace.repository.get_tenant_state(APP, TENANT) is None
    [rejected] = workspace.tenant_events.history()
    assert rejected.outcome is StateChangeOutcome.REJECTED


def test_a_tenant_checked_through_the_state_api_is_recorded(
    installed: dict[str, Any], emu: Emulator, workspace: Workspace
) -> None:
    answer = workspace.tenants.status(APP, TENANT, refresh=True)
    assert workspace.tenant_events.record_status(APP, answer, actor="test")
    state = workspace.repository.get_tenant_state(APP, TENANT)
    assert state is not None
    assert (state.state, state.source) == ("Running", "state-api")
    assert state.endpoint == emu.tenant_url(TENANT)
