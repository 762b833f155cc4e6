"""The tenant's state API and REST API for asyncio callers (issue 16: the async API).

Thin transports over the sync modules' pure parts: the state API answer is parsed by
:func:`~toolkit.tenant.status.parse_state_response` and cached in the sync
:class:`~toolkit.tenant.status.TenantStatusClient` (one cache for both), requests are the
:mod:`toolkit.tenant.webapi` builders (:class:`~toolkit.tenant.webapi.ApiRequest`), answers and
errors its parsers, retries the same :class:`~toolkit.http.RetryPolicy`. Only sending is
``await client.request(...)`` on ``httpx.AsyncClient``, so a request handler's event loop runs on
while a tenant is slow.
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from toolkit.claims import REDACTED
from toolkit.errors import ConfigurationError
from toolkit.http import RetryPolicy, async_send_request
from toolkit.loop_locks import LoopLocks
from toolkit.tenant.status import (
    TenantStatus,
    TenantStatusClient,
    parse_state_response,
    require_running_status,
)
from toolkit.tenant.webapi import (
    DEFAULT_API_RETRY,
    MISDIRECTED_STATUS,
    ApiRequest,
    ListEntity,
    ListItemEntity,
    ListRef,
    WebPanelEntity,
    api_version_request,
    app_web_panels_request,
    array_of,
    check_credential_tenant,
    create_list_item_request,
    create_list_request,
    current_principal_request,
    delete_app_web_panels_request,
    delete_list_item_request,
    delete_list_request,
    delete_web_panel_permanently_request,
    list_item_request,
    list_items_request,
    list_request,
    lists_request,
    log_misdirected,
    object_of,
    parse_json,
    refused,
    save_web_panel_request,
    send_options,
    system_user_headers,
    update_list_item_request,
    update_web_panel_request,
    web_panel_request,
    web_panels_request,
)

if TYPE_CHECKING:
    from toolkit.auth.async_tickets import AsyncTicketManager
    from toolkit.auth.system_user import SystemUserTicket

__all__ = [
    "AsyncCredential",
    "AsyncSystemUserCredential",
    "AsyncTenantStatusClient",
    "AsyncWebApiClient",
]

logger = logging.getLogger("toolkit.tenant")

AsyncSendWithHeaders = Callable[[Mapping[str, str]], Awaitable[httpx.Response]]


class AsyncTenantStatusClient:
    """The state API of one environment on ``httpx.AsyncClient``, sharing ``cache``'s answers.

    ``cache`` is the environment's sync :class:`~toolkit.tenant.status.TenantStatusClient`:
    an answer either one fetched serves both until ``ValidUntil``. Concurrent coroutines of one
    loop asking for one tenant share one call.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        cache: TenantStatusClient,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.http = http
        self.cache = cache
        self.environment = cache.environment
        self._retry = retry if retry is not None else cache._retry
        self._guard = threading.Lock()
        self._locks: LoopLocks[str] = LoopLocks()
        self.fetch_count = 0
        """State API calls this client made."""

    def __repr__(self) -> str:
        return f"AsyncTenantStatusClient({self.environment.name!r}, fetch_count={self.fetch_count})"

    async def status(self, context_identifier: str, *, refresh: bool = False) -> TenantStatus:
        """The tenant's status: the shared cached answer while valid, else one state API call."""
        if not refresh:
            cached = self.cache.cached(context_identifier)
            if cached is not None:
                return cached
        async with self._locks.get(context_identifier.casefold()):
            if not refresh:
                cached = self.cache.cached(context_identifier)
                if cached is not None:
                    return cached
            return self.cache.remember(await self._fetch(context_identifier))

    async def require_running(self, context_identifier: str) -> TenantStatus:
        """The status of a running tenant, or the typed error without any call to the tenant
        (the rules of :meth:`TenantStatusClient.require_running
        <toolkit.tenant.status.TenantStatusClient.require_running>`)."""
        return require_running_status(await self.status(context_identifier), context_identifier)

    def invalidate(self, context_identifier: str) -> None:
        """Forget the cached answer (both clients'): after a 421, the tenant moved."""
        self.cache.invalidate(context_identifier)

    async def _fetch(self, context_identifier: str) -> TenantStatus:
        url = self.environment.state_url(context_identifier)
        with self._guard:
            self.fetch_count += 1
        response = await async_send_request(
            self.http,
            "GET",
            url,
            what="state API",
            retry=self._retry,
            headers={"Accept": "application/json"},
        )
        return parse_state_response(
            response.status_code, response.content, url=url, context_identifier=context_identifier
        )


