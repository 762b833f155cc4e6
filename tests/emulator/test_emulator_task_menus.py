"""Tenant REST: the List agent's task menus with app ownership, and the user groups a list
item (a web panel) is visible for (protocol §7.1, §7.2; SuperOfficeDocs List_Agent and
List_Item reference pages)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

SystemUser = Any  # the `system_user` fixture of conftest.py
TASK_MENU_FIELDS = {
    "TaskMenuId",
    "Name",
    "Tooltip",
    "TableName",
    "Area",
    "UrlOrSoprotocol",
    "TaskType",
    "CrmScriptId",
    "ShowInClient",
    "ArchiveBehaviour",
    "Rank",
    "Encoding",
    "ProgId",
    "Deleted",
    "TableRight",
    "FieldProperties",
}
ERROR_FIELDS = {"Error", "ErrorType", "ErrorMessage", "ErrorSource"}


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS
    return body


def task_menu(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "TaskMenuId": 0,
        "Name": name,
        "TableName": "contact",
        "Area": "Task",
        "UrlOrSoprotocol": "https://partner.example.com/panel/app?uctx=<uctx>&contact=<cuid>",
        "TaskType": "Url",
        "ShowInClient": "Web",
        "ArchiveBehaviour": "None",
        "Encoding": "None",
        **extra,
    }


def test_create_default_and_save_a_task_menu(system_rest: httpx.Client) -> None:
    default = system_rest.post("/Agents/List/CreateDefaultTaskMenu")
    assert default.status_code == 200
    assert set(default.json()) == TASK_MENU_FIELDS
    assert default.json()["TaskMenuId"] == 0
    created = system_rest.post(
        "/Agents/List/SaveTaskMenu", json=task_menu("Sync", ProgId="acme.task", Rank=3)
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == TASK_MENU_FIELDS
    assert body["TaskMenuId"] > 0
    assert (body["Name"], body["ProgId"], body["TaskType"], body["Rank"]) == (
        "Sync",
        "acme.task",
        "Url",
        3,
    )
    # An update keeps what it does not name.
    updated = system_rest.post(
        "/Agents/List/SaveTaskMenu", json={"TaskMenuId": body["TaskMenuId"], "Tooltip": "Go"}
    )
    assert updated.status_code == 200
    assert (updated.json()["Tooltip"], updated.json()["Name"]) == ("Go", "Sync")
    assert_error(system_rest.post("/Agents/List/SaveTaskMenu", json={"TaskMenuId": 99999}), 404)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Entity to save is not in request body"),
        (task_menu(""), "Name is required"),
        (task_menu("x" * 240), "Name is longer than 239 characters"),
        (task_menu("T", TaskType="Macro"), "TaskType 'Macro' is not a known value"),
        (task_menu("T", ShowInClient="Desktop"), "ShowInClient 'Desktop' is not a known value"),
        (task_menu("T", UrlOrSoprotocol="soprotocol:x"), "needs an http(s) UrlOrSoprotocol"),
        (task_menu("T", TaskType="SoProtocol"), "needs a soprotocol: UrlOrSoprotocol"),
        (task_menu("T", TaskType="CrmScript"), "needs a CrmScriptId"),
        (task_menu("T", Colour="red"), "Unknown field(s): Colour"),
        (task_menu("T", Rank="1"), "Rank must be a int"),
    ],
)
def test_a_bad_task_menu_is_refused(
    system_rest: httpx.Client, body: dict[str, Any], message: str
) -> None:
    refused = assert_error(system_rest.post("/Agents/List/SaveTaskMenu", json=body), 400)
    assert message in refused["ErrorMessage"]
    assert system_rest.post("/Agents/List/GetAppTaskMenus").json() == []


def test_task_menu_names_are_unique(system_rest: httpx.Client) -> None:
    """The TaskMenu table's name index is unique (docs/en/database/tables/taskmenu.md)."""
    first = system_rest.post("/Agents/List/SaveTaskMenu", json=task_menu("Sync")).json()
    again = system_rest.post("/Agents/List/SaveTaskMenu", json=task_menu("sync"))
    assert "already exists" in assert_error(again, 400)["ErrorMessage"]
    other = system_rest.post("/Agents/List/SaveTaskMenu", json=task_menu("Other")).json()
    rename = {"TaskMenuId": other["TaskMenuId"], "Name": "SYNC"}
    assert_error(system_rest.post("/Agents/List/SaveTaskMenu", json=rename), 400)
    keep = {"TaskMenuId": first["TaskMenuId"], "Name": "Sync"}  # its own name is fine
    assert system_rest.post("/Agents/List/SaveTaskMenu", json=keep).status_code == 200


