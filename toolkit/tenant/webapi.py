"""The tenant web API (REST) client: one tenant, one credential, routed by the state API.

Protocol §5 (calling tenant web services) and §7 (lists, list items, web panels):

* **Routing.** The base URL is the state API's ``Api`` (:mod:`toolkit.tenant.status`), never the
  ``webapi_url`` claim of a ticket or id_token, which names the host at sign-in time and goes
  stale when the tenant moves (§1, §6). The tenant must be running before any call
  (:class:`~toolkit.errors.TenantNotRunningError` otherwise, without a call); a
  ``421 Misdirected Request`` ("Wrong subdomain used to access tenant") invalidates the cached
  status, re-resolves and retries **once**; a second 421 raises
  :class:`~toolkit.errors.MisdirectedRequestError`.
* **Credentials.** :class:`SystemUserCredential` sends ``Authorization: SOTicket 7T:...`` plus the
  mandatory ``SO-AppToken: {client secret}`` and lets the
  :class:`~toolkit.auth.tickets.TicketManager` renew the ticket once after a 401.
  :class:`UserCredential` sends ``Authorization: Bearer 8A:...`` and refreshes the access token
  once after a 401 **or 403**: how SuperOffice signals an expired access token is an open
  question (6: best practice says 403, a tutorial 401) [I]. When the user acts for an
  application (a token from that application's SuperID client, :meth:`UserCredential.from_tokens`)
  it sends ``SO-AppToken`` too: without it SuperOffice cannot tell which application the call
  is for, so ``GetAppWebPanels`` and the other ``GetApp...`` agents do not work and what it
  creates belongs to no application (§7).
* **Reliability.** Every request goes through :func:`toolkit.http.send_request` with a
  :class:`~toolkit.http.RetryPolicy`: idempotent requests are retried on connect errors, 429
  (``Retry-After``) and 502/503/504; POSTs (creates, agents) are never repeated blindly, except
  the two read-only agents marked ``safe_to_repeat``.
* **Errors.** A non-2xx answer raises :class:`~toolkit.errors.ApiError` (401/403/404/409 have
  subclasses) with SuperOffice's ``ErrorType``, ``ErrorMessage``, ``ErrorSource`` (§5).

Request building (:class:`ApiRequest` and the ``*_request`` functions) and parsing
(:func:`parse_api_error`, the entities' ``from_wire``) are pure, so an async twin only needs
an executor. JSON stays PascalCase as on the wire; the entity dataclasses map it field by field
(§7.1, §7.3, §7.4). ``VisibleIn`` / ``UrlEncoding`` are sent as names; their numbers come from a
sample's enum copy (open question 14) and are kept only as :attr:`VisibleIn.number`.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from urllib.parse import quote

import httpx

from toolkit.claims import REDACTED
from toolkit.errors import (
    ApiConflictError,
    ApiError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnauthorizedError,
    ConfigurationError,
    MisdirectedRequestError,
    UnexpectedResponseError,
)
from toolkit.http import RetryPolicy, redact_text, send_request, url_for_error
from toolkit.tenant.status import TenantStatus, TenantStatusClient

if TYPE_CHECKING:
    from toolkit.auth.oidc import SuperIdClient, TokenResponse
    from toolkit.auth.system_user import SystemUserTicket
    from toolkit.auth.tickets import TicketManager

__all__ = [
    "APP_TOKEN_HEADER",
    "DEFAULT_API_RETRY",
    "MISDIRECTED_STATUS",
    "WEB_PANEL_LIST",
    "ApiRequest",
    "Credential",
    "ListEntity",
    "ListItemEntity",
    "ListRef",
    "SystemUserCredential",
    "UrlEncoding",
    "UserCredential",
    "VisibleIn",
    "WebApiClient",
    "WebPanelEntity",
    "parse_api_error",
]

logger = logging.getLogger("toolkit.tenant.webapi")

# Mandatory with SOTicket online (§5, SUT Constants). [C]
APP_TOKEN_HEADER: Final = "SO-AppToken"
# "Wrong subdomain used to access tenant" (§1). [C]
MISDIRECTED_STATUS: Final = 421
# The web panel list's name in REST paths: /v1/List/WebPanel/Items (§7.1). [C]
WEB_PANEL_LIST: Final = "WebPanel"
# Tenant REST calls use the toolkit's default retry policy (connect errors, 429, 502-504 on
# idempotent requests, 30 s budget).
DEFAULT_API_RETRY: Final = RetryPolicy()
# Statuses after which a user's access token is refreshed once (open question 6) [I].
USER_REFRESH_STATUSES: Final = frozenset({401, 403})
# A tenant answer larger than this is not a list of panels or items; refuse to parse it.
MAX_JSON_BYTES: Final = 16 * 1024 * 1024

ListRef = int | str
"""A list by id (negative = table number, e.g. -64 = category) or by name (``Category``)."""


# ============================================================================================
# Enums (§7.1)
# ============================================================================================


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

E = TypeVar("E", bound=StrEnum)


def _enum_from_wire(cls: type[E], value: Any, numbers: Mapping[E, int], default: E) -> E | str:
    """A member for a name (case-insensitive) or a number; an unknown name is kept as text, so
    a value added by SuperOffice later survives a read-modify-write unchanged."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        for member, number in numbers.items():
            if number == value:
                return member
        return str(value)
    if isinstance(value, str):
        folded = value.casefold()
        for member in cls:
            if member.value.casefold() == folded:
                return member
        return value
    raise UnexpectedResponseError(f"{cls.__name__} is neither a name nor a number")


