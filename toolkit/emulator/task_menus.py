"""Task menu items: the List agent's task menu methods (protocol §7.2), served under
`/{ctx}/api/v1/Agents/List/...` by `tenant_lists.TenantLists`.

From SuperOfficeDocs (`docs/en/api/reference/restful/agent/List_Agent/v1ListAgent_*.md`):
`CreateDefaultTaskMenu` answers a new entity; `SaveTaskMenu` creates when `TaskMenuId` is 0
and otherwise updates, its body being the entity (200 with the saved one); `GetAppTaskMenus`
lists the caller's task menus and `DeleteAppTaskMenus` permanently deletes them ("works in
Online only, for registered Apps that send a valid ApplicationToken; otherwise nothing
happens", 204); `DeleteTaskMenu?TaskMenuId=n` deletes one (204). Field sizes and the unique
name come from `docs/en/database/tables/taskmenu.md`; the enum names from
`docs/en/database/tables/enums/{tasklistitemtype,showtaskiteminclient,archivebehaviour,
urlencoding}.md`.

Decisions where the docs are silent [I], the same as for web panels (`tenant_lists`):
- a task menu belongs to the application the creating request acted for
  (`tenant_api.owning_application`, a valid application token); `GetAppTaskMenus` without one
  is refused (403, `require_application`); `DeleteAppTaskMenus` without one does nothing;
- `DeleteTaskMenu` of another application's (or an unowned) task menu: 403; unknown id: 404;
  `TaskMenuId` missing or not a number: 400;
- `SaveTaskMenu` of an existing id updates any task menu (like `SaveWebPanelEntity`); a name
  another task menu has is refused (400, the table's unique index); `TaskType` `Url` needs an
  http(s) URL, `SoProtocol` a `soprotocol:` one, `CrmScript` a `CrmScriptId`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from toolkit.emulator.errors import ApiError
from toolkit.emulator.tenant_api import require_application
from toolkit.emulator.tenant_data import (
    FULL_TABLE_RIGHT,
    URL_ENCODINGS,
    TaskMenu,
    bad_request,
    checked_fields,
    require_entity,
)

if TYPE_CHECKING:
    from toolkit.emulator.tenant_lists import Call
    from toolkit.emulator.world import World

__all__ = ["ENDPOINTS", "TaskMenus"]

FORBIDDEN_ERROR_TYPE = "SoSecurityException"  # as for web panels [I]
NOT_FOUND_ERROR_TYPE = "SoNotFoundException"  # the documented 404 type (protocol §5)
TASK_TYPES = ("None", "Url", "CrmScript", "SoProtocol")
SHOW_IN_CLIENT = ("None", "Web", "Mobile")
ARCHIVE_BEHAVIOURS = ("None", "InArchives", "MultiSelectInArchives")
# Column sizes of the TaskMenu table.
MAX_LENGTHS = {
    "Name": 239,
    "Tooltip": 254,
    "TableName": 256,
    "Area": 256,
    "UrlOrSoprotocol": 1024,
    "ProgId": 256,  # [I]: the table page lists no progid column size
}
DEFAULTS: dict[str, Any] = {
    "TaskMenuId": 0,
    "Name": "",
    "Tooltip": "",
    "TableName": "",
    "Area": "",
    "UrlOrSoprotocol": "",
    "TaskType": "None",
    "CrmScriptId": 0,
    "ShowInClient": "None",
    "ArchiveBehaviour": "None",
    "Rank": 0,
    "Encoding": "None",
    "ProgId": "",
    "Deleted": False,
}
SCHEMA = {name: type(value) for name, value in DEFAULTS.items()}

# (verb, path after /api/v1, description) for the /api/v1 map.
ENDPOINTS: list[tuple[str, str, str]] = [
    ("POST", "/Agents/List/CreateDefaultTaskMenu", "Default values for a new task menu"),
    ("POST", "/Agents/List/SaveTaskMenu", "Create (TaskMenuId 0) or update a task menu"),
    ("POST", "/Agents/List/GetAppTaskMenus", "The task menus owned by the calling app"),
    ("POST", "/Agents/List/DeleteAppTaskMenus", "Delete every task menu owned by the app"),
    ("POST", "/Agents/List/DeleteTaskMenu", "Delete one task menu (?TaskMenuId=n)"),
]


def task_menu_entity(menu: TaskMenu) -> dict[str, Any]:
    """TaskMenu, fields in the reference's order."""
    entity = {name: menu.entity.get(name, default) for name, default in DEFAULTS.items()}
    entity["TableRight"] = dict(FULL_TABLE_RIGHT)
    entity["FieldProperties"] = {}
    return entity


def _enum(name: str, value: str, names: tuple[str, ...]) -> str:
    for candidate in names:
        if candidate.lower() == value.lower():
            return candidate
    raise bad_request(f"{name} {value!r} is not a known value")


