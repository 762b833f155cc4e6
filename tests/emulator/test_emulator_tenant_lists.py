"""Tenant REST: version documents, lists, list items, web panels, app ownership, Sentry
(protocol §5, §6, §7)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

SystemUser = Any  # the `system_user` fixture of conftest.py
LIST_FIELDS = {
    "Id",
    "Name",
    "Tooltip",
    "Deleted",
    "Rank",
    "IsCustomList",
    "IsMDOList",
    "UseGroupsAndHeadings",
    "ListType",
    "InUseByUserDefinedFields",
}
ITEM_FIELDS = {
    "Id",
    "Name",
    "Tooltip",
    "Deleted",
    "UdListDefinitionId",
    "Rank",
    "TableRight",
    "FieldProperties",
}
WEB_PANEL_FIELDS = {
    "WebPanelId",
    "Name",
    "Tooltip",
    "Deleted",
    "Rank",
    "UrlEncoding",
    "VisibleIn",
    "OnCentral",
    "OnSatellite",
    "OnTravel",
    "OnSalesMarketingWeb",
    "OnSalesMarketingPocket",
    "ShowInMenuBar",
    "ShowInToolBar",
    "ShowInAddressBar",
    "ShowInStatusBar",
    "WindowName",
    "Url",
    "ProgId",
    "Icon",
    "AlwaysReloadOnShow",
    "NeverReloadOnCurrentChange",
    "TableRight",
    "FieldProperties",
}
ERROR_FIELDS = {"Error", "ErrorType", "ErrorMessage", "ErrorSource"}


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["Error"] is True
    return body


def panel(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "VisibleIn": "ContactCard",
        "UrlEncoding": "ANSI",
        "Url": f"https://partner.test/{name}?ctx=<uctx>",
        "ProgId": f"acme.{name}",
        **extra,
    }


def test_version_documents(emu: Emulator, http: httpx.Client) -> None:
    api = f"{emu.tenant_url('Cust12345')}/api"
    document = http.get(api).json()
    assert document["v1"] == f"{api}/v1/"
    assert document["Services"] == "Services87"
    assert document["ServicesCurrent"] == "Services88"
    assert document["Version"] == "v1"
    for name in ("NetServerVersion", "NetServerAssembly", "NetServerDate", "NetServerLabel"):
        assert isinstance(document[name], str)
    endpoints = http.get(f"{api}/v1").json()
    assert endpoints[f"{api}/v1/List"] == {
        "GET": "All list definitions",
        "POST": "Create a user-defined list",
    }
    assert "POST" in endpoints[f"{api}/v1/Agents/List/GetAppWebPanels"]


def test_lists_and_items_by_id_and_name(system_rest: httpx.Client) -> None:
    lists = system_rest.get("/List").json()
    assert all(set(d) == LIST_FIELDS for d in lists)
    by_type = {d["ListType"]: d for d in lists}
    assert {"category", "business", "source", "country", "webpanel"} <= set(by_type)
    category = by_type["category"]
    for key in (str(category["Id"]), "Category", "category", "-64"):
        found = system_rest.get(f"/List/{key}")
        assert found.status_code == 200, key
        assert found.json()["Id"] == category["Id"]
    assert_error(system_rest.get("/List/NoSuchList"), 404)
    items = system_rest.get("/List/Category/Items").json()
    assert all(set(i) == ITEM_FIELDS for i in items)
    assert {"VIP Customer", "Confidential"} <= {i["Name"] for i in items}
    assert system_rest.get("/List/-64/Items").json() == items
    # Add, read, update, delete an item, by name and by id.
    created = system_rest.post("/List/category/Items", json={"Name": "Reseller", "Rank": 9})
    assert created.status_code == 200, created.text
    item = created.json()
    assert item["Id"] > 0
    assert item["UdListDefinitionId"] == category["Id"]
    path = f"/List/{category['Id']}/Items/{item['Id']}"
    assert system_rest.get(path).json()["Name"] == "Reseller"
    updated = system_rest.put(path, json={"Name": "Reseller AS", "Tooltip": "t"})
    assert updated.json()["Name"] == "Reseller AS"
    assert system_rest.get(f"/List/Category/Items/{item['Id']}").json()["Tooltip"] == "t"
    assert system_rest.delete(path).status_code == 204
    assert_error(system_rest.get(path), 404)
    assert_error(system_rest.post("/List/Category/Items"), 400)
    assert_error(system_rest.post("/List/Category/Items", json={"Name": "x", "Bogus": 1}), 400)
    assert_error(system_rest.post("/List/Category/Items", json={"Name": 5}), 400)


def test_user_defined_list_crud(system_rest: httpx.Client) -> None:
    created = system_rest.post("/List", json={"Name": "AcmeLevels", "Tooltip": "levels"})
    assert created.status_code == 200, created.text
    entity = created.json()
    assert entity["ListType"] == "udlist"
    assert entity["IsCustomList"] is True
    assert set(entity["_Links"]) == {"Self", "Archive"}
    list_id = entity["Id"]
    assert system_rest.get("/List/acmelevels").json()["Id"] == list_id
    assert system_rest.post("/List/AcmeLevels/Items", json={"Name": "Gold"}).status_code == 200
    assert [i["Name"] for i in system_rest.get(f"/List/{list_id}/Items").json()] == ["Gold"]
    renamed = system_rest.put(f"/List/{list_id}", json={"Name": "AcmeTiers"})
    assert renamed.json()["Name"] == "AcmeTiers"
    assert_error(system_rest.post("/List", json={"Name": "AcmeTiers"}), 400)
    assert_error(system_rest.post("/List", json={}), 400)
    assert_error(system_rest.put("/List/Category", json={"Name": "Other"}), 400)
    assert_error(system_rest.delete("/List/Category"), 400)
    assert system_rest.delete(f"/List/{list_id}").status_code == 204
    assert_error(system_rest.get(f"/List/{list_id}"), 404)


def test_put_saves_all_items_of_a_list_by_id_and_by_name(
    http: httpx.Client, system_rest: httpx.Client
) -> None:
    """``PUT /v1/List/{id|name}/Items`` (SD:ref-item SaveAllFromListDefinition /
    SaveAllFromListName): an array in, the saved items out; Id 0 creates [I]; an item left
    out is marked deleted [I] (the emulator's strict reading, see tenant_lists)."""
    list_id = system_rest.post("/List", json={"Name": "AcmeStates"}).json()["Id"]
    saved = system_rest.put(
        f"/List/{list_id}/Items",
        json=[
            {"Id": 0, "Name": "Synced", "Tooltip": "ok", "Rank": 1, "UdListDefinitionId": list_id},
            {"Id": 0, "Name": "Failed", "Rank": 2},
        ],
    )
    assert saved.status_code == 200, saved.text
    items = saved.json()
    assert all(set(i) == ITEM_FIELDS for i in items)
    assert [(i["Name"], i["Tooltip"], i["Rank"], i["Deleted"]) for i in items] == [
        ("Synced", "ok", 1, False),
        ("Failed", "", 2, False),
    ]
    assert {i["UdListDefinitionId"] for i in items} == {list_id}
    assert 0 < items[0]["Id"] < items[1]["Id"]
    assert system_rest.get(f"/List/{list_id}/Items").json() == items
    created_by = http.get("/__emulator__/state").json()["tenant_data"]["cust12345"]["created_by"]
    assert created_by[f"list_item:{items[0]['Id']}"].startswith("system_user:")
    # By name: an existing item is updated (fields merged), a new one added, the one left
    # out is marked deleted, not removed.
    synced = items[0]
    again = system_rest.put(
        "/List/acmestates/Items",
        json=[{"Id": synced["Id"], "Rank": 5}, {"Id": 0, "Name": "Pending"}],
    )
    assert again.status_code == 200, again.text
    first, added = again.json()
    assert (first["Id"], first["Name"], first["Rank"]) == (synced["Id"], "Synced", 5)
    assert (added["Name"], added["Deleted"]) == ("Pending", False)
    after = {i["Name"]: i for i in system_rest.get(f"/List/{list_id}/Items").json()}
    assert set(after) == {"Synced", "Failed", "Pending"}
    assert (after["Synced"]["Tooltip"], after["Synced"]["Deleted"]) == ("ok", False)
    assert after["Failed"]["Deleted"] is True
    assert after["Pending"]["Deleted"] is False
    # Refused as a whole: nothing changes.
    before = system_rest.get(f"/List/{list_id}/Items").json()
    refused: list[tuple[Any, int]] = [
        ({"Id": 0, "Name": "x"}, 400),  # an object, not an array
        ([{"Id": 0, "Name": "ok"}, {"Id": 0}], 400),  # a new item without a name
        ([{"Id": 0, "Name": "x", "Colour": "red"}], 400),  # an unknown field
        ([{"Id": 0, "Name": "x", "UdListDefinitionId": list_id + 1000}], 400),
        ([{"Id": 0, "Name": "x"}, {"Id": 99999, "Name": "y"}], 404),  # not an item of the list
        ([1, 2], 400),
    ]
    for body, status in refused:
        assert_error(system_rest.put(f"/List/{list_id}/Items", json=body), status)
    assert system_rest.get(f"/List/{list_id}/Items").json() == before
    assert_error(system_rest.put("/List/NoSuchList/Items", json=[]), 404)
    not_emulated = system_rest.put("/List/WebPanel/Items", json=[])
    assert not_emulated.status_code == 501
    assert not_emulated.headers["X-Emulator"] == "not-emulated"


def test_web_panels_crud_soft_delete_and_default(system_rest: httpx.Client) -> None:
    default = system_rest.get("/List/WebPanel/Items/Default").json()
    assert set(default) == WEB_PANEL_FIELDS
    assert default["WebPanelId"] == 0
    assert default["UrlEncoding"] == "None"
    assert default["VisibleIn"] == "Invisible"
    agent_default = system_rest.post("/Agents/List/CreateDefaultWebPanelEntity")
    assert agent_default.json() == default
    created = system_rest.post("/List/WebPanel/Items", json=panel("orders"))
    assert created.status_code == 200, created.text
    entity = created.json()
    assert set(entity) == WEB_PANEL_FIELDS
    assert entity["WebPanelId"] > 0
    assert (entity["VisibleIn"], entity["UrlEncoding"]) == ("ContactCard", "ANSI")
    assert entity["OnCentral"] is True  # a default the body left out
    path = f"/List/WebPanel/Items/{entity['WebPanelId']}"
    assert system_rest.get(path).json() == entity
    updated = system_rest.put(path, json={"Name": "Orders", "VisibleIn": "browserpanel"})
    assert updated.status_code == 200
    assert (updated.json()["Name"], updated.json()["VisibleIn"]) == ("Orders", "BrowserPanel")
    assert updated.json()["Url"] == entity["Url"]
    no_body = assert_error(system_rest.put(path), 400)
    assert no_body["ErrorMessage"] == "Entity to save is not in request body"
    assert system_rest.delete(path).status_code == 204
    assert system_rest.get(path).json()["Deleted"] is True  # soft delete
    listed = {p["WebPanelId"]: p for p in system_rest.get("/List/WebPanel/Items").json()}
    assert listed[entity["WebPanelId"]]["Deleted"] is True
    # Strict input: enum names from the reference only, known fields only, right types.
    assert_error(
        system_rest.post("/List/WebPanel/Items", json=panel("x", VisibleIn="Nowhere")), 400
    )
    assert_error(system_rest.post("/List/WebPanel/Items", json=panel("x", UrlEncoding=2)), 400)
    assert_error(system_rest.post("/List/WebPanel/Items", json=panel("x", Colour="red")), 400)
    assert_error(system_rest.post("/List/WebPanel/Items", json=panel("x", OnTravel="yes")), 400)
    missing = assert_error(system_rest.post("/List/WebPanel/Items"), 400)
    assert missing["ErrorMessage"] == "Entity to save is not in request body"


def test_save_web_panel_entity_creates_then_updates(system_rest: httpx.Client) -> None:
    created = system_rest.post("/Agents/List/SaveWebPanelEntity", json=panel("sync", WebPanelId=0))
    assert created.status_code == 200, created.text
    panel_id = created.json()["WebPanelId"]
    assert panel_id > 0
    updated = system_rest.post(
        "/Agents/List/SaveWebPanelEntity", json={"WebPanelId": panel_id, "Tooltip": "Sync"}
    )
    assert updated.json()["WebPanelId"] == panel_id
    assert updated.json()["Tooltip"] == "Sync"
    assert updated.json()["Name"] == "sync"
    unknown = system_rest.post("/Agents/List/SaveWebPanelEntity", json={"WebPanelId": 99999})
    assert_error(unknown, 404)
    assert_error(system_rest.post("/Agents/List/SaveWebPanelEntity"), 400)


def test_an_app_sees_and_deletes_only_its_own_web_panels(
    emu: Emulator, flow: Any, system_user: SystemUser, system_rest: httpx.Client, tenant_rest: Any
) -> None:
    other_app = emu.register_app(name="Other App", redirect_urls=["http://127.0.0.1:8000/callback"])
    other = type(system_user)(flow, other_app)
    with tenant_rest(f"SOTicket {other.ticket()}", other_app["client_secret"]) as other_rest:
        mine = [
            system_rest.post("/List/WebPanel/Items", json=panel(f"m{i}")).json() for i in (1, 2)
        ]
        theirs = other_rest.post("/Agents/List/SaveWebPanelEntity", json=panel("t1")).json()
        seeded = [p for p in system_rest.get("/List/WebPanel/Items").json() if p["Rank"] == 1]
        assert seeded  # a panel no app owns

        def own(client: httpx.Client) -> set[int]:
            response = client.post("/Agents/List/GetAppWebPanels")
            assert response.status_code == 200
            return {p["WebPanelId"] for p in response.json()}

        assert own(system_rest) == {p["WebPanelId"] for p in mine}
        assert own(other_rest) == {theirs["WebPanelId"]}
        # DeleteWebPanel: another app's panel is refused (403); unknown ids are 404.
        refused = system_rest.post("/Agents/List/DeleteWebPanel", json={"Id": theirs["WebPanelId"]})
        assert assert_error(refused, 403)["ErrorType"] == "SoSecurityException"
        seeded_id = seeded[0]["WebPanelId"]
        assert_error(system_rest.post("/Agents/List/DeleteWebPanel", json={"Id": seeded_id}), 403)
        assert_error(system_rest.post("/Agents/List/DeleteWebPanel", json={"Id": 99999}), 404)
        first = mine[0]["WebPanelId"]
        deleted = system_rest.post("/Agents/List/DeleteWebPanel", json={"Id": first})
        assert deleted.status_code == 204
        assert_error(system_rest.get(f"/List/WebPanel/Items/{first}"), 404)  # hard delete
        # DeleteAppWebPanels removes the caller's panels and nothing else.
        assert system_rest.post("/Agents/List/DeleteAppWebPanels").status_code == 204
        assert own(system_rest) == set()
        assert own(other_rest) == {theirs["WebPanelId"]}
        remaining = {p["WebPanelId"] for p in system_rest.get("/List/WebPanel/Items").json()}
        assert remaining == {theirs["WebPanelId"], seeded_id}
        assert system_rest.post("/Agents/List/DeleteAppWebPanels").status_code == 204


def test_a_bearer_call_acts_for_an_application_only_with_its_so_app_token(
    emu: Emulator, flow: Any, app: dict[str, Any], system_rest: httpx.Client, tenant_rest: Any
) -> None:
    """Protocol §7: GetAppWebPanels works "for registered Apps that send a valid
    ApplicationToken"; DeleteAppWebPanels does nothing otherwise."""
    _, tokens = flow.sign_in_and_exchange(app)  # the administrator of Cust12345
    bearer = f"Bearer {tokens['access_token']}"
    with (
        tenant_rest(bearer) as user_only,
        tenant_rest(bearer, app["client_secret"]) as for_app,
        tenant_rest(bearer, "0" * 32) as wrong_token,
    ):
        assert for_app.headers["SO-AppToken"] == app["client_secret"]
        unowned = user_only.post("/List/WebPanel/Items", json=panel("plain"))
        assert unowned.status_code == 200, unowned.text
        unowned_id = unowned.json()["WebPanelId"]
        refused = user_only.post("/Agents/List/GetAppWebPanels")
        assert assert_error(refused, 403)["ErrorType"] == "SoSecurityException"
        assert "SO-AppToken" in refused.json()["ErrorMessage"]
        # DeleteAppWebPanels without an application token: 204 and nothing happens.
        assert user_only.post("/Agents/List/DeleteAppWebPanels").status_code == 204
        assert user_only.get(f"/List/WebPanel/Items/{unowned_id}").status_code == 200
        no_app = user_only.post("/Agents/List/DeleteWebPanel", json={"Id": unowned_id})
        assert assert_error(no_app, 403)["ErrorType"] == "SoSecurityException"

        owned = for_app.post("/Agents/List/SaveWebPanelEntity", json=panel("owned")).json()
        ids = {p["WebPanelId"] for p in for_app.post("/Agents/List/GetAppWebPanels").json()}
        assert ids == {owned["WebPanelId"]}  # the plain panel belongs to no application
        # The same application through its system user (SOTicket + SO-AppToken) owns it too.
        via_ticket = system_rest.post("/Agents/List/GetAppWebPanels").json()
        assert {p["WebPanelId"] for p in via_ticket} == ids

        # An SO-AppToken that is not the token's application's secret is refused: 401.
        before = len(system_rest.get("/List/WebPanel/Items").json())
        assert_error(wrong_token.post("/List/WebPanel/Items", json=panel("nope")), 401)
        assert_error(wrong_token.post("/Agents/List/GetAppWebPanels"), 401)
        assert len(system_rest.get("/List/WebPanel/Items").json()) == before

        assert for_app.post("/Agents/List/DeleteAppWebPanels").status_code == 204
        assert for_app.post("/Agents/List/GetAppWebPanels").json() == []
        assert user_only.get(f"/List/WebPanel/Items/{unowned_id}").status_code == 200


def test_sentry_hides_a_record_from_a_normal_user_not_from_the_system_user(
    flow: Any, app: dict[str, Any], system_rest: httpx.Client, tenant_rest: Any
) -> None:
    _, user_tokens = flow.sign_in_and_exchange(app, username="user@cust12345.test")
    _, admin_tokens = flow.sign_in_and_exchange(app)
    system_names = {i["Name"]: i["Id"] for i in system_rest.get("/List/Category/Items").json()}
    assert "Confidential" in system_names
    secret_path = f"/List/Category/Items/{system_names['Confidential']}"
    assert system_rest.get(secret_path).status_code == 200
    with tenant_rest(f"Bearer {user_tokens['access_token']}") as user_rest:
        user_names = {i["Name"] for i in user_rest.get("/List/Category/Items").json()}
        assert user_names == set(system_names) - {"Confidential"}
        assert_error(user_rest.get(secret_path), 404)
    with tenant_rest(f"Bearer {admin_tokens['access_token']}") as admin_rest:
        assert admin_rest.get(secret_path).status_code == 200  # the Administrator role sees it


def test_rest_needs_credentials(emu: Emulator, http: httpx.Client, tenant_rest: Any) -> None:
    with tenant_rest("Bearer 8A:Cust12345.bm9wZQ==") as anonymous:
        assert_error(anonymous.get("/List"), 401)
        assert_error(anonymous.post("/Agents/List/GetAppWebPanels"), 401)
    assert_error(http.get(f"{emu.tenant_url('Cust12345')}/api/v1/List"), 401)


def test_odd_requests_get_superoffice_errors_never_500(system_rest: httpx.Client) -> None:
    cases: list[tuple[str, str, Any, int]] = [
        ("GET", "/List/abc/Items/xyz", None, 404),
        ("GET", "/List/Category/Items/xyz", None, 404),
        ("POST", "/List", [1], 400),
        ("POST", "/List", {"Name": "L", "ListType": "category"}, 400),
        ("PUT", "/List/1", None, 400),
        ("PATCH", "/List/1", {}, 405),
        ("POST", "/Agents/List/SaveWebPanelEntity", {"WebPanelId": True}, 400),
        ("POST", "/Agents/List/SaveWebPanelEntity", {"WebPanelEntity": {"Name": "w"}}, 200),
        ("POST", "/Agents/List/DeleteWebPanel", {"Id": "1"}, 400),
        ("POST", "/Agents/List/DeleteWebPanel", None, 400),
        ("GET", "/List/WebPanel/Items/abc", None, 404),
        ("PUT", "/List/WebPanel/Items/99999", {"Name": "x"}, 404),
    ]
    for method, path, body, status in cases:
        content = None if body is None else json.dumps(body)
        response = system_rest.request(method, path, content=content)
        assert response.status_code == status, (method, path, response.text)
        if status >= 400:
            assert set(response.json()) == ERROR_FIELDS
    not_json = system_rest.post("/List", content=b"{nope")
    assert_error(not_json, 400)
