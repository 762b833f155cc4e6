"""examples/partner_app end to end against the emulator: a tenant administrator installs the
application through the app's mounted endpoints, the app provisions the tenant as its system
user, reads the tenant's lists through the async API, and takes SuperOffice's state-change
notification; a tenant it is not installed in gets the error's own status and safe message."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from examples.partner_app.app import create_app
from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"
OTHER_TENANT = "Cust34567"
APP = "Acme Sync"
PUBLIC_URL = "http://127.0.0.1:8000"
# Nobody listens here: the emulator keeps the failed delivery's message, which the test then
# posts to the app itself (the test client is not on the network).
UNREACHABLE = "http://127.0.0.1:9"


def test_the_partner_app_installs_provisions_calls_the_tenant_and_takes_notifications(
    emu: Emulator, tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        home=tmp_path / "home",
        public_url=PUBLIC_URL,
        provision_after_install=False,  # the app provisions in its own hook
        _env_file=None,
    )
    app = create_app(settings, application=APP)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        workspace = app.state.aws.workspace
        # The mounted endpoints' URLs, which the partner registers with SuperOffice.
        assert workspace.callback_url() == f"{PUBLIC_URL}/superoffice/callback"
        registered = workspace.applications.register_with_emulator(
            name=APP,
            emulator_url=emu.base_url,
            redirect_uri=workspace.callback_url(),
            vendor="Acme AS",
            public_url=UNREACHABLE,
            actor="test",
        )
        home = client.get("/").json()
        assert home["install"] == f"{PUBLIC_URL}/superoffice/install?app=Acme+Sync"
        state_change_url = f"{PUBLIC_URL}/superoffice/state-change/{registered.client_id}"
        assert home["state_change_url"] == state_change_url

        # Install: the app's link, SuperID's pages, the form_post callback under /superoffice.
        start = client.get(
            "/superoffice/install", params={"app": APP, "tenant": TENANT}, follow_redirects=False
        )
        assert start.status_code == 303, start.text
        answer = sign_in(start.headers["location"], username=ADMIN)
        assert answer.form_action == workspace.callback_url()
        page = client.post(urlsplit(answer.form_action).path, data=answer.params)
        assert page.status_code == 200, page.text
        assert workspace.is_installed(APP, TENANT)

        # Provisioned by the app's on_installed hook; read back through the async REST client.
        lists = client.get(f"/tenants/{TENANT}/lists")
        assert lists.status_code == 200, lists.text
        body = lists.json()
        assert body["provisioning"] == "succeeded"
        assert "Acme states" in body["lists"]
        state = httpx.get(f"{emu.base_url}/__emulator__/state", timeout=10).json()
        owned = [
            entry
            for entry in state["tenant_data"][TENANT.lower()]["lists"]
            if entry["name"] == "Acme states"
        ]
        assert len(owned) == 1
        assert sorted(item["name"] for item in owned[0]["items"]) == ["New", "Synced"]

        # A tenant the app is not installed in: the error's status and safe message.
        refused = client.get(f"/tenants/{OTHER_TENANT}/lists")
        assert refused.status_code == 404
        assert refused.json() == {"error": "This application is not installed in this tenant."}
        malformed = client.get("/tenants/not-a-ctx/lists")
        assert malformed.status_code == 400

        # SuperOffice suspends the tenant and notifies the application's URL.
        emu.change_tenant(TENANT, "Suspend")
        delivery = emu.wait_for_webhooks(timeout=10)[-1]
        notified = client.post(urlsplit(state_change_url).path, json=delivery["message"])
        assert notified.status_code == 200, notified.text
        assert client.get("/notifications").json() == [
            {"tenant": TENANT, "change": "Suspend", "outcome": "applied"}
        ]
        assert workspace.repository.get_authorization(APP, TENANT).status == "suspended"