def task_menu_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = checked_fields(body, SCHEMA)
    for name, names in (
        ("TaskType", TASK_TYPES),
        ("ShowInClient", SHOW_IN_CLIENT),
        ("ArchiveBehaviour", ARCHIVE_BEHAVIOURS),
        ("Encoding", URL_ENCODINGS),
    ):
        if name in fields:
            fields[name] = _enum(name, fields[name], names)
    for name, limit in MAX_LENGTHS.items():
        if len(fields.get(name, "")) > limit:
            raise bad_request(f"{name} is longer than {limit} characters")
    return fields


def _check(entity: dict[str, Any]) -> None:
    if not entity["Name"].strip():
        raise bad_request("Name is required")
    target = entity["UrlOrSoprotocol"].strip().lower()
    kind = entity["TaskType"]
    if kind == "Url" and not target.startswith(("https://", "http://")):
        raise bad_request("A Url task menu needs an http(s) UrlOrSoprotocol")
    if kind == "SoProtocol" and not target.startswith("soprotocol:"):
        raise bad_request("A SoProtocol task menu needs a soprotocol: UrlOrSoprotocol")
    if kind == "CrmScript" and entity["CrmScriptId"] <= 0:
        raise bad_request("A CrmScript task menu needs a CrmScriptId")


class TaskMenus:
    """The task menu agent methods, bound to the emulator's world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def handlers(self) -> dict[tuple[str, str], Any]:
        return {
            ("POST", "/Agents/List/CreateDefaultTaskMenu"): self.create_default,
            ("POST", "/Agents/List/SaveTaskMenu"): self.save,
            ("POST", "/Agents/List/GetAppTaskMenus"): self.app_task_menus,
            ("POST", "/Agents/List/DeleteAppTaskMenus"): self.delete_app_task_menus,
            ("POST", "/Agents/List/DeleteTaskMenu"): self.delete,
        }

    async def create_default(self, call: Call) -> Response:
        return JSONResponse(task_menu_entity(TaskMenu(dict(DEFAULTS))))

    def _name_taken(self, call: Call, name: str, other_than: int) -> bool:
        folded = name.strip().casefold()
        return any(
            m.entity["Name"].strip().casefold() == folded and m.id != other_than
            for m in call.data.task_menus
        )

    async def save(self, call: Call) -> Response:
        body = require_entity(await call.body())
        # The agent's one parameter may also arrive wrapped by its name [I].
        if set(body) == {"TaskMenu"} and isinstance(body["TaskMenu"], dict):
            body = require_entity(body["TaskMenu"])
        fields = task_menu_fields(body)
        task_menu_id = fields.get("TaskMenuId", 0)
        with self.world.changing():
            if task_menu_id == 0:
                entity = {**DEFAULTS, **fields}
                _check(entity)
                if self._name_taken(call, entity["Name"], 0):
                    raise bad_request(f"A task menu named {entity['Name']!r} already exists")
                entity["TaskMenuId"] = call.data.new_id()
                menu = TaskMenu(entity, call.owner)
                call.data.task_menus.append(menu)
            else:
                found = call.data.find_task_menu(task_menu_id)
                if found is None:
                    raise ApiError(404, NOT_FOUND_ERROR_TYPE, f"Task menu {task_menu_id} not found")
                entity = {**found.entity, **fields}
                _check(entity)
                if self._name_taken(call, entity["Name"], found.id):
                    raise bad_request(f"A task menu named {entity['Name']!r} already exists")
                found.entity = entity
                menu = found
            return JSONResponse(task_menu_entity(menu))

    async def app_task_menus(self, call: Call) -> Response:
        owner = require_application(call.principal, "GetAppTaskMenus")
        with self.world.lock:
            return JSONResponse(
                [task_menu_entity(m) for m in call.data.task_menus if m.owner == owner]
            )

    async def delete_app_task_menus(self, call: Call) -> Response:
        owner = call.owner
        if owner is not None:  # "otherwise nothing happens"
            with self.world.changing():
                call.data.task_menus[:] = [m for m in call.data.task_menus if m.owner != owner]
        return Response(status_code=204)

    async def delete(self, call: Call) -> Response:
        # Query names bind case-insensitively in ASP.NET [I].
        values = [
            v for k, v in call.request.query_params.multi_items() if k.lower() == "taskmenuid"
        ]
        if len(values) != 1 or not values[0].strip().lstrip("-").isdigit():
            raise bad_request("Send ?TaskMenuId=<task menu id>")
        task_menu_id = int(values[0])
        with self.world.changing():
            menu = call.data.find_task_menu(task_menu_id)
            if menu is None:
                raise ApiError(404, NOT_FOUND_ERROR_TYPE, f"Task menu {task_menu_id} not found")
            if call.owner is None or menu.owner != call.owner:
                raise ApiError(
                    403,
                    FORBIDDEN_ERROR_TYPE,
                    f"Task menu {task_menu_id} is not owned by this application",
                )
            call.data.task_menus.remove(menu)
        return Response(status_code=204)
