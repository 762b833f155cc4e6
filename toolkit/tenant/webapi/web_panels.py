"""Web panels (§7.1): where they show, their entity, the list requests and the app agents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from toolkit.tenant.webapi.lists import (
    delete_list_item_request,
    list_item_request,
    list_items_request,
)
from toolkit.tenant.webapi.wire import (
    WEB_PANEL_LIST,
    ApiRequest,
    entity_body,
    enum_from_wire,
    flag_field,
    integer_field,
    item_segment,
    object_of,
    text_field,
    with_extras,
)

__all__ = [
    "UrlEncoding",
    "VisibleIn",
    "WebPanelEntity",
    "app_web_panels_request",
    "create_web_panel_request",
    "default_web_panel_request",
    "delete_app_web_panels_request",
    "delete_web_panel_permanently_request",
    "delete_web_panel_request",
    "save_web_panel_request",
    "update_web_panel_request",
    "web_panel_request",
    "web_panels_request",
]


class VisibleIn(StrEnum):
    """Where a web panel shows (``Navigation``); serialized as the name (§7.1) [S] RZ."""

    Invisible = "Invisible"
    ToolboxMenu = "ToolboxMenu"
    NavigatorButton = "NavigatorButton"
    ViewMenu = "ViewMenu"
    SelectionTaskCard = "SelectionTaskCard"
    ContactCard = "ContactCard"
    ContactArchive = "ContactArchive"
    ProjectCard = "ProjectCard"
    ProjectArchive = "ProjectArchive"
    SaleCard = "SaleCard"
    PersonCard = "PersonCard"
    ActivityDialog = "ActivityDialog"
    DocumentDialog = "DocumentDialog"
    BrowserPanel = "BrowserPanel"
    ContSelectionTask = "ContSelectionTask"
    AppntSelectionTask = "AppntSelectionTask"
    SaleSelectionTask = "SaleSelectionTask"
    DocSelectionTask = "DocSelectionTask"
    ProjSelectionTask = "ProjSelectionTask"
    CompanyMinicard = "CompanyMinicard"
    ProjectMinicard = "ProjectMinicard"
    DiaryMinicard = "DiaryMinicard"
    SelectionMinicard = "SelectionMinicard"
    ButtonPanelTask = "ButtonPanelTask"
    AppointmentDialogTask = "AppointmentDialogTask"
    SaleDialogTask = "SaleDialogTask"
    DocumentDialogTask = "DocumentDialogTask"
    PersonDialogTask = "PersonDialogTask"
    SaleMinicard = "SaleMinicard"
    SaleArchive = "SaleArchive"
    AppntSelectionShadowTask = "AppntSelectionShadowTask"
    SaleSelectionShadowTask = "SaleSelectionShadowTask"
    DocSelectionShadowTask = "DocSelectionShadowTask"
    ProjSelectionShadowTask = "ProjSelectionShadowTask"
    DiaryArchive = "DiaryArchive"
    SelectionContactArchive = "SelectionContactArchive"
    SelectionProjectArchive = "SelectionProjectArchive"
    SelectionSaleArchive = "SelectionSaleArchive"
    SelectionAppointmentArchive = "SelectionAppointmentArchive"
    SelectionDocumentArchive = "SelectionDocumentArchive"
    ContSelectionCustomTask = "ContSelectionCustomTask"
    AppntSelectionCustomTask = "AppntSelectionCustomTask"
    SaleSelectionCustomTask = "SaleSelectionCustomTask"
    DocSelectionCustomTask = "DocSelectionCustomTask"
    ProjSelectionCustomTask = "ProjSelectionCustomTask"
    CustomArchiveMiniCard = "CustomArchiveMiniCard"
    SelectionCard = "SelectionCard"
    ReportMinicard = "ReportMinicard"
    QuoteDialog = "QuoteDialog"
    QuoteDialogTask = "QuoteDialogTask"
    QuoteDialogArchive = "QuoteDialogArchive"
    QuoteLineDialogTask = "QuoteLineDialogTask"
    QuoteLineDialog = "QuoteLineDialog"
    QuoteLineSelectionMainTask = "QuoteLineSelectionMainTask"
    QuoteLineSelectionShadowTask = "QuoteLineSelectionShadowTask"
    SelectionQuoteLineArchive = "SelectionQuoteLineArchive"
    QuoteLineSelectionCustomTask = "QuoteLineSelectionCustomTask"
    FindSystem = "FindSystem"
    MailingSelectionTask = "MailingSelectionTask"
    ContactSelectionMailingsTask = "ContactSelectionMailingsTask"
    AppointmentSelectionMailingsTask = "AppointmentSelectionMailingsTask"
    SaleSelectionMailingsTask = "SaleSelectionMailingsTask"
    DocumentSelectionMailingsTask = "DocumentSelectionMailingsTask"
    ProjectSelectionMailingsTask = "ProjectSelectionMailingsTask"
    QuoteLineSelectionMailingsTask = "QuoteLineSelectionMailingsTask"
    TopPanelNewMenu = "TopPanelNewMenu"
    Dashboard = "Dashboard"
    PersonArchive = "PersonArchive"
    PersonMinicard = "PersonMinicard"

    @property
    def number(self) -> int:
        """The sample enum's number (open question 14); never sent."""
        return _VISIBLE_IN_NUMBERS[self]