class AsyncCredential(Protocol):
    """How an async request authenticates (the async twin of
    :class:`~toolkit.tenant.webapi.Credential`)."""

    async def send(self, send: AsyncSendWithHeaders) -> httpx.Response: ...

    @property
    def context_identifier(self) -> str | None: ...


class AsyncSystemUserCredential:
    """The application's system user in one tenant: ``SOTicket`` + ``SO-AppToken`` (§5).

    Tickets come from the :class:`~toolkit.auth.async_tickets.AsyncTicketManager` (the sync
    manager's cache, store and single flight), renewed once after a 401.
    """

    def __init__(
        self,
        tickets: AsyncTicketManager,
        application: str,
        context_identifier: str,
        application_token: str,
    ) -> None:
        if not application_token:
            raise ConfigurationError("SO-AppToken (the client secret) is mandatory with SOTicket")
        self.tickets = tickets
        self.application = application
        self._context_identifier = context_identifier
        self._application_token = application_token

    @property
    def context_identifier(self) -> str:
        return self._context_identifier

    def headers(self, ticket: SystemUserTicket) -> dict[str, str]:
        return system_user_headers(ticket, self._application_token)

    async def send(self, send: AsyncSendWithHeaders) -> httpx.Response:
        return await self.tickets.call_with_ticket(
            self.application,
            self._context_identifier,
            lambda ticket: send(self.headers(ticket)),
        )

    def __repr__(self) -> str:
        return (
            f"AsyncSystemUserCredential(application={self.application!r}, "
            f"context_identifier={self._context_identifier!r}, application_token={REDACTED!r})"
        )


