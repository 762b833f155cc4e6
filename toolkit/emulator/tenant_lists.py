"""Tenant REST beyond the current principal: the version documents, lists, list items, web
panels and the List agent's web panel methods (protocol §5, §6, §7).

All under `/{ctx}/api`, matched case-insensitively (SuperOffice URLs come in many casings).
`GET /api` and `GET /api/v1` describe the service and need no credentials [I]; everything
else authenticates exactly like `User/currentPrincipal` (SOTicket + SO-AppToken, or Bearer).

Decisions where the reference is silent [I]:
- Web panel ownership (open question 13): a panel belongs to the application the creating
  request acted for, which needs a valid application token (protocol §7, see
  `tenant_api.owning_application`): a ticket's app, or a Bearer call's app when it sent
  `SO-AppToken`. A Bearer call without it creates a panel no application owns.
- `GetAppWebPanels` lists the caller's panels, soft-deleted ones included (with Deleted=true);
  without a valid application token it is refused (403, `tenant_api.require_application`).
- `DeleteWebPanel` on a panel the calling app does not own (or without an application):
  **403** `SoSecurityException`; on an unknown id: 404. `DeleteAppWebPanels` removes only the
  caller's panels (204, also when there were none or no valid application token came:
  "otherwise nothing happens", SD:ref-agent `v1ListAgent_DeleteAppWebPanels.md`).
- The generic REST `PUT|DELETE /v1/List/WebPanel/Items/{id}` act on any panel (they are the
  administrator's list API; the system user is not restricted anyway). DELETE is the documented
  soft delete (Deleted=true, 204); `GET .../Items` keeps listing soft-deleted panels.
- List items (other lists): DELETE removes the item (204); PUT merges the given fields.
- `PUT /v1/List/{id|name}/Items` ("save all", SD:ref-item
  `v1ListItemEntity_SaveAllFromListDefinition.md` / `..._SaveAllFromListName.md`): a JSON array
  of ListItemEntity, answered 200 with the saved items in the order sent. The reference says
  no more than "save all list items" and "returns the list items"; the rest is [I]: an entry
  with `Id` 0 is a new item (Name required), any other `Id` must be an item of that list and
  gets the given fields merged; the whole array is checked before anything changes. Items the
  array leaves out are **marked deleted** (`Deleted=true`), the way `DELETE .../Items` "marks
  all items in the list deleted": of the two readings the reference leaves open, this one
  makes a client that relies on unsent items being kept lose them here, not first in
  production. Not emulated for the WebPanel list.
  PUT on a web panel also merges: fields left out keep their values.
- `POST` answers 200 with the saved entity, as documented for web panels.
- Built-in lists cannot be renamed or deleted (400); user-defined lists (`udlist`) can.
- `GET|PUT /v1/List/{id|name}/Items/{itemId}/UserGroups` (SD:ref-item
  `v1ListItemEntity_{GetVisibleForUserGroups,SetVisibleForUserGroups}*.md`): every user group
  of the tenant as a `SelectableMDOListItem` with `Selected`; PUT changes the groups it names
  (each must be a known group with a boolean `Selected`) and leaves the others as they were,
  answering the new state. A web panel created through the API is visible for no group yet
  (see `tenant_data`).
- Task menus are `task_menus`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.emulator.creators import credential_of, record_creation, watermark
from toolkit.emulator.errors import ApiError, BadRequestError
from toolkit.emulator.not_emulated import NotEmulated, not_emulated_response
from toolkit.emulator.task_menus import ENDPOINTS as TASK_MENU_ENDPOINTS
from toolkit.emulator.task_menus import TaskMenus
from toolkit.emulator.tenant_api import (
    ERROR_SOURCE,
    FORBIDDEN_ERROR_TYPE,
    NOT_FOUND_ERROR_TYPE,
    Principal,
    TenantApi,
    Unauthorized,
    UnknownTenant,
    error_body,
    owning_application,
    require_application,
    unauthorized_response,
)
from toolkit.emulator.tenant_data import (
    ADMIN_ROLE,
    ITEM_FIELDS,
    LIST_FIELDS,
    UDLIST_TYPE,
    WEBPANEL_LIST_TYPE,
    ListDef,
    ListItem,
    TenantData,
    WebPanel,
    bad_request,
    checked_fields,
    default_web_panel,
    item_entity,
    list_entity,
    require_entity,
    web_panel_entity,
    web_panel_fields,
)
from toolkit.emulator.wire import decode_json, read_body
from toolkit.emulator.world import Tenant, World

MAX_ENTITY_BYTES = 256 * 1024
METHOD_ERROR_TYPE = "SoException"  # [I]
# Values of the version document (protocol §5/§6, SD:version). The NetServer build numbers
# are the emulator's own [I]; Services / ServicesCurrent / Version are the reference's.
NETSERVER_VERSION = "11.10.9012.0"
NETSERVER_ASSEMBLY = "11.10.0.0"
NETSERVER_DATE = "2026-02-24"
NETSERVER_NAME = "SuperOffice NetServer 11.10 Release (Build: 9012)"
SERVICES = "Services87"
SERVICES_CURRENT = "Services88"
API_VERSION = "v1"
DOCUMENTATION = "https://docs.superoffice.com/en/api/reference/restful/rest/index.html"
SYSTEM_ROLE = "System user"  # never restricted by Sentry (protocol §4.1)
USER_ROLE = "User"

Handler = Callable[["Call"], Awaitable[Response]]


class ContextIdentifierConvertor(Convertor[str]):
    """`Cust` + digits in any casing (protocol §1), so other paths never reach a tenant."""

    regex = "[Cc][Uu][Ss][Tt][0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ctx", ContextIdentifierConvertor())


class Call:
    """One authenticated request: who, which tenant, its data, the path's parameters."""

    def __init__(
        self, request: Request, principal: Principal, data: TenantData, params: dict[str, str]
    ) -> None:
        self.request = request
        self.principal = principal
        self.data = data
        self.params = params

    @property
    def role(self) -> str:
        membership = self.principal.membership
        if membership is None:
            return SYSTEM_ROLE
        return ADMIN_ROLE if membership.is_administrator else USER_ROLE

    @property
    def owner(self) -> str | None:
        """The application this call acts for (a valid application token), or None."""
        return owning_application(self.principal)

    def sees(self, item: ListItem) -> bool:
        # Sentry, simple model (see tenant_data): the system user bypasses it.
        return self.role == SYSTEM_ROLE or item.restricted_to in (None, self.role)

    async def body(self) -> Any:
        try:
            raw = await read_body(self.request, MAX_ENTITY_BYTES)
        except BadRequestError as exc:
            raise ApiError(exc.status, METHOD_ERROR_TYPE, exc.detail) from exc
        if not raw.strip():
            return None
        try:
            return decode_json(raw)  # also refuses text no answer could carry (lone surrogates)
        except BadRequestError as exc:
            raise bad_request("The request body is not valid JSON") from exc


