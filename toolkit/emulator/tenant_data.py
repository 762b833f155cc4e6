"""What lives inside a tenant's database, as far as the emulator models it (protocol §7):
list definitions (ListEntity), list items (ListItemEntity), web panels (WebPanelEntity), task
menus (TaskMenu), the user groups a list item is visible for, plus a minimal Sentry.

User-group visibility [I]: the tenant has user groups (the built-in list ``UserGroup``, ListType
``usergroup``, §7.3); a list item or web panel is visible for the groups in ``visible_for``,
``None`` meaning every group (what the seeded data has). A web panel created through the API
starts visible for no group: SuperOffice's provisioning guide has to ask partners to "make sure
visibility of example web panels is set to Everyone" (``developer-portal/provisioning/
index.md``), so a new panel is not visible for everyone by itself.

Built-in lists are seeded on first use of a tenant. Their `Id`s are the emulator's own [I]; the
category list also answers to `-64` (a negative id is a TableNumber, "-64 = category", §7.4);
the other built-in lists' table numbers are not in the reference, so they have none.

Sentry (simple model, [I]): a list item may carry `restricted_to`, a role name; a normal user
(Bearer) sees it only when the `RoleName` of their principal is that role ("Administrator" for a
tenant administrator, "User" otherwise). The system user bypasses Sentry (protocol §4.1) and
sees everything. Seeded: the category item "Confidential" is restricted to "Administrator".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolkit.emulator.errors import ApiError, WorldError

VALIDATION_ERROR_TYPE = "SoException"  # the type name of a 400 is undocumented [I]
NO_ENTITY = "Entity to save is not in request body"  # 400 text of SD:ref-wp (protocol §5)

CATEGORY_TABLE_NUMBER = 64  # "-64 = category" (protocol §7.4)
WEBPANEL_LIST_TYPE = "webpanel"
USERGROUP_LIST_TYPE = "usergroup"  # DNO ListHelper's list types (protocol §7.3) [S]
# The tenant's user groups; their names are the emulator's own [I].
USER_GROUPS = ("Sales", "Support", "Management")
UDLIST_TYPE = "udlist"  # user-defined lists (SD:udef, protocol §7.3)
ADMIN_ROLE = "Administrator"
# TableRight of a fully accessible record; NetServer's shape, values are [I].
FULL_TABLE_RIGHT: dict[str, Any] = {"Mask": "FULL", "Reason": ""}

# UrlEncoding names (protocol §7.1, [S] RZ UrlEncodingModel.cs).
URL_ENCODINGS = ("Unknown", "None", "ANSI", "Unicode")
# VisibleIn (Navigation) names in enum order (protocol §7.1, [S] RZ VisibleInModel.cs).
VISIBLE_IN = (
    "Invisible",
    "ToolboxMenu",
    "NavigatorButton",
    "ViewMenu",
    "SelectionTaskCard",
    "ContactCard",
    "ContactArchive",
    "ProjectCard",
    "ProjectArchive",
    "SaleCard",
    "PersonCard",
    "ActivityDialog",
    "DocumentDialog",
    "BrowserPanel",
    "ContSelectionTask",
    "AppntSelectionTask",
    "SaleSelectionTask",
    "DocSelectionTask",
    "ProjSelectionTask",
    "CompanyMinicard",
    "ProjectMinicard",
    "DiaryMinicard",
    "SelectionMinicard",
    "ButtonPanelTask",
    "AppointmentDialogTask",
    "SaleDialogTask",
    "DocumentDialogTask",
    "PersonDialogTask",
    "SaleMinicard",
    "SaleArchive",
    "AppntSelectionShadowTask",
    "SaleSelectionShadowTask",
    "DocSelectionShadowTask",
    "ProjSelectionShadowTask",
    "DiaryArchive",
    "SelectionContactArchive",
    "SelectionProjectArchive",
    "SelectionSaleArchive",
    "SelectionAppointmentArchive",
    "SelectionDocumentArchive",
    "ContSelectionCustomTask",
    "AppntSelectionCustomTask",
    "SaleSelectionCustomTask",
    "DocSelectionCustomTask",
    "ProjSelectionCustomTask",
    "CustomArchiveMiniCard",
    "SelectionCard",
    "ReportMinicard",
    "QuoteDialog",
    "QuoteDialogTask",
    "QuoteDialogArchive",
    "QuoteLineDialogTask",
    "QuoteLineDialog",
    "QuoteLineSelectionMainTask",
    "QuoteLineSelectionShadowTask",
    "SelectionQuoteLineArchive",
    "QuoteLineSelectionCustomTask",
    "FindSystem",
    "MailingSelectionTask",
    "ContactSelectionMailingsTask",
    "AppointmentSelectionMailingsTask",
    "SaleSelectionMailingsTask",
    "DocumentSelectionMailingsTask",
    "ProjectSelectionMailingsTask",
    "QuoteLineSelectionMailingsTask",
    "TopPanelNewMenu",
    "Dashboard",
    "PersonArchive",
    "PersonMinicard",
)

# WebPanelEntity fields (protocol §7.1) and the defaults of a new panel. The defaults follow
# RZ's model (OnCentral, OnSatellite, OnSalesMarketingWeb true, UrlEncoding None) [S]; the rest
# are the type's zero values [I].
WEB_PANEL_DEFAULTS: dict[str, Any] = {
    "WebPanelId": 0,
    "Name": "",
    "Tooltip": "",
    "Deleted": False,
    "Rank": 0,
    "UrlEncoding": "None",
    "VisibleIn": "Invisible",
    "OnCentral": True,
    "OnSatellite": True,
    "OnTravel": False,
    "OnSalesMarketingWeb": True,
    "OnSalesMarketingPocket": False,
    "ShowInMenuBar": False,
    "ShowInToolBar": False,
    "ShowInAddressBar": False,
    "ShowInStatusBar": False,
    "WindowName": "",
    "Url": "",
    "ProgId": "",
    "Icon": 0,
    "AlwaysReloadOnShow": False,
    "NeverReloadOnCurrentChange": False,
}
# Read-only response fields a client may echo back; ignored on input.
READ_ONLY_FIELDS = ("TableRight", "FieldProperties", "_Links")

LIST_FIELDS: dict[str, type] = {
    "Id": int,
    "Name": str,
    "Tooltip": str,
    "Deleted": bool,
    "Rank": int,
    "IsCustomList": bool,
    "IsMDOList": bool,
    "UseGroupsAndHeadings": bool,
    "ListType": str,
    "InUseByUserDefinedFields": bool,
}
ITEM_FIELDS: dict[str, type] = {
    "Id": int,
    "Name": str,
    "Tooltip": str,
    "Deleted": bool,
    "UdListDefinitionId": int,
    "Rank": int,
}


@dataclass
class ListItem:
    id: int
    name: str
    tooltip: str = ""
    rank: int = 0
    deleted: bool = False
    restricted_to: str | None = None  # Sentry: only this role (and the system user) sees it
    visible_for: list[int] | None = None  # user group ids; None = every group


@dataclass
class ListDef:
    id: int
    name: str
    list_type: str
    tooltip: str = ""
    rank: int = 0
    deleted: bool = False
    is_custom: bool = False
    is_mdo: bool = True
    use_groups_and_headings: bool = False
    in_use_by_udf: bool = False
    table_number: int | None = None
    items: list[ListItem] = field(default_factory=list)


@dataclass
class WebPanel:
    entity: dict[str, Any]  # the WebPanelEntity fields (PascalCase), WebPanelId included
    owner: str | None = None  # client_id of the app that created it (open question 13) [I]
    visible_for: list[int] | None = None  # user group ids; None = every group (see above)

    @property
    def id(self) -> int:
        return int(self.entity["WebPanelId"])


@dataclass
class TaskMenu:
    entity: dict[str, Any]  # the TaskMenu fields (PascalCase), TaskMenuId included
    owner: str | None = None  # the application the creating request acted for [I]

    @property
    def id(self) -> int:
        return int(self.entity["TaskMenuId"])


@dataclass
class TenantData:
    lists: list[ListDef]
    web_panels: list[WebPanel]
    next_id: int
    task_menus: list[TaskMenu] = field(default_factory=list)
    # "{kind}:{id}" -> the credential that created it (toolkit.emulator.creators) [I]
    created_by: dict[str, str] = field(default_factory=dict)

    def new_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value

    def find_list(self, key: str) -> ListDef | None:
        """By Id, by -TableNumber, or by name / ListType (case-insensitive, protocol §7.3)."""
        try:
            number = int(key)
        except ValueError:
            lowered = key.lower()
            for candidate in self.lists:
                # A udlist answers to its name only, never to the type word "udlist".
                by_type = candidate.list_type != UDLIST_TYPE
                if lowered == candidate.name.lower() or (
                    by_type and lowered == candidate.list_type.lower()
                ):
                    return candidate
            return None
        for candidate in self.lists:
            if candidate.id == number or (number < 0 and candidate.table_number == -number):
                return candidate
        return None

    def find_panel(self, panel_id: int) -> WebPanel | None:
        for panel in self.web_panels:
            if panel.id == panel_id:
                return panel
        return None

    def find_task_menu(self, task_menu_id: int) -> TaskMenu | None:
        return next((m for m in self.task_menus if m.id == task_menu_id), None)

    def user_groups(self) -> list[ListItem]:
        found = self.find_list(USERGROUP_LIST_TYPE)
        return list(found.items) if found is not None else []


_BUILT_IN: list[tuple[str, str, int | None, list[tuple[str, str | None]]]] = [
    (
        "Category",
        "category",
        CATEGORY_TABLE_NUMBER,
        [
            ("VIP Customer", None),
            ("Partner", None),
            ("Prospect", None),
            ("Confidential", ADMIN_ROLE),
        ],
    ),
    ("Business", "business", None, [("IT", None), ("Retail", None), ("Manufacturing", None)]),
    ("Source", "source", None, [("Web", None), ("Fair", None), ("Referral", None)]),
    (
        "Country",
        "country",
        None,
        [("Norway", None), ("Sweden", None), ("Denmark", None), ("Netherlands", None)],
    ),
    ("Priority", "priority", None, [("High", None), ("Medium", None), ("Low", None)]),
    ("WebPanel", WEBPANEL_LIST_TYPE, None, []),
]


def seeded_tenant_data() -> TenantData:
    data = TenantData(lists=[], web_panels=[], next_id=1)
    for number, (name, list_type, table, _) in enumerate(_BUILT_IN, start=1):
        definition = ListDef(number, name, list_type, rank=number, table_number=table)
        data.lists.append(definition)
    data.next_id = 100  # items and panels; far from the list ids, so a mix-up shows
    for definition, (_, _, _, items) in zip(data.lists, _BUILT_IN, strict=True):
        for rank, (item_name, role) in enumerate(items, start=1):
            definition.items.append(
                ListItem(data.new_id(), item_name, rank=rank, restricted_to=role)
            )
    # One panel no app owns (set up by the tenant's administrator), so that "owned by your
    # app" has something to leave out.
    panel = dict(WEB_PANEL_DEFAULTS)
    panel.update(
        WebPanelId=data.new_id(),
        Name="SuperOffice Community",
        VisibleIn="NavigatorButton",
        WindowName="CommunityWindow",
        Url="https://community.superoffice.com/",
        ProgId="superoffice.community",
        Rank=1,
    )
    data.web_panels.append(WebPanel(panel, None))
    # The user groups come last, so the ids above stay what they were before they existed.
    groups = ListDef(len(data.lists) + 1, "UserGroup", USERGROUP_LIST_TYPE, rank=len(_BUILT_IN) + 1)
    groups.items = [
        ListItem(data.new_id(), name, rank=rank) for rank, name in enumerate(USER_GROUPS, start=1)
    ]
    data.lists.append(groups)
    return data


def tenant_data_from_json(raw: Any) -> TenantData:
    try:
        lists = [
            ListDef(**{**d, "items": [ListItem(**i) for i in d.get("items", [])]})
            for d in raw["lists"]
        ]
        panels = [
            WebPanel(dict(p["entity"]), p.get("owner"), p.get("visible_for"))
            for p in raw["web_panels"]
        ]
        menus = [TaskMenu(dict(m["entity"]), m.get("owner")) for m in raw.get("task_menus", [])]
        created = {str(k): str(v) for k, v in raw.get("created_by", {}).items()}
        return TenantData(lists, panels, int(raw["next_id"]), menus, created_by=created)
    except (KeyError, TypeError, ValueError) as exc:
        raise WorldError("invalid_world", f"tenant_data is malformed: {exc}") from exc


# -- entity views ------------------------------------------------------------------------------


def list_entity(definition: ListDef) -> dict[str, Any]:
    """ListEntity (protocol §7.3)."""
    return {
        "Id": definition.id,
        "Name": definition.name,
        "Tooltip": definition.tooltip,
        "Deleted": definition.deleted,
        "Rank": definition.rank,
        "IsCustomList": definition.is_custom,
        "IsMDOList": definition.is_mdo,
        "UseGroupsAndHeadings": definition.use_groups_and_headings,
        "ListType": definition.list_type,
        "InUseByUserDefinedFields": definition.in_use_by_udf,
    }


def item_entity(definition: ListDef, item: ListItem) -> dict[str, Any]:
    """ListItemEntity (protocol §7.4)."""
    return {
        "Id": item.id,
        "Name": item.name,
        "Tooltip": item.tooltip,
        "Deleted": item.deleted,
        "UdListDefinitionId": definition.id,
        "Rank": item.rank,
        "TableRight": dict(FULL_TABLE_RIGHT),
        "FieldProperties": {},
    }


def web_panel_entity(panel: WebPanel) -> dict[str, Any]:
    """WebPanelEntity (protocol §7.1), fields in the reference's order."""
    entity = {name: panel.entity.get(name, default) for name, default in WEB_PANEL_DEFAULTS.items()}
    entity["TableRight"] = dict(FULL_TABLE_RIGHT)
    entity["FieldProperties"] = {}
    return entity