# The numbers run 0..68 in declaration order (§7.1).
_VISIBLE_IN_NUMBERS: Final = {member: index for index, member in enumerate(VisibleIn)}


class UrlEncoding(StrEnum):
    """How a web panel's URL variables are encoded; serialized as the name (§7.1) [S] RZ.

    ``None_`` is the wire name ``None`` (a Python keyword).
    """

    Unknown = "Unknown"
    None_ = "None"
    ANSI = "ANSI"
    Unicode = "Unicode"

    @property
    def number(self) -> int:
        return _URL_ENCODING_NUMBERS[self]


_URL_ENCODING_NUMBERS: Final = {member: index for index, member in enumerate(UrlEncoding)}


@dataclass(frozen=True, kw_only=True)
class WebPanelEntity:
    """A web panel (``WebPanelEntity``, §7.1); defaults as RZ's model for a new panel [S].

    ``prog_id`` is the partner's stable key for finding the panel again without storing its id.
    ``table_right`` / ``field_properties`` are response-only and sent back only if present.
    """

    web_panel_id: int = 0
    name: str = ""
    tooltip: str = ""
    deleted: bool = False
    rank: int = 0
    url_encoding: UrlEncoding | str = UrlEncoding.None_
    visible_in: VisibleIn | str = VisibleIn.Invisible
    on_central: bool = True
    on_satellite: bool = True
    on_travel: bool = False
    on_sales_marketing_web: bool = True
    on_sales_marketing_pocket: bool = False
    show_in_menu_bar: bool = False
    show_in_tool_bar: bool = False
    show_in_address_bar: bool = False
    show_in_status_bar: bool = False
    window_name: str = ""
    url: str = ""
    prog_id: str = ""
    icon: int = 0
    always_reload_on_show: bool = False
    never_reload_on_current_change: bool = False
    table_right: Any = field(default=None, compare=False)
    field_properties: Any = field(default=None, compare=False)

    def to_wire(self) -> dict[str, Any]:
        """The PascalCase JSON object, fields in the reference's order."""
        wire = {
            "WebPanelId": self.web_panel_id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "Deleted": self.deleted,
            "Rank": self.rank,
            "UrlEncoding": str(self.url_encoding),
            "VisibleIn": str(self.visible_in),
            "OnCentral": self.on_central,
            "OnSatellite": self.on_satellite,
            "OnTravel": self.on_travel,
            "OnSalesMarketingWeb": self.on_sales_marketing_web,
            "OnSalesMarketingPocket": self.on_sales_marketing_pocket,
            "ShowInMenuBar": self.show_in_menu_bar,
            "ShowInToolBar": self.show_in_tool_bar,
            "ShowInAddressBar": self.show_in_address_bar,
            "ShowInStatusBar": self.show_in_status_bar,
            "WindowName": self.window_name,
            "Url": self.url,
            "ProgId": self.prog_id,
            "Icon": self.icon,
            "AlwaysReloadOnShow": self.always_reload_on_show,
            "NeverReloadOnCurrentChange": self.never_reload_on_current_change,
        }
        return with_extras(wire, self.table_right, self.field_properties)

    @classmethod
    def from_wire(cls, document: Any) -> WebPanelEntity:
        d = object_of(document, "WebPanelEntity")
        return cls(
            web_panel_id=integer_field(d, "WebPanelId"),
            name=text_field(d, "Name"),
            tooltip=text_field(d, "Tooltip"),
            deleted=flag_field(d, "Deleted"),
            rank=integer_field(d, "Rank"),
            url_encoding=enum_from_wire(
                UrlEncoding, d.get("UrlEncoding"), _URL_ENCODING_NUMBERS, UrlEncoding.None_
            ),
            visible_in=enum_from_wire(
                VisibleIn, d.get("VisibleIn"), _VISIBLE_IN_NUMBERS, VisibleIn.Invisible
            ),
            on_central=flag_field(d, "OnCentral"),
            on_satellite=flag_field(d, "OnSatellite"),
            on_travel=flag_field(d, "OnTravel"),
            on_sales_marketing_web=flag_field(d, "OnSalesMarketingWeb"),
            on_sales_marketing_pocket=flag_field(d, "OnSalesMarketingPocket"),
            show_in_menu_bar=flag_field(d, "ShowInMenuBar"),
            show_in_tool_bar=flag_field(d, "ShowInToolBar"),
            show_in_address_bar=flag_field(d, "ShowInAddressBar"),
            show_in_status_bar=flag_field(d, "ShowInStatusBar"),
            window_name=text_field(d, "WindowName"),
            url=text_field(d, "Url"),
            prog_id=text_field(d, "ProgId"),
            icon=integer_field(d, "Icon"),
            always_reload_on_show=flag_field(d, "AlwaysReloadOnShow"),
            never_reload_on_current_change=flag_field(d, "NeverReloadOnCurrentChange"),
            table_right=d.get("TableRight"),
            field_properties=d.get("FieldProperties"),
        )


