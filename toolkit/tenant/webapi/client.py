"""WebApiClient: the REST API of one tenant, as one credential, routed by the state API."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from toolkit.http import RetryPolicy, send_request
from toolkit.tenant.status import TenantStatus, TenantStatusClient
from toolkit.tenant.webapi.credentials import Credential, check_credential_tenant
from toolkit.tenant.webapi.exchange import log_misdirected, parse_json, refused, send_options
from toolkit.tenant.webapi.lists import (
    ListEntity,
    ListItemEntity,
    create_list_item_request,
    create_list_request,
    delete_list_item_request,
    delete_list_request,
    list_item_request,
    list_items_request,
    list_request,
    lists_request,
    save_list_items_request,
    update_list_item_request,
)
from toolkit.tenant.webapi.web_panels import (
    WebPanelEntity,
    app_web_panels_request,
    create_web_panel_request,
    default_web_panel_request,
    delete_app_web_panels_request,
    delete_web_panel_permanently_request,
    delete_web_panel_request,
    save_web_panel_request,
    update_web_panel_request,
    web_panel_request,
    web_panels_request,
)
from toolkit.tenant.webapi.wire import (
    DEFAULT_API_RETRY,
    MISDIRECTED_STATUS,
    ApiRequest,
    ListRef,
    api_version_request,
    array_of,
    current_principal_request,
    object_of,
)

__all__ = ["WebApiClient"]


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
        return dict(object_of(self._json(api_version_request()), "the version document"))

    def current_principal(self) -> dict[str, Any]:
        """``GET v1/User/currentPrincipal``: who the credential is (SoPrincipalCarrier)."""
        return dict(object_of(self._json(current_principal_request()), "the principal"))

    def lists(self) -> builtins.list[ListEntity]:
        return [ListEntity.from_wire(d) for d in array_of(self._json(lists_request()), "lists")]

    def list(self, list_ref: ListRef) -> ListEntity:
        """One list definition by id (negative = table number) or name."""
        return ListEntity.from_wire(self._json(list_request(list_ref)))

    def create_list(self, entity: ListEntity | Mapping[str, Any]) -> ListEntity:
        """``POST v1/List`` (a user-defined list). Not retried: read back by name on doubt."""
        return ListEntity.from_wire(self._json(create_list_request(entity)))

    def delete_list(self, list_ref: ListRef) -> None:
        self._none(delete_list_request(list_ref))

    def list_items(self, list_ref: ListRef) -> builtins.list[ListItemEntity]:
        items = array_of(self._json(list_items_request(list_ref)), "list items")
        return [ListItemEntity.from_wire(d) for d in items]

    def list_item(self, list_ref: ListRef, item_id: int) -> ListItemEntity:
        return ListItemEntity.from_wire(self._json(list_item_request(list_ref, item_id)))

    def create_list_item(
        self, list_ref: ListRef, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        """``POST v1/List/{list}/Items``. Not retried: read back by name on doubt."""
        return ListItemEntity.from_wire(self._json(create_list_item_request(list_ref, entity)))

    def save_list_items(
        self, list_ref: ListRef, entities: Sequence[ListItemEntity | Mapping[str, Any]]
    ) -> builtins.list[ListItemEntity]:
        """``PUT v1/List/{list}/Items``: save the given items in one request (new ones with
        ``Id`` 0); the saved items. Not retried: read back by name on doubt. What it does to
        items it is not sent is not documented [I]: use it on a list that has none."""
        items = array_of(self._json(save_list_items_request(list_ref, entities)), "list items")
        return [ListItemEntity.from_wire(d) for d in items]

    def update_list_item(
        self, list_ref: ListRef, item_id: int, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        request = update_list_item_request(list_ref, item_id, entity)
        return ListItemEntity.from_wire(self._json(request))

    def delete_list_item(self, list_ref: ListRef, item_id: int) -> None:
        self._none(delete_list_item_request(list_ref, item_id))

    def web_panels(self) -> builtins.list[WebPanelEntity]:
        """Every web panel of the tenant (soft-deleted ones too, ``deleted=True``)."""
        panels = array_of(self._json(web_panels_request()), "web panels")
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
        panels = array_of(self._json(app_web_panels_request()), "app web panels")
        return [WebPanelEntity.from_wire(d) for d in panels]

    def delete_app_web_panels(self) -> None:
        """Agent ``DeleteAppWebPanels``: permanently deletes every panel this app owns."""
        self._none(delete_app_web_panels_request())

    def delete_web_panel_permanently(self, web_panel_id: int) -> None:
        """Agent ``DeleteWebPanel``: a hard delete of one panel."""
        self._none(delete_web_panel_permanently_request(web_panel_id))