def _not_found(message: str) -> ApiError:
    return ApiError(404, NOT_FOUND_ERROR_TYPE, message)


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise _not_found(f"{what} {value!r} not found") from exc


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(value, status)


def _no_content() -> Response:
    return Response(status_code=204)


# (verb, path after /api/v1, description) for the /api/v1 map; handlers bound in TenantLists.
ENDPOINTS: list[tuple[str, str, str]] = [
    ("GET", "/List/default", "Default values for a new ListEntity"),
    ("GET", "/List", "All list definitions"),
    ("POST", "/List", "Create a user-defined list"),
    ("GET", "/List/{idOrName}", "A list definition by id, -TableNumber or name"),
    ("PUT", "/List/{idOrName}", "Update a list definition"),
    ("DELETE", "/List/{idOrName}", "Delete a user-defined list"),
    ("GET", "/List/{idOrName}/Items", "The items of a list (web panels for WebPanel)"),
    ("POST", "/List/{idOrName}/Items", "Add one item to a list"),
    ("PUT", "/List/{idOrName}/Items", "Save all the items of a list"),
    ("GET", "/List/{idOrName}/Items/Default", "Default values for a new item"),
    ("GET", "/List/{idOrName}/Items/{itemId}", "One list item"),
    ("PUT", "/List/{idOrName}/Items/{itemId}", "Update one list item"),
    ("DELETE", "/List/{idOrName}/Items/{itemId}", "Delete one item (web panels: soft delete)"),
    ("POST", "/Agents/List/CreateDefaultWebPanelEntity", "Default values for a new web panel"),
    ("POST", "/Agents/List/SaveWebPanelEntity", "Create (WebPanelId 0) or update a web panel"),
    ("POST", "/Agents/List/GetAppWebPanels", "The web panels owned by the calling app"),
    ("POST", "/Agents/List/DeleteAppWebPanels", "Delete every web panel owned by the app"),
    ("POST", "/Agents/List/DeleteWebPanel", "Delete one web panel permanently"),
    ("GET", "/List/{idOrName}/Items/{itemId}/UserGroups", "User groups an item is visible for"),
    ("PUT", "/List/{idOrName}/Items/{itemId}/UserGroups", "Set the user groups of an item"),
    *TASK_MENU_ENDPOINTS,
    ("GET", "/User/currentPrincipal", "The current principal (SoPrincipalCarrier)"),
]