# ============================================================================================
# Entities (§7.1, §7.3, §7.4)
# ============================================================================================


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UnexpectedResponseError(f"{name} is not a string")
    return value


def _integer(document: Mapping[str, Any], name: str) -> int:
    value = document.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnexpectedResponseError(f"{name} is not an integer")
    return value


def _flag(document: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise UnexpectedResponseError(f"{name} is not a boolean")
    return value


def _object(document: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise UnexpectedResponseError(f"{what} is not a JSON object")
    return document


def _with_extras(wire: dict[str, Any], table_right: Any, field_properties: Any) -> dict[str, Any]:
    if table_right is not None:
        wire["TableRight"] = table_right
    if field_properties is not None:
        wire["FieldProperties"] = field_properties
    return wire


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
        return _with_extras(wire, self.table_right, self.field_properties)

    @classmethod
    def from_wire(cls, document: Any) -> WebPanelEntity:
        d = _object(document, "WebPanelEntity")
        return cls(
            web_panel_id=_integer(d, "WebPanelId"),
            name=_text(d, "Name"),
            tooltip=_text(d, "Tooltip"),
            deleted=_flag(d, "Deleted"),
            rank=_integer(d, "Rank"),
            url_encoding=_enum_from_wire(
                UrlEncoding, d.get("UrlEncoding"), _URL_ENCODING_NUMBERS, UrlEncoding.None_
            ),
            visible_in=_enum_from_wire(
                VisibleIn, d.get("VisibleIn"), _VISIBLE_IN_NUMBERS, VisibleIn.Invisible
            ),
            on_central=_flag(d, "OnCentral"),
            on_satellite=_flag(d, "OnSatellite"),
            on_travel=_flag(d, "OnTravel"),
            on_sales_marketing_web=_flag(d, "OnSalesMarketingWeb"),
            on_sales_marketing_pocket=_flag(d, "OnSalesMarketingPocket"),
            show_in_menu_bar=_flag(d, "ShowInMenuBar"),
            show_in_tool_bar=_flag(d, "ShowInToolBar"),
            show_in_address_bar=_flag(d, "ShowInAddressBar"),
            show_in_status_bar=_flag(d, "ShowInStatusBar"),
            window_name=_text(d, "WindowName"),
            url=_text(d, "Url"),
            prog_id=_text(d, "ProgId"),
            icon=_integer(d, "Icon"),
            always_reload_on_show=_flag(d, "AlwaysReloadOnShow"),
            never_reload_on_current_change=_flag(d, "NeverReloadOnCurrentChange"),
            table_right=d.get("TableRight"),
            field_properties=d.get("FieldProperties"),
        )


@dataclass(frozen=True, kw_only=True)
class ListEntity:
    """A list definition (``ListEntity``, §7.3). ``list_type`` e.g. ``category``, ``udlist``."""

    id: int = 0
    name: str = ""
    tooltip: str = ""
    deleted: bool = False
    rank: int = 0
    is_custom_list: bool = False
    is_mdo_list: bool = False
    use_groups_and_headings: bool = False
    list_type: str = ""
    in_use_by_user_defined_fields: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "Deleted": self.deleted,
            "Rank": self.rank,
            "IsCustomList": self.is_custom_list,
            "IsMDOList": self.is_mdo_list,
            "UseGroupsAndHeadings": self.use_groups_and_headings,
            "ListType": self.list_type,
            "InUseByUserDefinedFields": self.in_use_by_user_defined_fields,
        }

    @classmethod
    def from_wire(cls, document: Any) -> ListEntity:
        """Also reads ``ListEntityWithLinks`` (its ``_Links`` are dropped)."""
        d = _object(document, "ListEntity")
        return cls(
            id=_integer(d, "Id"),
            name=_text(d, "Name"),
            tooltip=_text(d, "Tooltip"),
            deleted=_flag(d, "Deleted"),
            rank=_integer(d, "Rank"),
            is_custom_list=_flag(d, "IsCustomList"),
            is_mdo_list=_flag(d, "IsMDOList"),
            use_groups_and_headings=_flag(d, "UseGroupsAndHeadings"),
            list_type=_text(d, "ListType"),
            in_use_by_user_defined_fields=_flag(d, "InUseByUserDefinedFields"),
        )


@dataclass(frozen=True, kw_only=True)
class ListItemEntity:
    """A list item (``ListItemEntity``, §7.4); ``table_right`` / ``field_properties`` as above."""

    id: int = 0
    name: str = ""
    tooltip: str = ""
    deleted: bool = False
    ud_list_definition_id: int = 0
    rank: int = 0
    table_right: Any = field(default=None, compare=False)
    field_properties: Any = field(default=None, compare=False)

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "Id": self.id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "Deleted": self.deleted,
            "UdListDefinitionId": self.ud_list_definition_id,
            "Rank": self.rank,
        }
        return _with_extras(wire, self.table_right, self.field_properties)

    @classmethod
    def from_wire(cls, document: Any) -> ListItemEntity:
        d = _object(document, "ListItemEntity")
        return cls(
            id=_integer(d, "Id"),
            name=_text(d, "Name"),
            tooltip=_text(d, "Tooltip"),
            deleted=_flag(d, "Deleted"),
            ud_list_definition_id=_integer(d, "UdListDefinitionId"),
            rank=_integer(d, "Rank"),
            table_right=d.get("TableRight"),
            field_properties=d.get("FieldProperties"),
        )