def test_an_app_sees_and_deletes_only_its_own_task_menus(
    emu: Emulator, flow: Any, system_user: SystemUser, system_rest: httpx.Client, tenant_rest: Any
) -> None:
    other_app = emu.register_app(name="Other App", redirect_urls=["http://127.0.0.1:8000/callback"])
    other = type(system_user)(flow, other_app)
    with tenant_rest(f"SOTicket {other.ticket()}", other_app["client_secret"]) as other_rest:
        mine = [
            system_rest.post("/Agents/List/SaveTaskMenu", json=task_menu(f"m{i}")).json()
            for i in (1, 2)
        ]
        theirs = other_rest.post("/Agents/List/SaveTaskMenu", json=task_menu("t1")).json()

        def own(client: httpx.Client) -> set[int]:
            response = client.post("/Agents/List/GetAppTaskMenus")
            assert response.status_code == 200
            return {m["TaskMenuId"] for m in response.json()}

        assert own(system_rest) == {m["TaskMenuId"] for m in mine}
        assert own(other_rest) == {theirs["TaskMenuId"]}
        # DeleteTaskMenu?TaskMenuId=n: another app's is refused (403), unknown ids are 404.
        path = "/Agents/List/DeleteTaskMenu"
        refused = system_rest.post(path, params={"TaskMenuId": theirs["TaskMenuId"]})
        assert assert_error(refused, 403)["ErrorType"] == "SoSecurityException"
        assert_error(system_rest.post(path, params={"TaskMenuId": 99999}), 404)
        assert_error(system_rest.post(path), 400)
        assert_error(system_rest.post(path, params={"TaskMenuId": "x"}), 400)
        first = mine[0]["TaskMenuId"]
        assert system_rest.post(path, params={"taskmenuid": first}).status_code == 204
        assert own(system_rest) == {mine[1]["TaskMenuId"]}
        # DeleteAppTaskMenus removes the caller's and nothing else.
        assert system_rest.post("/Agents/List/DeleteAppTaskMenus").status_code == 204
        assert own(system_rest) == set()
        assert own(other_rest) == {theirs["TaskMenuId"]}


def test_app_task_menus_need_the_application_token(
    flow: Any, app: dict[str, Any], tenant_rest: Any
) -> None:
    """GetAppTaskMenus works "for registered Apps that send a valid ApplicationToken";
    DeleteAppTaskMenus: "otherwise nothing happens"."""
    _, tokens = flow.sign_in_and_exchange(app)
    bearer = f"Bearer {tokens['access_token']}"
    with tenant_rest(bearer) as user_only, tenant_rest(bearer, app["client_secret"]) as for_app:
        plain = user_only.post("/Agents/List/SaveTaskMenu", json=task_menu("Plain")).json()
        assert assert_error(user_only.post("/Agents/List/GetAppTaskMenus"), 403)
        assert user_only.post("/Agents/List/DeleteAppTaskMenus").status_code == 204
        owned = for_app.post("/Agents/List/SaveTaskMenu", json=task_menu("Owned")).json()
        ids = {m["TaskMenuId"] for m in for_app.post("/Agents/List/GetAppTaskMenus").json()}
        assert ids == {owned["TaskMenuId"]}  # the plain one belongs to no application
        refused = user_only.post(
            "/Agents/List/DeleteTaskMenu", params={"TaskMenuId": plain["TaskMenuId"]}
        )
        assert_error(refused, 403)