def default_web_panel() -> dict[str, Any]:
    return web_panel_entity(WebPanel(dict(WEB_PANEL_DEFAULTS)))


# -- input validation --------------------------------------------------------------------------


def bad_request(message: str) -> ApiError:
    return ApiError(400, VALIDATION_ERROR_TYPE, message)


def require_entity(body: Any) -> dict[str, Any]:
    if body is None or body == {}:
        raise bad_request(NO_ENTITY)
    if not isinstance(body, dict):
        raise bad_request("The entity must be a JSON object")
    return body


def _typed(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise bad_request(f"{name} must be a {kind.__name__} (got {type(value).__name__})")
    return value


def checked_fields(body: dict[str, Any], schema: dict[str, type]) -> dict[str, Any]:
    """The known fields of `body`, type-checked; null means "not given". Unknown fields are
    refused (strict), read-only response fields a client echoes back are ignored."""
    unknown = [k for k in body if k not in schema and k not in READ_ONLY_FIELDS]
    if unknown:
        raise bad_request(f"Unknown field(s): {', '.join(sorted(unknown))}")
    return {
        name: _typed(name, value, schema[name])
        for name, value in body.items()
        if name in schema and value is not None
    }


def _enum(name: str, value: str, names: tuple[str, ...]) -> str:
    # Names as SuperOffice serializes them; matched case-insensitively like .NET's string
    # enum reader, stored in the canonical spelling. Numbers are refused: the numbers are
    # from a sample's enum copy only (open question 14).
    for candidate in names:
        if candidate.lower() == value.lower():
            return candidate
    raise bad_request(f"{name} {value!r} is not a known value")


def web_panel_fields(body: dict[str, Any]) -> dict[str, Any]:
    schema = {name: type(default) for name, default in WEB_PANEL_DEFAULTS.items()}
    fields = checked_fields(body, schema)
    if "VisibleIn" in fields:
        fields["VisibleIn"] = _enum("VisibleIn", fields["VisibleIn"], VISIBLE_IN)
    if "UrlEncoding" in fields:
        fields["UrlEncoding"] = _enum("UrlEncoding", fields["UrlEncoding"], URL_ENCODINGS)
    return fields