# ============================================================================================
# Requests (pure)
# ============================================================================================


@dataclass(frozen=True)
class ApiRequest:
    """One tenant REST request, relative to the tenant's ``Api`` root (``v1/List``; ``""`` is
    the root itself). ``body`` is sent as JSON; ``safe_to_repeat`` lets the retry policy repeat
    a POST that only reads (an agent method)."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] | None = None
    safe_to_repeat: bool = False

    def url(self, api_root: str) -> str:
        root = api_root.rstrip("/")
        return f"{root}/{self.path.lstrip('/')}" if self.path else root


def _segment(value: ListRef) -> str:
    if isinstance(value, bool):
        raise TypeError("a list reference is an id or a name, not a bool")
    if isinstance(value, int):
        return str(value)
    text = value.strip()
    if not text:
        raise ValueError("a list name must not be empty")
    return quote(text, safe="")


def _item_id(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an item id is an int")
    return str(value)


def _entity(entity: WebPanelEntity | ListEntity | ListItemEntity | Mapping[str, Any]) -> Any:
    if isinstance(entity, Mapping):
        return dict(entity)
    return entity.to_wire()


def api_version_request() -> ApiRequest:
    """``GET {Api}``: the version document (§6, SD:version)."""
    return ApiRequest("GET", "")


def current_principal_request() -> ApiRequest:
    return ApiRequest("GET", "v1/User/currentPrincipal")


def lists_request() -> ApiRequest:
    return ApiRequest("GET", "v1/List")


def list_request(list_ref: ListRef) -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{_segment(list_ref)}")


def create_list_request(entity: ListEntity | Mapping[str, Any]) -> ApiRequest:
    return ApiRequest("POST", "v1/List", _entity(entity))


def delete_list_request(list_ref: ListRef) -> ApiRequest:
    return ApiRequest("DELETE", f"v1/List/{_segment(list_ref)}")


def list_items_request(list_ref: ListRef) -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{_segment(list_ref)}/Items")


def list_item_request(list_ref: ListRef, item_id: int) -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{_segment(list_ref)}/Items/{_item_id(item_id)}")


def create_list_item_request(
    list_ref: ListRef, entity: ListItemEntity | Mapping[str, Any]
) -> ApiRequest:
    return ApiRequest("POST", f"v1/List/{_segment(list_ref)}/Items", _entity(entity))


def update_list_item_request(
    list_ref: ListRef, item_id: int, entity: ListItemEntity | Mapping[str, Any]
) -> ApiRequest:
    path = f"v1/List/{_segment(list_ref)}/Items/{_item_id(item_id)}"
    return ApiRequest("PUT", path, _entity(entity))


def delete_list_item_request(list_ref: ListRef, item_id: int) -> ApiRequest:
    return ApiRequest("DELETE", f"v1/List/{_segment(list_ref)}/Items/{_item_id(item_id)}")


def web_panels_request() -> ApiRequest:
    return list_items_request(WEB_PANEL_LIST)


def web_panel_request(web_panel_id: int) -> ApiRequest:
    return list_item_request(WEB_PANEL_LIST, web_panel_id)


def default_web_panel_request() -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{WEB_PANEL_LIST}/Items/Default")


def create_web_panel_request(entity: WebPanelEntity | Mapping[str, Any]) -> ApiRequest:
    return ApiRequest("POST", f"v1/List/{WEB_PANEL_LIST}/Items", _entity(entity))


def update_web_panel_request(
    web_panel_id: int, entity: WebPanelEntity | Mapping[str, Any]
) -> ApiRequest:
    path = f"v1/List/{WEB_PANEL_LIST}/Items/{_item_id(web_panel_id)}"
    return ApiRequest("PUT", path, _entity(entity))


def delete_web_panel_request(web_panel_id: int) -> ApiRequest:
    """The documented **soft** delete: ``Deleted`` becomes true (§7.1)."""
    return delete_list_item_request(WEB_PANEL_LIST, web_panel_id)


def save_web_panel_request(entity: WebPanelEntity | Mapping[str, Any]) -> ApiRequest:
    """Agent ``SaveWebPanelEntity``: creates when ``WebPanelId`` is 0, else updates (§7.1).

    The body is the entity itself (RZ ProvisioningDbContext) [S].
    """
    return ApiRequest("POST", "v1/Agents/List/SaveWebPanelEntity", _entity(entity))


def app_web_panels_request() -> ApiRequest:
    """Agent ``GetAppWebPanels``: the panels the calling app owns; read-only (§7.1)."""
    return ApiRequest("POST", "v1/Agents/List/GetAppWebPanels", safe_to_repeat=True)


def delete_app_web_panels_request() -> ApiRequest:
    """Agent ``DeleteAppWebPanels``: permanently deletes every panel the app owns (§7.1)."""
    return ApiRequest("POST", "v1/Agents/List/DeleteAppWebPanels")


def delete_web_panel_permanently_request(web_panel_id: int) -> ApiRequest:
    """Agent ``DeleteWebPanel`` with ``{"Id": n}``: a hard delete (§7.1)."""
    _item_id(web_panel_id)
    return ApiRequest("POST", "v1/Agents/List/DeleteWebPanel", {"Id": web_panel_id})


# ============================================================================================
# Responses (pure)
# ============================================================================================

_API_ERRORS: Final[Mapping[int, type[ApiError]]] = {
    401: ApiUnauthorizedError,
    403: ApiForbiddenError,
    404: ApiNotFoundError,
    409: ApiConflictError,
    MISDIRECTED_STATUS: MisdirectedRequestError,
}


def _optional_wire_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


def parse_api_error(
    status_code: int, content: bytes, *, url: str | None = None, method: str | None = None
) -> ApiError:
    """The :class:`~toolkit.errors.ApiError` for an error answer (pure).

    SuperOffice's body is ``{"Error": true, "ErrorType", "ErrorMessage", "ErrorSource"}`` (§5);
    a body that is not that (an HTML gateway page, nothing) leaves the fields None. The message
    and ``error_message`` are redacted; ``url`` should already be (``url_for_error``).
    """
    error_type = error_message = error_source = None
    if content and len(content) <= MAX_JSON_BYTES:
        try:
            body = json.loads(content)
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, Mapping):
            error_type = _optional_wire_text(body, "ErrorType")
            raw_message = _optional_wire_text(body, "ErrorMessage")
            error_message = None if raw_message is None else redact_text(raw_message)
            error_source = _optional_wire_text(body, "ErrorSource")
    cls = _API_ERRORS.get(status_code, ApiError)
    text = f"HTTP {status_code}"
    if method and url:
        text = f"{method.upper()} {url}: {text}"
    if error_type:
        text += f" {error_type}"
    if error_message:
        text += f": {error_message}"
    return cls(
        text,
        status_code=status_code,
        error_type=error_type,
        error_message=error_message,
        error_source=error_source,
        url=url,
        method=None if method is None else method.upper(),
    )


def parse_json(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; None for an empty body (204)."""
    if response.status_code == 204 or not response.content:
        return None
    if len(response.content) > MAX_JSON_BYTES:
        raise UnexpectedResponseError(
            f"tenant API: the answer from {url_for_error(response.request.url)} is too large",
            url=url_for_error(response.request.url),
            status_code=response.status_code,
        )
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise UnexpectedResponseError(
            f"tenant API: the answer from {url_for_error(response.request.url)} is not JSON",
            url=url_for_error(response.request.url),
            status_code=response.status_code,
        ) from exc