def _pattern(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(regex + "/?", re.IGNORECASE)


_KNOWN_PATHS = [_pattern(path) for _, path, _ in ENDPOINTS]


class TenantLists:
    def __init__(self, world: World, api: TenantApi) -> None:
        self.world = world
        self.api = api
        handlers: dict[tuple[str, str], Handler] = {
            ("GET", "/List/default"): self.default_list,
            ("GET", "/List"): self.lists,
            ("POST", "/List"): self.create_list,
            ("GET", "/List/{idOrName}"): self.get_list,
            ("PUT", "/List/{idOrName}"): self.update_list,
            ("DELETE", "/List/{idOrName}"): self.delete_list,
            ("GET", "/List/{idOrName}/Items"): self.items,
            ("POST", "/List/{idOrName}/Items"): self.create_item,
            ("PUT", "/List/{idOrName}/Items"): self.save_items,
            ("GET", "/List/{idOrName}/Items/Default"): self.default_item,
            ("GET", "/List/{idOrName}/Items/{itemId}"): self.get_item,
            ("PUT", "/List/{idOrName}/Items/{itemId}"): self.update_item,
            ("DELETE", "/List/{idOrName}/Items/{itemId}"): self.delete_item,
            ("POST", "/Agents/List/CreateDefaultWebPanelEntity"): self.create_default_panel,
            ("POST", "/Agents/List/SaveWebPanelEntity"): self.save_panel,
            ("POST", "/Agents/List/GetAppWebPanels"): self.app_panels,
            ("POST", "/Agents/List/DeleteAppWebPanels"): self.delete_app_panels,
            ("POST", "/Agents/List/DeleteWebPanel"): self.delete_panel,
            ("GET", "/List/{idOrName}/Items/{itemId}/UserGroups"): self.user_groups,
            ("PUT", "/List/{idOrName}/Items/{itemId}/UserGroups"): self.set_user_groups,
            **TaskMenus(world).handlers(),
        }
        # Literal templates before parameterised ones, so "Default" is not an item id.
        self.table = [
            (verb, _pattern(path), handler)
            for (verb, path), handler in sorted(
                handlers.items(), key=lambda kv: kv[0][1].count("{")
            )
        ]

    def routes(self) -> list[Route]:
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return [
            Route("/{ctx:ctx}/api", self.version, methods=["GET"]),
            Route("/{ctx:ctx}/api/{rest:path}", self.dispatch, methods=methods),
        ]

    # -- service description (no credentials) ------------------------------------------------

    def _tenant(self, ctx: str) -> Tenant:
        tenant = self.world.find_tenant(ctx)
        if tenant is None:
            raise _not_found(f"Unknown tenant {ctx}")
        return tenant

    def _base(self, tenant: Tenant) -> str:
        return f"{self.world.tenant_url(tenant)}/api"

    async def version(self, request: Request) -> Response:
        try:
            tenant = self._tenant(request.path_params["ctx"])
        except ApiError as exc:
            return _error(exc)
        base = self._base(tenant)
        return _json(
            {
                "v1": f"{base}/v1/",
                "NetServerVersion": NETSERVER_VERSION,
                "NetServerAssembly": NETSERVER_ASSEMBLY,
                "NetServerDate": NETSERVER_DATE,
                "NetServerLabel": tenant.version,
                "NetServer": NETSERVER_NAME,
                "Services": SERVICES,
                "ServicesCurrent": SERVICES_CURRENT,
                "Version": API_VERSION,
                "Documentation": DOCUMENTATION,
            }
        )

    def _endpoint_map(self, tenant: Tenant) -> dict[str, dict[str, str]]:
        base = f"{self._base(tenant)}/v1"
        result: dict[str, dict[str, str]] = {}
        for verb, path, description in ENDPOINTS:
            result.setdefault(base + path, {})[verb] = description
        return result

    # -- dispatch -----------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        rest = "/" + request.path_params["rest"]
        try:
            tenant = self._tenant(request.path_params["ctx"])
            if re.fullmatch(r"/v1/?", rest, re.IGNORECASE):
                if request.method != "GET":
                    raise ApiError(405, METHOD_ERROR_TYPE, f"{request.method} is not allowed")
                return _json(self._endpoint_map(tenant))
            if rest == "/" and request.method == "GET":
                return await self.version(request)
            handler, params = self._route(request.method, rest)
            principal = self.api.authenticate_rest(request, tenant)
            call = Call(request, principal, self.world.data_of(tenant), params)
            if request.method != "POST":
                return await handler(call)
            before = watermark(call.data)
            response = await handler(call)
            with self.world.lock:
                record_creation(call.data, principal, response, before)
            return response
        except Unauthorized as exc:
            return unauthorized_response(exc.message)
        except ApiError as exc:
            return _error(exc)
        except UnknownTenant as exc:
            return _error(_not_found(f"Unknown tenant {exc}"))
        except NotEmulated:
            return not_emulated_response(request.method, request.url.path)

    def _route(self, method: str, rest: str) -> tuple[Handler, dict[str, str]]:
        match = re.fullmatch(r"/v1(/.*)", rest, re.IGNORECASE)
        if match is None:
            raise NotEmulated(rest)
        path = match.group(1)
        allowed = False
        for verb, pattern, handler in self.table:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            if verb == method:
                return handler, found.groupdict()
            allowed = True
        # Paths served by another module (User/currentPrincipal) know their verbs too.
        allowed = allowed or any(pattern.fullmatch(path) for pattern in _KNOWN_PATHS)
        if allowed:
            raise ApiError(405, METHOD_ERROR_TYPE, f"{method} is not allowed on {rest}")
        # Not a missing record: a path this emulator does not implement (not_emulated).
        raise NotEmulated(rest)

    # -- lists --------------------------------------------------------------------------------

    def _list(self, call: Call) -> ListDef:
        key = call.params["idOrName"]
        found = call.data.find_list(key)
        if found is None:
            raise _not_found(f"List {key} not found")
        return found

    async def default_list(self, call: Call) -> Response:
        return _json(list_entity(ListDef(0, "", UDLIST_TYPE, is_custom=True, is_mdo=False)))

    async def lists(self, call: Call) -> Response:
        with self.world.lock:
            return _json([list_entity(d) for d in call.data.lists])

    def _links(self, call: Call, definition: ListDef) -> dict[str, Any]:
        base = f"{self._base(call.principal.tenant)}/v1/List/{definition.id}"
        return {**list_entity(definition), "_Links": {"Self": base, "Archive": f"{base}/Items"}}

    async def get_list(self, call: Call) -> Response:
        with self.world.lock:
            return _json(self._links(call, self._list(call)))

    async def create_list(self, call: Call) -> Response:
        fields = checked_fields(require_entity(await call.body()), LIST_FIELDS)
        name = fields.get("Name", "").strip()
        if not name:
            raise bad_request("Name is required")
        if fields.get("Id", 0) != 0:
            raise bad_request("Id must be 0 for a new list")
        if fields.get("ListType", UDLIST_TYPE).lower() != UDLIST_TYPE:
            raise bad_request("Only user-defined lists (ListType udlist) can be created")
        with self.world.changing():
            if call.data.find_list(name) is not None:
                raise bad_request(f"A list named {name} already exists")
            definition = ListDef(
                id=max(d.id for d in call.data.lists) + 1,
                name=name,
                list_type=UDLIST_TYPE,
                tooltip=fields.get("Tooltip", ""),
                rank=fields.get("Rank", 0),
                deleted=fields.get("Deleted", False),
                is_custom=True,
                is_mdo=False,
                use_groups_and_headings=fields.get("UseGroupsAndHeadings", False),
            )
            call.data.lists.append(definition)
            return _json(self._links(call, definition))

    async def update_list(self, call: Call) -> Response:
        fields = checked_fields(require_entity(await call.body()), LIST_FIELDS)
        with self.world.changing():
            definition = self._list(call)
            if fields.get("Id", definition.id) != definition.id:
                raise bad_request("Id does not match the URL")
            name = fields.get("Name", definition.name).strip()
            if name != definition.name:
                if not definition.is_custom:
                    raise bad_request("Built-in lists cannot be renamed")
                other = call.data.find_list(name)
                if not name or (other is not None and other is not definition):
                    raise bad_request(f"Name {name!r} is empty or taken")
                definition.name = name
            definition.tooltip = fields.get("Tooltip", definition.tooltip)
            definition.rank = fields.get("Rank", definition.rank)
            definition.deleted = fields.get("Deleted", definition.deleted)
            definition.use_groups_and_headings = fields.get(
                "UseGroupsAndHeadings", definition.use_groups_and_headings
            )
            return _json(self._links(call, definition))

    async def delete_list(self, call: Call) -> Response:
        with self.world.changing():
            definition = self._list(call)
            if not definition.is_custom:
                raise bad_request("Built-in lists cannot be deleted")
            call.data.lists.remove(definition)
        return _no_content()

    # -- list items (and web panels, the items of the WebPanel list) --------------------------

    def _item(self, call: Call, definition: ListDef) -> ListItem:
        item_id = _int(call.params["itemId"], "List item")
        for item in definition.items:
            if item.id == item_id and call.sees(item):
                return item
        raise _not_found(f"List item {item_id} not found in {definition.name}")

    def _panel(self, call: Call, raw_id: str | int) -> WebPanel:
        panel_id = raw_id if isinstance(raw_id, int) else _int(raw_id, "Web panel")
        panel = call.data.find_panel(panel_id)
        if panel is None:
            raise _not_found(f"Web panel {panel_id} not found")
        return panel

    async def items(self, call: Call) -> Response:
        with self.world.lock:
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                return _json([web_panel_entity(p) for p in call.data.web_panels])
            return _json([item_entity(definition, i) for i in definition.items if call.sees(i)])

    async def default_item(self, call: Call) -> Response:
        with self.world.lock:
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                return _json(default_web_panel())
            return _json(item_entity(definition, ListItem(0, "")))

    async def create_item(self, call: Call) -> Response:
        body = require_entity(await call.body())
        with self.world.changing():
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                return _json(web_panel_entity(self._create_panel(call, body)))
            fields = checked_fields(body, ITEM_FIELDS)
            name = fields.get("Name", "").strip()
            if not name:
                raise bad_request("Name is required")
            if fields.get("Id", 0) != 0:
                raise bad_request("Id must be 0 for a new item")
            if fields.get("UdListDefinitionId", definition.id) not in (0, definition.id):
                raise bad_request("UdListDefinitionId does not match the URL")
            item = ListItem(
                call.data.new_id(),
                name,
                tooltip=fields.get("Tooltip", ""),
                rank=fields.get("Rank", 0),
                deleted=fields.get("Deleted", False),
            )
            definition.items.append(item)
            return _json(item_entity(definition, item))

    async def save_items(self, call: Call) -> Response:
        body = await call.body()
        if not isinstance(body, list) or not all(isinstance(entry, dict) for entry in body):
            raise bad_request("The items must be a JSON array of ListItemEntity objects")
        with self.world.changing():
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                raise NotEmulated(call.request.url.path)
            planned: list[tuple[ListItem | None, dict[str, Any]]] = []
            for entry in body:
                fields = checked_fields(entry, ITEM_FIELDS)
                if fields.get("UdListDefinitionId", definition.id) not in (0, definition.id):
                    raise bad_request("UdListDefinitionId does not match the URL")
                item_id = fields.get("Id", 0)
                existing = None
                if item_id != 0:
                    existing = next(
                        (i for i in definition.items if i.id == item_id and call.sees(i)), None
                    )
                    if existing is None:
                        raise _not_found(f"List item {item_id} not found in {definition.name}")
                name = fields.get("Name", existing.name if existing else "").strip()
                if not name:
                    raise bad_request("Name is required")
                planned.append((existing, {**fields, "Name": name}))
            kept = {id(existing) for existing, _ in planned if existing is not None}
            for item in definition.items:
                if id(item) not in kept and call.sees(item):
                    item.deleted = True  # left out of a "save all" [I] (module doc)
            saved = []
            for existing, fields in planned:
                item = existing or ListItem(call.data.new_id(), fields["Name"])
                item.name = fields["Name"]
                item.tooltip = fields.get("Tooltip", item.tooltip)
                item.rank = fields.get("Rank", item.rank)
                item.deleted = fields.get("Deleted", False if existing is None else item.deleted)
                if existing is None:
                    definition.items.append(item)
                    call.data.created_by.setdefault(
                        f"list_item:{item.id}", credential_of(call.principal)
                    )
                saved.append(item_entity(definition, item))
            return _json(saved)

    async def get_item(self, call: Call) -> Response:
        with self.world.lock:
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                return _json(web_panel_entity(self._panel(call, call.params["itemId"])))
            return _json(item_entity(definition, self._item(call, definition)))

    async def update_item(self, call: Call) -> Response:
        body = require_entity(await call.body())
        with self.world.changing():
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                panel = self._panel(call, call.params["itemId"])
                return _json(web_panel_entity(self._update_panel(panel, body)))
            item = self._item(call, definition)
            fields = checked_fields(body, ITEM_FIELDS)
            if fields.get("Id", item.id) != item.id:
                raise bad_request("Id does not match the URL")
            name = fields.get("Name", item.name).strip()
            if not name:
                raise bad_request("Name must not be empty")
            item.name = name
            item.tooltip = fields.get("Tooltip", item.tooltip)
            item.rank = fields.get("Rank", item.rank)
            item.deleted = fields.get("Deleted", item.deleted)
            return _json(item_entity(definition, item))

    async def delete_item(self, call: Call) -> Response:
        with self.world.changing():
            definition = self._list(call)
            if definition.list_type == WEBPANEL_LIST_TYPE:
                panel = self._panel(call, call.params["itemId"])
                panel.entity["Deleted"] = True  # soft delete (protocol §7.1)
            else:
                definition.items.remove(self._item(call, definition))
        return _no_content()

    # -- user-group visibility ----------------------------------------------------------------

    def _visible_item(self, call: Call) -> WebPanel | ListItem:
        definition = self._list(call)
        if definition.list_type == WEBPANEL_LIST_TYPE:
            return self._panel(call, call.params["itemId"])
        return self._item(call, definition)

    @staticmethod
    def _groups_view(call: Call, item: WebPanel | ListItem) -> list[dict[str, Any]]:
        return [
            {
                "Id": group.id,
                "Name": group.name,
                "ToolTip": group.tooltip,
                "Deleted": group.deleted,
                "Rank": group.rank,
                "Type": "usergroup",
                "ColorBlock": 0,
                "IconHint": "",
                "Selected": item.visible_for is None or group.id in item.visible_for,
                "LastChanged": "",
                "ChildItems": [],
                "ExtraInfo": "",
                "StyleHint": "",
                "Hidden": False,
                "FullName": group.name,
            }
            for group in call.data.user_groups()
        ]

    async def user_groups(self, call: Call) -> Response:
        with self.world.lock:
            return _json(self._groups_view(call, self._visible_item(call)))

    async def set_user_groups(self, call: Call) -> Response:
        body = await call.body()
        if not isinstance(body, list) or not all(isinstance(g, dict) for g in body):
            raise bad_request("Send an array of the user groups (SelectableMDOListItem)")
        with self.world.changing():
            item = self._visible_item(call)
            known = {group.id for group in call.data.user_groups()}
            selected = set(known if item.visible_for is None else item.visible_for)
            for group in body:
                group_id, chosen = group.get("Id"), group.get("Selected")
                if isinstance(group_id, bool) or not isinstance(group_id, int):
                    raise bad_request("Every user group needs an int Id")
                if group_id not in known:
                    raise bad_request(f"User group {group_id} does not exist")
                if not isinstance(chosen, bool):
                    raise bad_request(f"User group {group_id} needs a boolean Selected")
                (selected.add if chosen else selected.discard)(group_id)
            item.visible_for = sorted(selected)
            return _json(self._groups_view(call, item))

    # -- web panels ---------------------------------------------------------------------------

    def _create_panel(self, call: Call, body: dict[str, Any]) -> WebPanel:
        fields = web_panel_fields(body)
        if fields.get("WebPanelId", 0) != 0:
            raise bad_request("WebPanelId must be 0 for a new web panel")
        if not fields.get("Name", "").strip():
            raise bad_request("Name is required")
        entity = default_web_panel()
        del entity["TableRight"], entity["FieldProperties"]
        entity.update(fields)
        entity["WebPanelId"] = call.data.new_id()
        panel = WebPanel(entity, call.owner, visible_for=[])  # no group yet (tenant_data)
        call.data.web_panels.append(panel)
        return panel

    def _update_panel(self, panel: WebPanel, body: dict[str, Any]) -> WebPanel:
        fields = web_panel_fields(body)
        if fields.get("WebPanelId", panel.id) != panel.id:
            raise bad_request("WebPanelId does not match")
        if "Name" in fields and not fields["Name"].strip():
            raise bad_request("Name must not be empty")
        panel.entity.update(fields)
        return panel

    async def create_default_panel(self, call: Call) -> Response:
        return _json(default_web_panel())

    async def save_panel(self, call: Call) -> Response:
        body = require_entity(await call.body())
        # The agent's one parameter may also arrive wrapped by its name [I].
        if set(body) == {"WebPanelEntity"} and isinstance(body["WebPanelEntity"], dict):
            body = require_entity(body["WebPanelEntity"])
        panel_id = body.get("WebPanelId") or 0
        if isinstance(panel_id, bool) or not isinstance(panel_id, int):
            raise bad_request("WebPanelId must be an int")
        with self.world.changing():
            if panel_id == 0:
                panel = self._create_panel(call, body)
            else:
                panel = self._update_panel(self._panel(call, panel_id), body)
            return _json(web_panel_entity(panel))

    async def app_panels(self, call: Call) -> Response:
        owner = require_application(call.principal, "GetAppWebPanels")
        with self.world.lock:
            owned = [p for p in call.data.web_panels if p.owner == owner]
            return _json([web_panel_entity(p) for p in owned])

    async def delete_app_panels(self, call: Call) -> Response:
        owner = call.owner
        if owner is None:
            return _no_content()  # "otherwise nothing happens" (SD:ref-agent)
        with self.world.changing():
            call.data.web_panels[:] = [p for p in call.data.web_panels if p.owner != owner]
        return _no_content()

    async def delete_panel(self, call: Call) -> Response:
        body = require_entity(await call.body())
        panel_id = body.get("Id")
        if set(body) != {"Id"} or isinstance(panel_id, bool) or not isinstance(panel_id, int):
            raise bad_request('Send {"Id": <web panel id>}')
        with self.world.changing():
            panel = self._panel(call, panel_id)
            if call.owner is None or panel.owner != call.owner:
                raise ApiError(
                    403,
                    FORBIDDEN_ERROR_TYPE,
                    f"Web panel {panel_id} is not owned by this application",
                )
            call.data.web_panels.remove(panel)
        return _no_content()


def _error(exc: ApiError) -> Response:
    response = JSONResponse(error_body(exc.error_type, exc.message), exc.status)
    response.headers.update(exc.headers)
    return response


__all__ = ["ERROR_SOURCE", "TenantLists"]