class AsyncWebApiClient:
    """The REST API of one tenant on ``httpx.AsyncClient``: the twin of
    :class:`~toolkit.tenant.webapi.WebApiClient` (same requests, parsers, errors, 421 rule).

    In a Starlette / FastAPI handler::

        async def panels(request: Request) -> JSONResponse:
            api = await request.app.state.aws.system_user_api("Acme Sync", "Cust12345")
            return JSONResponse([p.name for p in await api.app_web_panels()])

    :meth:`execute` and :meth:`call` reach any endpoint; the read helpers return typed entities.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        status: AsyncTenantStatusClient,
        context_identifier: str,
        credential: AsyncCredential,
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
        return f"AsyncWebApiClient({self.context_identifier!r}, {self.credential!r})"

    async def execute(self, request: ApiRequest) -> httpx.Response:
        """Send ``request`` to the tenant's current host; a 2xx response, else ApiError
        (:class:`~toolkit.errors.TenantNotRunningError` before any call to a tenant that is
        not running; a 421 re-resolves and retries once)."""
        current = await self.status.require_running(self.context_identifier)
        response = await self._send(current, request)
        if response.status_code == MISDIRECTED_STATUS:
            await response.aclose()
            log_misdirected(request, current)
            self.status.invalidate(self.context_identifier)
            moved = await self.status.require_running(self.context_identifier)
            response = await self._send(moved, request)
        if response.is_success:
            return response
        error = refused(response, request)
        await response.aclose()
        raise error

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Any endpoint under the tenant's ``Api`` root (``"v1/List"``); its JSON or None."""
        return parse_json(await self.execute(ApiRequest(method.upper(), path, body, params)))

    async def _send(self, status: TenantStatus, request: ApiRequest) -> httpx.Response:
        url = request.url(status.api_url or "")
        retry, extra = send_options(request, self.retry)

        async def send(credential_headers: Mapping[str, str]) -> httpx.Response:
            headers = {"Accept": "application/json", **self._headers, **credential_headers}
            return await async_send_request(
                self.http,
                request.method,
                url,
                what=f"tenant API {self.context_identifier}",
                retry=retry,
                headers=headers,
                **extra,
            )

        return await self.credential.send(send)

    async def _json(self, request: ApiRequest) -> Any:
        return parse_json(await self.execute(request))

    async def _none(self, request: ApiRequest) -> None:
        await (await self.execute(request)).aclose()

    # -- helpers: the sync client's, same requests and parsers ---------------------------------

    async def api_version(self) -> dict[str, Any]:
        """``GET {Api}``: the version document (§6)."""
        return dict(object_of(await self._json(api_version_request()), "the version document"))

    async def current_principal(self) -> dict[str, Any]:
        """``GET v1/User/currentPrincipal``: who the credential is."""
        return dict(object_of(await self._json(current_principal_request()), "the principal"))

    async def lists(self) -> builtins.list[ListEntity]:
        documents = array_of(await self._json(lists_request()), "lists")
        return [ListEntity.from_wire(d) for d in documents]

    async def list(self, list_ref: ListRef) -> ListEntity:
        """One list definition by id (negative = table number) or name."""
        return ListEntity.from_wire(await self._json(list_request(list_ref)))

    async def list_items(self, list_ref: ListRef) -> builtins.list[ListItemEntity]:
        items = array_of(await self._json(list_items_request(list_ref)), "list items")
        return [ListItemEntity.from_wire(d) for d in items]

    async def web_panels(self) -> builtins.list[WebPanelEntity]:
        """Every web panel of the tenant (soft-deleted ones too)."""
        panels = array_of(await self._json(web_panels_request()), "web panels")
        return [WebPanelEntity.from_wire(d) for d in panels]

    async def web_panel(self, web_panel_id: int) -> WebPanelEntity:
        return WebPanelEntity.from_wire(await self._json(web_panel_request(web_panel_id)))

    async def app_web_panels(self) -> builtins.list[WebPanelEntity]:
        """Agent ``GetAppWebPanels``: the panels this application owns."""
        panels = array_of(await self._json(app_web_panels_request()), "app web panels")
        return [WebPanelEntity.from_wire(d) for d in panels]

    async def create_list(self, entity: ListEntity | Mapping[str, Any]) -> ListEntity:
        """``POST v1/List``. Not retried: read back by name on doubt."""
        return ListEntity.from_wire(await self._json(create_list_request(entity)))

    async def delete_list(self, list_ref: ListRef) -> None:
        await self._none(delete_list_request(list_ref))

    async def list_item(self, list_ref: ListRef, item_id: int) -> ListItemEntity:
        return ListItemEntity.from_wire(await self._json(list_item_request(list_ref, item_id)))

    async def create_list_item(
        self, list_ref: ListRef, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        """``POST v1/List/{list}/Items``. Not retried: read back by name on doubt."""
        request = create_list_item_request(list_ref, entity)
        return ListItemEntity.from_wire(await self._json(request))

    async def update_list_item(
        self, list_ref: ListRef, item_id: int, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        request = update_list_item_request(list_ref, item_id, entity)
        return ListItemEntity.from_wire(await self._json(request))

    async def delete_list_item(self, list_ref: ListRef, item_id: int) -> None:
        await self._none(delete_list_item_request(list_ref, item_id))

    async def save_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity:
        """Agent ``SaveWebPanelEntity``: create (id 0) or update; the app then owns the panel."""
        return WebPanelEntity.from_wire(await self._json(save_web_panel_request(entity)))

    async def update_web_panel(
        self, web_panel_id: int, entity: WebPanelEntity | Mapping[str, Any]
    ) -> WebPanelEntity:
        request = update_web_panel_request(web_panel_id, entity)
        return WebPanelEntity.from_wire(await self._json(request))

    async def delete_app_web_panels(self) -> None:
        """Agent ``DeleteAppWebPanels``: permanently deletes every panel this app owns."""
        await self._none(delete_app_web_panels_request())

    async def delete_web_panel_permanently(self, web_panel_id: int) -> None:
        """Agent ``DeleteWebPanel``: a hard delete of one panel."""
        await self._none(delete_web_panel_permanently_request(web_panel_id))