def send_options(
    request: ApiRequest, retry: RetryPolicy | None
) -> tuple[RetryPolicy | None, dict[str, Any]]:
    """The retry policy for ``request`` (an agent read may be repeated) and its httpx
    arguments (``json``, ``params``): shared by the sync and the async client."""
    if retry is not None and request.safe_to_repeat:
        methods = retry.idempotent_methods | {request.method.upper()}
        retry = replace(retry, idempotent_methods=methods)
    extra: dict[str, Any] = {}
    if request.body is not None:
        extra["json"] = request.body
    if request.params:
        extra["params"] = dict(request.params)
    return retry, extra


def check_credential_tenant(credential_tenant: str | None, context_identifier: str) -> None:
    """:class:`~toolkit.errors.ConfigurationError` when a credential bound to one tenant is
    given to a client of another (shared by the sync and the async client)."""
    # Context identifiers match case-insensitively (protocol §1) [I].
    if (
        credential_tenant is not None
        and credential_tenant.casefold() != context_identifier.casefold()
    ):
        raise ConfigurationError(
            f"the credential is for {credential_tenant!r}, the client for {context_identifier!r}"
        )


def system_user_headers(ticket: SystemUserTicket, application_token: str) -> dict[str, str]:
    """A system user's request headers: ``SOTicket`` + ``SO-AppToken`` (§5)."""
    return {"Authorization": ticket.authorization_header(), APP_TOKEN_HEADER: application_token}


