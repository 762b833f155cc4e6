"""The emulator records which credential created each object (toolkit.emulator.creators) [I]."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"


def created_by(http: httpx.Client) -> dict[str, str]:
    state = http.get("/__emulator__/state").json()
    return dict(state["tenant_data"]["cust12345"]["created_by"])


def test_each_create_names_its_credential_and_updates_do_not(
    flow: Any,
    app: dict[str, Any],
    http: httpx.Client,
    system_rest: httpx.Client,
    tenant_rest: Any,
) -> None:
    _, tokens = flow.sign_in_and_exchange(app)  # the administrator of Cust12345
    with tenant_rest(f"Bearer {tokens['access_token']}", app["client_secret"]) as admin:
        listed = admin.post("/List", json={"Name": "Acme states", "ListType": "udlist"})
        assert listed.status_code == 200, listed.text
        item = admin.post("/List/Acme states/Items", json={"Name": "New"}).json()
        panel = admin.post(
            "/Agents/List/SaveWebPanelEntity",
            json={"Name": "Acme", "VisibleIn": "ContactCard", "Url": "https://p.example/x"},
        ).json()
    by_system = system_rest.post(
        "/List/WebPanel/Items",
        json={"Name": "Sync", "VisibleIn": "ContactCard", "Url": "https://p.example/y"},
    ).json()
    # An update through the same agent is not a creation.
    system_rest.post("/Agents/List/SaveWebPanelEntity", json={**panel, "Name": "Renamed"})

    assert created_by(http) == {
        f"list:{listed.json()['Id']}": f"user:{ADMIN}",
        f"list_item:{item['Id']}": f"user:{ADMIN}",
        f"web_panel:{panel['WebPanelId']}": f"user:{ADMIN}",
        f"web_panel:{by_system['WebPanelId']}": f"system_user:{app['client_id']}",
    }