def test_the_v1_map_lists_the_task_menu_and_user_group_endpoints(
    emu: Emulator, http: httpx.Client, system_rest: httpx.Client
) -> None:
    endpoints = system_rest.get("").json()
    api = f"{emu.tenant_url('Cust12345')}/api"
    for name in ("SaveTaskMenu", "GetAppTaskMenus", "DeleteAppTaskMenus", "DeleteTaskMenu"):
        assert "POST" in endpoints[f"{api}/v1/Agents/List/{name}"]
    groups = endpoints[f"{api}/v1/List/{{idOrName}}/Items/{{itemId}}/UserGroups"]
    assert set(groups) == {"GET", "PUT"}


def test_a_new_web_panel_is_visible_for_no_group_until_its_user_groups_are_set(
    system_rest: httpx.Client,
) -> None:
    created = system_rest.post(
        "/List/WebPanel/Items", json={"Name": "Acme", "VisibleIn": "ContactCard"}
    ).json()
    path = f"/List/WebPanel/Items/{created['WebPanelId']}/UserGroups"
    groups = system_rest.get(path)
    assert groups.status_code == 200
    assert [(g["Name"], g["Selected"]) for g in groups.json()] == [
        ("Sales", False),
        ("Support", False),
        ("Management", False),
    ]
    assert {"Id", "Name", "Selected", "ToolTip", "FullName", "ChildItems"} <= set(groups.json()[0])
    everyone = [{**g, "Selected": True} for g in groups.json()]
    saved = system_rest.put(path, json=everyone)
    assert saved.status_code == 200
    assert all(g["Selected"] for g in saved.json())
    # By the list's id too; a PUT that names one group changes only that one.
    webpanel_id = next(
        d["Id"] for d in system_rest.get("/List").json() if d["ListType"] == "webpanel"
    )
    by_id = f"/List/{webpanel_id}/Items/{created['WebPanelId']}/UserGroups"
    first = groups.json()[0]["Id"]
    narrowed = system_rest.put(by_id, json=[{"Id": first, "Selected": False}]).json()
    assert [g["Selected"] for g in narrowed] == [False, True, True]
    assert system_rest.get(path).json() == narrowed
    # The seeded panel (set up in the tenant) is visible for everyone.
    seeded = next(
        p
        for p in system_rest.get("/List/WebPanel/Items").json()
        if p["ProgId"] == "superoffice.community"
    )
    seeded_groups = system_rest.get(f"/List/WebPanel/Items/{seeded['WebPanelId']}/UserGroups")
    assert all(g["Selected"] for g in seeded_groups.json())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Id": 1}, "Send an array of the user groups"),
        ([{"Id": 99999, "Selected": True}], "User group 99999 does not exist"),
        ([{"Id": "1", "Selected": True}], "needs an int Id"),
        ([{"Selected": True}], "needs an int Id"),
    ],
)
def test_bad_user_groups_are_refused(system_rest: httpx.Client, body: Any, message: str) -> None:
    created = system_rest.post(
        "/List/WebPanel/Items", json={"Name": "Acme", "VisibleIn": "ContactCard"}
    ).json()
    path = f"/List/WebPanel/Items/{created['WebPanelId']}/UserGroups"
    assert message in assert_error(system_rest.put(path, json=body), 400)["ErrorMessage"]
    assert not any(g["Selected"] for g in system_rest.get(path).json())
    assert_error(system_rest.get("/List/WebPanel/Items/99999/UserGroups"), 404)


def test_a_boolean_selected_is_required(system_rest: httpx.Client) -> None:
    created = system_rest.post(
        "/List/WebPanel/Items", json={"Name": "Acme", "VisibleIn": "ContactCard"}
    ).json()
    path = f"/List/WebPanel/Items/{created['WebPanelId']}/UserGroups"
    group = system_rest.get(path).json()[0]
    refused = system_rest.put(path, json=[{**group, "Selected": "yes"}])
    assert "needs a boolean Selected" in assert_error(refused, 400)["ErrorMessage"]