def log_misdirected(request: ApiRequest, status: TenantStatus) -> None:
    """Note a 421 (the tenant moved to another subdomain) before the client re-resolves."""
    logger.info(
        "%s answered 421 (wrong subdomain); re-resolving the tenant",
        url_for_error(request.url(status.api_url or "")),
    )


def refused(response: httpx.Response, request: ApiRequest) -> ApiError:
    """The typed error of a non-2xx answer to ``request`` (the response is not closed)."""
    return parse_api_error(
        response.status_code,
        response.content,
        url=url_for_error(response.request.url),
        method=request.method,
    )


def array_of(document: Any, what: str) -> Sequence[Any]:
    """``document`` if it is a JSON array, else UnexpectedResponseError."""
    return _array(document, what)


def object_of(document: Any, what: str) -> Mapping[str, Any]:
    """``document`` if it is a JSON object, else UnexpectedResponseError."""
    return _object(document, what)


def _array(document: Any, what: str) -> Sequence[Any]:
    if not isinstance(document, list):
        raise UnexpectedResponseError(f"tenant API: {what} is not a JSON array")
    return document


# ============================================================================================
# Credentials
# ============================================================================================

SendWithHeaders = Callable[[Mapping[str, str]], httpx.Response]
"""Sends the request with the given credential headers (Authorization, SO-AppToken)."""


