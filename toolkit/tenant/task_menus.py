"""Task menu items and list-item visibility: the List agent's task menu methods and the
``UserGroups`` endpoints of a list item (protocol §7.1, §7.2).

Task menus (``TaskMenu``, SuperOfficeDocs ``docs/en/api/reference/restful/agent/List_Agent/
v1ListAgent_{SaveTaskMenu,GetAppTaskMenus,DeleteAppTaskMenus,DeleteTaskMenu,
CreateDefaultTaskMenu}.md``): all ``POST /v1/Agents/List/...``; ``SaveTaskMenu`` creates when
``TaskMenuId`` is 0 and takes the entity itself as its body; ``DeleteTaskMenu`` takes
``TaskMenuId`` in the query string; the ``App`` methods work only for a registered app that
sends its application token. Enum names from ``docs/en/database/tables/enums/
{tasklistitemtype,showtaskiteminclient,archivebehaviour}.md``.

Visibility (``docs/en/api/reference/restful/rest/List_Item/
v1ListItemEntity_{GetVisibleForUserGroups,SetVisibleForUserGroupsFromListName}.md``):
``GET|PUT /v1/List/{name}/Items/{id}/UserGroups`` with ``SelectableMDOListItem``s whose
``Selected`` says the item is visible for that group. "Everyone" is every group selected [I].

The helpers take any client with :meth:`~toolkit.tenant.WebApiClient.call`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol
from urllib.parse import quote

from toolkit.errors import UnexpectedResponseError

__all__ = [
    "ArchiveBehaviour",
    "ShowTaskItemInClient",
    "TaskListItemType",
    "TaskMenuEntity",
    "app_task_menus",
    "delete_app_task_menus",
    "delete_task_menu",
    "item_user_groups",
    "save_task_menu",
    "set_item_user_groups",
    "set_visible_for_everyone",
]

AGENT: Final = "v1/Agents/List"
# Column sizes of the TaskMenu table (docs/en/database/tables/taskmenu.md): name is also unique.
TASK_MENU_NAME_LENGTH: Final = 239
TASK_MENU_URL_LENGTH: Final = 1024
TASK_MENU_TOOLTIP_LENGTH: Final = 254
TASK_MENU_TEXT_LENGTH: Final = 256  # tableName, area


class TaskListItemType(StrEnum):
    """``TaskType``: what the item runs (tasklistitemtype.md)."""

    None_ = "None"
    Url = "Url"
    CrmScript = "CrmScript"
    SoProtocol = "SoProtocol"


class ShowTaskItemInClient(StrEnum):
    """``ShowInClient``: which clients show the item (showtaskiteminclient.md)."""

    None_ = "None"
    Web = "Web"
    Mobile = "Mobile"


class ArchiveBehaviour(StrEnum):
    """``ArchiveBehaviour``: right-click in archives (archivebehaviour.md)."""

    None_ = "None"
    InArchives = "InArchives"
    MultiSelectInArchives = "MultiSelectInArchives"


class Caller(Protocol):
    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any: ...


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    return value if isinstance(value, str) else ""


def _int(document: Mapping[str, Any], name: str) -> int:
    value = document.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class TaskMenuEntity:
    """A ``TaskMenu`` (PascalCase on the wire); ``task_menu_id`` 0 means "new"."""

    name: str
    url_or_soprotocol: str = ""
    task_type: str = TaskListItemType.Url
    table_name: str = ""
    area: str = ""
    tooltip: str = ""
    show_in_client: str = ShowTaskItemInClient.Web
    archive_behaviour: str = ArchiveBehaviour.None_
    rank: int = 0
    encoding: str = "None"
    prog_id: str = ""
    crm_script_id: int = 0
    deleted: bool = False
    task_menu_id: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "TaskMenuId": self.task_menu_id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "TableName": self.table_name,
            "Area": self.area,
            "UrlOrSoprotocol": self.url_or_soprotocol,
            "TaskType": str(self.task_type),
            "CrmScriptId": self.crm_script_id,
            "ShowInClient": str(self.show_in_client),
            "ArchiveBehaviour": str(self.archive_behaviour),
            "Rank": self.rank,
            "Encoding": str(self.encoding),
            "ProgId": self.prog_id,
            "Deleted": self.deleted,
        }

    @classmethod
    def from_wire(cls, document: Any) -> TaskMenuEntity:
        if not isinstance(document, Mapping):
            raise UnexpectedResponseError(
                f"a TaskMenu must be a JSON object, not {type(document).__name__}"
            )
        return cls(
            task_menu_id=_int(document, "TaskMenuId"),
            name=_text(document, "Name"),
            tooltip=_text(document, "Tooltip"),
            table_name=_text(document, "TableName"),
            area=_text(document, "Area"),
            url_or_soprotocol=_text(document, "UrlOrSoprotocol"),
            task_type=_text(document, "TaskType") or TaskListItemType.None_,
            crm_script_id=_int(document, "CrmScriptId"),
            show_in_client=_text(document, "ShowInClient") or ShowTaskItemInClient.None_,
            archive_behaviour=_text(document, "ArchiveBehaviour") or ArchiveBehaviour.None_,
            rank=_int(document, "Rank"),
            encoding=_text(document, "Encoding") or "None",
            prog_id=_text(document, "ProgId"),
            deleted=document.get("Deleted") is True,
        )


def _array(document: Any, what: str) -> Sequence[Any]:
    if not isinstance(document, list):
        raise UnexpectedResponseError(f"{what} must be a JSON array")
    return document


def app_task_menus(api: Caller) -> list[TaskMenuEntity]:
    """``GetAppTaskMenus``: the task menus the calling application owns."""
    answer = api.call("POST", f"{AGENT}/GetAppTaskMenus")
    return [TaskMenuEntity.from_wire(item) for item in _array(answer, "GetAppTaskMenus")]


def save_task_menu(api: Caller, entity: TaskMenuEntity) -> TaskMenuEntity:
    """``SaveTaskMenu``: creates (``TaskMenuId`` 0) or updates; the saved entity."""
    return TaskMenuEntity.from_wire(
        api.call("POST", f"{AGENT}/SaveTaskMenu", body=entity.to_wire())
    )


def delete_task_menu(api: Caller, task_menu_id: int) -> None:
    """``DeleteTaskMenu?TaskMenuId=n``."""
    api.call("POST", f"{AGENT}/DeleteTaskMenu", params={"TaskMenuId": str(int(task_menu_id))})


def delete_app_task_menus(api: Caller) -> None:
    """``DeleteAppTaskMenus``: permanently deletes every task menu the application owns."""
    api.call("POST", f"{AGENT}/DeleteAppTaskMenus")


def _user_groups_path(list_name: str, item_id: int) -> str:
    return f"v1/List/{quote(list_name, safe='')}/Items/{int(item_id)}/UserGroups"


def item_user_groups(api: Caller, list_name: str, item_id: int) -> list[dict[str, Any]]:
    """The user groups of a list item (``SelectableMDOListItem``s with ``Selected``)."""
    answer = api.call("GET", _user_groups_path(list_name, item_id))
    return [dict(g) for g in _array(answer, "UserGroups") if isinstance(g, Mapping)]


def set_item_user_groups(
    api: Caller, list_name: str, item_id: int, groups: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Save which user groups see a list item; the groups as saved."""
    answer = api.call("PUT", _user_groups_path(list_name, item_id), body=list(groups))
    return [dict(g) for g in _array(answer, "UserGroups") if isinstance(g, Mapping)]


def set_visible_for_everyone(api: Caller, list_name: str, item_id: int) -> bool:
    """Make a list item (a web panel in list ``WebPanel``) visible for every user group, as
    SuperOffice's provisioning guide asks of example panels
    (``docs/en/developer-portal/provisioning/index.md``). Reads first and writes only when a
    group is not selected yet; True when it wrote."""
    groups = item_user_groups(api, list_name, item_id)
    if all(group.get("Selected") is True for group in groups):
        return False
    set_item_user_groups(api, list_name, item_id, [{**g, "Selected": True} for g in groups])
    return True