def web_panels_request() -> ApiRequest:
    return list_items_request(WEB_PANEL_LIST)


def web_panel_request(web_panel_id: int) -> ApiRequest:
    return list_item_request(WEB_PANEL_LIST, web_panel_id)


def default_web_panel_request() -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{WEB_PANEL_LIST}/Items/Default")


def create_web_panel_request(entity: WebPanelEntity | Mapping[str, Any]) -> ApiRequest:
    return ApiRequest("POST", f"v1/List/{WEB_PANEL_LIST}/Items", entity_body(entity))


def update_web_panel_request(
    web_panel_id: int, entity: WebPanelEntity | Mapping[str, Any]
) -> ApiRequest:
    path = f"v1/List/{WEB_PANEL_LIST}/Items/{item_segment(web_panel_id)}"
    return ApiRequest("PUT", path, entity_body(entity))


def delete_web_panel_request(web_panel_id: int) -> ApiRequest:
    """The documented **soft** delete: ``Deleted`` becomes true (§7.1)."""
    return delete_list_item_request(WEB_PANEL_LIST, web_panel_id)


def save_web_panel_request(entity: WebPanelEntity | Mapping[str, Any]) -> ApiRequest:
    """Agent ``SaveWebPanelEntity``: creates when ``WebPanelId`` is 0, else updates (§7.1).

    The body is the entity itself (RZ ProvisioningDbContext) [S].
    """
    return ApiRequest("POST", "v1/Agents/List/SaveWebPanelEntity", entity_body(entity))


def app_web_panels_request() -> ApiRequest:
    """Agent ``GetAppWebPanels``: the panels the calling app owns; read-only (§7.1)."""
    return ApiRequest("POST", "v1/Agents/List/GetAppWebPanels", safe_to_repeat=True)


def delete_app_web_panels_request() -> ApiRequest:
    """Agent ``DeleteAppWebPanels``: permanently deletes every panel the app owns (§7.1)."""
    return ApiRequest("POST", "v1/Agents/List/DeleteAppWebPanels")


def delete_web_panel_permanently_request(web_panel_id: int) -> ApiRequest:
    """Agent ``DeleteWebPanel`` with ``{"Id": n}``: a hard delete (§7.1)."""
    item_segment(web_panel_id)
    return ApiRequest("POST", "v1/Agents/List/DeleteWebPanel", {"Id": web_panel_id})