class Credential(Protocol):
    """How a request authenticates: it calls ``send`` with its headers, and renews on its own
    terms (a ticket once after 401, an access token once after 401/403)."""

    def send(self, send: SendWithHeaders) -> httpx.Response: ...

    @property
    def context_identifier(self) -> str | None: ...


class SystemUserCredential:
    """The application's system user in one tenant: ``SOTicket`` + ``SO-AppToken`` (§5).

    Tickets come from ``ticket_manager`` (cached, one exchange at a time, renewed once after a
    401, then :class:`~toolkit.errors.TicketRejectedError`); ``application`` is the name or id
    in the store; ``application_token`` is the app's client secret (never shown in reprs).
    """

    def __init__(
        self,
        ticket_manager: TicketManager,
        application: str,
        context_identifier: str,
        application_token: str,
    ) -> None:
        if not application_token:
            raise ConfigurationError("SO-AppToken (the client secret) is mandatory with SOTicket")
        self.ticket_manager = ticket_manager
        self.application = application
        self._context_identifier = context_identifier
        self._application_token = application_token

    @property
    def context_identifier(self) -> str:
        return self._context_identifier

    def headers(self, ticket: SystemUserTicket) -> dict[str, str]:
        return system_user_headers(ticket, self._application_token)

    def send(self, send: SendWithHeaders) -> httpx.Response:
        return self.ticket_manager.call_with_ticket(
            self.application,
            self._context_identifier,
            lambda ticket: send(self.headers(ticket)),
        )

    def __repr__(self) -> str:
        return (
            f"SystemUserCredential(application={self.application!r}, "
            f"context_identifier={self._context_identifier!r}, application_token={REDACTED!r})"
        )


