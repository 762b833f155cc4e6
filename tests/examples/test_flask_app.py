"""examples/flask_app (WSGI, the sync API) against the emulator: install through SuperID's pages,
a system user REST call, SuperOffice's state-change notification, and a toolkit error answered
with its own status and safe message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.partner import open_workspace_at

from examples.flask_app.app import create_app
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"
PUBLIC_URL = "http://127.0.0.1:8000"
UNREACHABLE = "http://127.0.0.1:9"  # the emulator keeps the undelivered message for the test


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    options = {"public_url": PUBLIC_URL, "provision_after_install": False}
    with open_workspace_at(tmp_path / "home", **options) as ws:
        yield ws


def test_the_flask_app_installs_calls_the_tenant_and_takes_a_notification(
    emu: Emulator, workspace: Workspace
) -> None:
    registered = workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=workspace.callback_url(),
        vendor="Acme AS",
        public_url=UNREACHABLE,
        actor="test",
    )
    client = create_app(application=APP, workspace=workspace).test_client()

    # Before the install: not installed, said with the error's own status.
    early = client.get(f"/tenants/{TENANT}/lists")
    assert early.status_code == 404
    assert early.get_json() == {"error": "This application is not installed in this tenant."}

    start = client.get("/install", query_string={"tenant": TENANT})
    assert start.status_code == 303
    answer = sign_in(start.headers["Location"], username=ADMIN)
    assert answer.form_action == f"{PUBLIC_URL}/callback"
    done = client.post(urlsplit(answer.form_action).path, data=answer.params)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json() == {"tenant": TENANT, "outcome": "created"}

    # A replayed callback is refused with the error's status (the state is single-use).
    replay = client.post("/callback", data=answer.params)
    assert replay.status_code == 400

    lists = client.get(f"/tenants/{TENANT}/lists")
    assert lists.status_code == 200
    assert lists.get_json()  # the tenant's built-in lists, read as the system user

    emu.change_tenant(TENANT, "Suspend")
    delivery = emu.wait_for_webhooks(timeout=10)[-1]
    notified = client.post(
        f"/state-change/{registered.client_id}",
        data=json.dumps(delivery["message"]),
        content_type="application/json",
    )
    assert notified.status_code == 200
    assert notified.get_json() == {"status": "ok", "outcome": "applied"}
    assert workspace.repository.get_authorization(APP, TENANT).status == "suspended"