class UserCredential:
    """A signed-in user: ``Authorization: Bearer 8A:...`` (§5), refreshed once after 401/403.

    ``refresh`` returns a new access token (or a :class:`~toolkit.auth.oidc.TokenResponse`);
    without it an expired token surfaces as :class:`~toolkit.errors.ApiUnauthorizedError` /
    :class:`~toolkit.errors.ApiForbiddenError`. ``on_refresh`` is told the new tokens (to store
    them). ``application_token`` (the client secret of the application the user acts for)
    adds ``SO-AppToken``: the application's objects (``GetAppWebPanels``, panels it creates)
    need it (§7). Thread-safe: concurrent requests that all see a 401 refresh once between them.

    """

    def __init__(
        self,
        access_token: str,
        *,
        refresh: Callable[[], str | TokenResponse] | None = None,
        on_refresh: Callable[[str | TokenResponse], None] | None = None,
        application_token: str | None = None,
        context_identifier: str | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        self._access_token = access_token
        self._refresh = refresh
        self._on_refresh = on_refresh
        self._application_token = application_token
        self._context_identifier = context_identifier
        self._lock = threading.Lock()
        self.refresh_count = 0

    @classmethod
    def from_tokens(
        cls,
        tokens: TokenResponse,
        superid: SuperIdClient,
        *,
        on_refresh: Callable[[str | TokenResponse], None] | None = None,
        context_identifier: str | None = None,
    ) -> UserCredential:
        """A credential acting for ``superid``'s application: it sends that application's
        ``SO-AppToken`` with the Bearer token (§7) and refreshes through SuperID with the
        tokens' refresh token."""
        state = {"refresh_token": tokens.refresh_token}

        def refresh() -> TokenResponse:
            token = state["refresh_token"]
            if not token:
                raise ConfigurationError("the user's tokens hold no refresh token")
            renewed = superid.refresh(token)
            state["refresh_token"] = renewed.refresh_token or token
            return renewed

        return cls(
            tokens.access_token,
            refresh=refresh if tokens.refresh_token else None,
            on_refresh=on_refresh,
            application_token=superid.application_token,
            context_identifier=context_identifier,
        )

    @property
    def context_identifier(self) -> str | None:
        return self._context_identifier

    def headers(self, access_token: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {access_token or self._access_token}"}
        if self._application_token:
            headers[APP_TOKEN_HEADER] = self._application_token
        return headers

    def send(self, send: SendWithHeaders) -> httpx.Response:
        with self._lock:
            used = self._access_token
        response = send(self.headers(used))
        if response.status_code not in USER_REFRESH_STATUSES or self._refresh is None:
            return response
        response.close()
        logger.info("access token answered %s; refreshing once", response.status_code)
        return send(self.headers(self._renew(used)))

    def _renew(self, rejected: str) -> str:
        with self._lock:
            if self._access_token != rejected:  # another request refreshed meanwhile
                return self._access_token
            assert self._refresh is not None  # noqa: S101 - checked by send()
            result = self._refresh()
            token = result if isinstance(result, str) else result.access_token
            if not token:
                raise UnexpectedResponseError("the refresh gave no access token")
            self._access_token = token
            self.refresh_count += 1
        if self._on_refresh is not None:
            self._on_refresh(result)
        return token

    def __repr__(self) -> str:
        return (
            f"UserCredential(context_identifier={self._context_identifier!r}, "
            f"access_token={REDACTED!r}, refreshes={self.refresh_count})"
        )


# ============================================================================================
# The client
# ============================================================================================


class WebApiClient:
    """The REST API of one tenant, as one credential, routed by the state API (§5, §6, §7).

    ``status`` resolves and caches the tenant's ``Api``; ``retry`` is the policy for each
    request (None: one attempt); ``headers`` are added to every request (``SO-Language``,
    ``Accept-Language``, ...). Helpers return the typed entities; :meth:`call` and
    :meth:`execute` reach any other endpoint.
    """

    def __init__(
        self,
        http: httpx.Client,
        status: TenantStatusClient,
        context_identifier: str,
        credential: Credential,
        *,
        retry: RetryPolicy | None = DEFAULT_API_RETRY,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        check_credential_tenant(credential.context_identifier, context_identifier)
        self.http = http
        self.status = status
        self.context_identifier = context_identifier
        self.credential = credential
        self.retry = retry
        self._headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"WebApiClient({self.context_identifier!r}, {self.credential!r})"

    # -- sending -------------------------------------------------------------------------------

    def execute(self, request: ApiRequest) -> httpx.Response:
        """Send ``request`` to the tenant's current host; a 2xx response, else ApiError.

        Raises :class:`~toolkit.errors.TenantNotRunningError` before any call when the tenant
        is not running; a 421 re-resolves and retries once
        (:class:`~toolkit.errors.MisdirectedRequestError` if it comes again).
        """
        current = self.status.require_running(self.context_identifier)
        response = self._send(current, request)
        if response.status_code == MISDIRECTED_STATUS:
            response.close()
            log_misdirected(request, current)
            self.status.invalidate(self.context_identifier)
            moved = self.status.require_running(self.context_identifier)
            response = self._send(moved, request)
        if response.is_success:
            return response
        error = refused(response, request)
        response.close()
        raise error

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Any endpoint under the tenant's ``Api`` root (``"v1/Contact/3"``); its JSON or None."""
        return parse_json(self.execute(ApiRequest(method.upper(), path, body, params)))

    def _send(self, status: TenantStatus, request: ApiRequest) -> httpx.Response:
        url = request.url(status.api_url or "")
        retry, extra = send_options(request, self.retry)

        def send(credential_headers: Mapping[str, str]) -> httpx.Response:
            headers = {"Accept": "application/json", **self._headers, **credential_headers}
            return send_request(
                self.http,
                request.method,
                url,
                what=f"tenant API {self.context_identifier}",
                retry=retry,
                headers=headers,
                **extra,
            )

        return self.credential.send(send)

    def _json(self, request: ApiRequest) -> Any:
        return parse_json(self.execute(request))

    def _none(self, request: ApiRequest) -> None:
        self.execute(request).close()

    # -- helpers -------------------------------------------------------------------------------

    def api_version(self) -> dict[str, Any]:
        """``GET {Api}``: ``{v1, NetServerVersion, ..., ServicesCurrent, Version}`` (§6)."""
        return dict(_object(self._json(api_version_request()), "the version document"))

    def current_principal(self) -> dict[str, Any]:
        """``GET v1/User/currentPrincipal``: who the credential is (SoPrincipalCarrier)."""
        return dict(_object(self._json(current_principal_request()), "the principal"))

    def lists(self) -> builtins.list[ListEntity]:
        return [ListEntity.from_wire(d) for d in _array(self._json(lists_request()), "lists")]

    def list(self, list_ref: ListRef) -> ListEntity:
        """One list definition by id (negative = table number) or name."""
        return ListEntity.from_wire(self._json(list_request(list_ref)))

    def create_list(self, entity: ListEntity | Mapping[str, Any]) -> ListEntity:
        """``POST v1/List`` (a user-defined list). Not retried: read back by name on doubt."""
        return ListEntity.from_wire(self._json(create_list_request(entity)))

    def delete_list(self, list_ref: ListRef) -> None:
        self._none(delete_list_request(list_ref))

    def list_items(self, list_ref: ListRef) -> builtins.list[ListItemEntity]:
        items = _array(self._json(list_items_request(list_ref)), "list items")
        return [ListItemEntity.from_wire(d) for d in items]

    def list_item(self, list_ref: ListRef, item_id: int) -> ListItemEntity:
        return ListItemEntity.from_wire(self._json(list_item_request(list_ref, item_id)))

    def create_list_item(
        self, list_ref: ListRef, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        """``POST v1/List/{list}/Items``. Not retried: read back by name on doubt."""
        return ListItemEntity.from_wire(self._json(create_list_item_request(list_ref, entity)))

    def update_list_item(
        self, list_ref: ListRef, item_id: int, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        request = update_list_item_request(list_ref, item_id, entity)
        return ListItemEntity.from_wire(self._json(request))

    def delete_list_item(self, list_ref: ListRef, item_id: int) -> None:
        self._none(delete_list_item_request(list_ref, item_id))

    def web_panels(self) -> builtins.list[WebPanelEntity]:
        """Every web panel of the tenant (soft-deleted ones too, ``deleted=True``)."""
        panels = _array(self._json(web_panels_request()), "web panels")
        return [WebPanelEntity.from_wire(d) for d in panels]

    def web_panel(self, web_panel_id: int) -> WebPanelEntity:
        return WebPanelEntity.from_wire(self._json(web_panel_request(web_panel_id)))

    def default_web_panel(self) -> WebPanelEntity:
        """``GET v1/List/WebPanel/Items/Default``: NetServer's defaults for a new panel."""
        return WebPanelEntity.from_wire(self._json(default_web_panel_request()))

    def create_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity:
        """``POST v1/List/WebPanel/Items``. Not retried: read back by ``ProgId`` on doubt."""
        return WebPanelEntity.from_wire(self._json(create_web_panel_request(entity)))

    def save_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity:
        """Agent ``SaveWebPanelEntity``: create (id 0) or update; the app then owns the panel."""
        return WebPanelEntity.from_wire(self._json(save_web_panel_request(entity)))

    def update_web_panel(
        self, web_panel_id: int, entity: WebPanelEntity | Mapping[str, Any]
    ) -> WebPanelEntity:
        request = update_web_panel_request(web_panel_id, entity)
        return WebPanelEntity.from_wire(self._json(request))

    def delete_web_panel(self, web_panel_id: int) -> None:
        """Soft delete (``Deleted=true``, 204), as documented for the REST list API."""
        self._none(delete_web_panel_request(web_panel_id))

    def app_web_panels(self) -> builtins.list[WebPanelEntity]:
        """Agent ``GetAppWebPanels``: the panels this application owns."""
        panels = _array(self._json(app_web_panels_request()), "app web panels")
        return [WebPanelEntity.from_wire(d) for d in panels]

    def delete_app_web_panels(self) -> None:
        """Agent ``DeleteAppWebPanels``: permanently deletes every panel this app owns."""
        self._none(delete_app_web_panels_request())

    def delete_web_panel_permanently(self, web_panel_id: int) -> None:
        """Agent ``DeleteWebPanel``: a hard delete of one panel."""
        self._none(delete_web_panel_permanently_request(web_panel_id))
