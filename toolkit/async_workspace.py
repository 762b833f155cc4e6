"""The async API: what request handlers and fleets call, for asyncio apps (Starlette, FastAPI).

:class:`AsyncWorkspace` puts an ``httpx.AsyncClient`` beside a :class:`~toolkit.Workspace` and
offers async twins of the calls a partner's own web application makes per request: begin and
complete an install, receive a state-change notification, get a system user ticket, the tenant
state API and the tenant REST API. It is one protocol implementation with two thin transports:
the requests, parsers, validation rules, retry policy and errors are the sync API's; the state
API, the PartnerSystemUser exchange and the tenant REST calls go over ``httpx.AsyncClient``;
store work (sync SQLAlchemy) and token validation run in worker threads, so the event loop is
never blocked. Tickets share the sync API's memory cache, store and single flight, so sync and
async callers together still cause one exchange per tenant at a time.

In a Starlette (or FastAPI) app, open it in the lifespan and use it in handlers::

    from contextlib import asynccontextmanager
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import Route
    from toolkit import AsyncWorkspace

    @asynccontextmanager
    async def lifespan(app):
        async with await AsyncWorkspace.open() as aws:
            app.state.aws = aws
            yield

    async def install(request):
        url = await request.app.state.aws.begin_install("Acme Sync")
        return RedirectResponse(url, status_code=303)

    async def callback(request):
        result = await request.app.state.aws.complete_install(await request.form())
        return JSONResponse({"tenant": result.authorization.context_identifier})

    async def panels(request):
        api = await request.app.state.aws.system_user_api("Acme Sync", "Cust12345")
        return JSONResponse([panel.name for panel in await api.app_web_panels()])

    app = Starlette(routes=[...], lifespan=lifespan)

The sync :class:`~toolkit.Workspace` stays what notebooks, the CLI and the dashboard use; an
app that has one already wraps it with :meth:`AsyncWorkspace.of`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, cast

import httpx

from toolkit.auth.async_tickets import AsyncTicketManager, async_system_user_exchange
from toolkit.auth.oidc import CallbackParams, async_drive_token_flow, async_post_token_request
from toolkit.auth.system_user import SystemUserTicket
from toolkit.auth.tickets import Transport, environment_of
from toolkit.config import Environment, Settings
from toolkit.errors import ToolkitError
from toolkit.http import HttpTimeouts, create_async_client
from toolkit.installation import InstallResult
from toolkit.naming import check_context_identifier
from toolkit.provisioning.aio import LoopBridge
from toolkit.provisioning.fleet import DEFAULT_CONCURRENCY
from toolkit.provisioning.manifest import Manifest
from toolkit.provisioning.plan import Plan, ProvisioningApi, make_plan
from toolkit.store import Application, Repository
from toolkit.tenant.aio import (
    AsyncSystemUserCredential,
    AsyncTenantStatusClient,
    AsyncWebApiClient,
)
from toolkit.tenant.status import TenantStatus, TenantStatusClient
from toolkit.tenant_events import StateChangeResult
from toolkit.workspace import Workspace

__all__ = ["AsyncWorkspace"]

# Plans running at once through the async API (each waits in a thread for its tenant reads):
# twice the fleets' default concurrency, so a fleet run here is never held by this pool; more
# plans queue for a thread.
PLANNING_THREADS = 2 * DEFAULT_CONCURRENCY
# The audit actor of installs completed through the async API (the partner's own endpoint).
ASYNC_INSTALL_ACTOR = "partner-endpoint"


class AsyncWorkspace:
    """The async API over one :class:`~toolkit.Workspace` (see the module docstring).

    Build it with :meth:`open` (opens a workspace and an async client, closes both) or
    :meth:`of` (wraps the caller's workspace, which stays the caller's to close). Use it from
    any number of coroutines of one event loop (its ``httpx.AsyncClient`` pools connections
    of that loop); sync callers in other threads share its tickets and caches through the
    workspace.
    """

    workspace: Workspace
    http: httpx.AsyncClient
    tickets: AsyncTicketManager

    def __init__(
        self,
        workspace: Workspace,
        http: httpx.AsyncClient,
        *,
        owns_workspace: bool,
        owns_http: bool,
    ) -> None:
        self.workspace = workspace
        self.http = http
        self._owns_workspace = owns_workspace
        self._owns_http = owns_http
        self._closed = False
        self._lock = threading.Lock()
        self._status_clients: dict[str, AsyncTenantStatusClient] = {}
        self._planning_pool: ThreadPoolExecutor | None = None
        tenants = workspace.tenants
        # SuperID's keys per environment are the sync API's caches: one key set, fetched once.
        exchange = async_system_user_exchange(http=http, keys=tenants._keys, now=tenants._now)
        self.tickets = AsyncTicketManager(tenants.tickets, exchange=exchange)

    @classmethod
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> AsyncWorkspace:
        """Open a :class:`~toolkit.Workspace` (in a worker thread: migrations and the key ring
        are sync) and an async client with the same timeouts. Errors as
        :meth:`Workspace.open <toolkit.Workspace.open>`. ``http`` given here stays the
        caller's."""
        workspace = await asyncio.to_thread(Workspace.open, settings, now=now)
        try:
            client = http or create_async_client(
                timeout=HttpTimeouts.from_settings(workspace.settings)
            )
            return cls(workspace, client, owns_workspace=True, owns_http=http is None)
        except BaseException:
            workspace.close()
            raise

    @classmethod
    def of(cls, workspace: Workspace, *, http: httpx.AsyncClient | None = None) -> AsyncWorkspace:
        """The async API over ``workspace`` (its store, caches and ticket manager shared).
        :meth:`aclose` closes only the async client it made here, never ``workspace``."""
        client = http or create_async_client(timeout=HttpTimeouts.from_settings(workspace.settings))
        return cls(workspace, client, owns_workspace=False, owns_http=http is None)

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    @property
    def repository(self) -> Repository:
        return self.workspace.repository

    # -- installs ------------------------------------------------------------------------------

    async def begin_install(
        self,
        application: str,
        *,
        tenant: str | None = None,
        response_mode: str = "form_post",
        return_to: str | None = None,
        prompt: str | None = None,
    ) -> str:
        """The SuperID authorize URL that installs ``application``: redirect the administrator
        there. Arguments and errors as :meth:`Installations.begin
        <toolkit.installation.Installations.begin>` (the pending sign-in is stored)."""
        return await asyncio.to_thread(
            self.workspace.installations.begin,
            application,
            tenant=tenant,
            response_mode=response_mode,
            return_to=return_to,
            prompt=prompt,
        )

    async def complete_install(
        self, params: CallbackParams, *, actor: str = ASYNC_INSTALL_ACTOR
    ) -> InstallResult:
        """Finish an install from the callback's fields (``await request.form()`` for
        form_post, ``request.query_params`` for query). Errors as :meth:`Installations.complete
        <toolkit.installation.Installations.complete>`: nothing is stored but an audit event
        when any check fails. The code is redeemed on ``httpx.AsyncClient``; the flow's store
        and validation steps run in worker threads."""
        fields = params if isinstance(params, Mapping) else list(params)
        flow = self.workspace.installations.complete_flow(fields, actor=actor)
        http = self.http
        return await async_drive_token_flow(
            flow, lambda request, what: async_post_token_request(http, request, what)
        )

    # -- notifications -------------------------------------------------------------------------

    async def receive_state_change(
        self, body: bytes | str | dict[str, Any], *, application: str | None = None
    ) -> StateChangeResult:
        """Validate a state-change notification and confirm it with the state API (async),
        then record it: :meth:`TenantEvents.receive <toolkit.tenant_events.TenantEvents.receive>`
        with the same errors. ``application`` is the client id from the URL it arrived at
        (``/state-change/{client_id}``). Answer the sender 200 once this returns."""
        events = self.workspace.tenant_events
        notification = await asyncio.to_thread(events.validate, body, application=application)
        if await asyncio.to_thread(events.is_redelivery, notification):
            return await asyncio.to_thread(events.record, notification, None)
        client = self._status_client_over(events.state_client(notification.application))
        context_identifier = notification.message.context_identifier
        try:
            status = await client.status(context_identifier, refresh=True)
        except ToolkitError as exc:
            return await asyncio.to_thread(events.unconfirmed, notification, exc)
        return await asyncio.to_thread(events.record, notification, status)

    # -- tickets, state, REST ------------------------------------------------------------------

    async def ticket(
        self, application: str, context_identifier: str, *, transport: Transport | None = None
    ) -> SystemUserTicket:
        """A fresh system user ticket for ``application`` (name or id) in the tenant: memory,
        store, or one exchange shared with every sync and async caller."""
        app, context_identifier = await asyncio.to_thread(
            self._installed, application, context_identifier
        )
        return await self.tickets.ticket(app.id, context_identifier, transport=transport)

    def status_client(self, environment: Environment) -> AsyncTenantStatusClient:
        """The async state API client of ``environment`` (it shares the sync client's cache)."""
        return self._status_client_over(self.workspace.tenants.status_client(environment))

    async def status(
        self, application: str, context_identifier: str, *, refresh: bool = False
    ) -> TenantStatus:
        """The tenant's state in the environment ``application`` is registered in (cached until
        ``ValidUntil``, shared with the sync API; ``refresh`` asks anyway)."""
        context_identifier = check_context_identifier(context_identifier)
        app = await asyncio.to_thread(self.workspace.applications.get, application)
        return await self.status_client(environment_of(app)).status(
            context_identifier, refresh=refresh
        )

    async def system_user_api(self, application: str, context_identifier: str) -> AsyncWebApiClient:
        """The tenant's REST API as ``application``'s system user (``SOTicket`` +
        ``SO-AppToken``). Names and errors as :meth:`TenantAccess.system_user_api
        <toolkit.tenant.TenantAccess.system_user_api>`; calls are async."""
        app, context_identifier = await asyncio.to_thread(
            self._installed, application, context_identifier
        )
        credential = AsyncSystemUserCredential(
            self.tickets, app.id, context_identifier, app.client_secret.reveal()
        )
        tenants = self.workspace.tenants
        return AsyncWebApiClient(
            self.http,
            self.status_client(environment_of(app)),
            context_identifier,
            credential,
            retry=tenants._api_retry,
        )

    async def plan(
        self, application: str, context_identifier: str, manifest: Manifest | None = None
    ) -> Plan:
        """Plan provisioning ``application`` in the tenant against ``manifest`` (default: the
        stored one), reading the tenant through the async REST client: what
        :meth:`Provisioning.plan <toolkit.provisioning.service.Provisioning.plan>` returns, from
        the same planning code (run in one of this workspace's planning threads)."""
        api = await self.system_user_api(application, context_identifier)
        loop = asyncio.get_running_loop()
        bridge = cast(ProvisioningApi, LoopBridge(api, loop))
        provisioning = self.workspace.provisioning

        def make() -> Plan:
            app = self.workspace.applications.get(application)
            chosen = provisioning._manifest(app, manifest)
            return make_plan(
                bridge,
                self.repository,
                app,
                api.context_identifier,
                chosen,
                now=provisioning._now(),
                list_cache=provisioning.list_cache,
            )

        return await loop.run_in_executor(self._planning_threads(), make)

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the async client (if made here) and the workspace (if opened here)."""
        if self._closed:
            return
        self._closed = True
        try:
            with self._lock:
                pool, self._planning_pool = self._planning_pool, None
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            if self._owns_http:
                await self.http.aclose()
        finally:
            if self._owns_workspace:
                await asyncio.to_thread(self.workspace.close)

    async def __aenter__(self) -> AsyncWorkspace:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncWorkspace({self.workspace!r})"

    # -- internals -----------------------------------------------------------------------------

    def _installed(self, application: str, context_identifier: str) -> tuple[Application, str]:
        """The application and the tenant as stored, by the sync API's own checks (local
        pattern, name or id, installed and active) and its one-statement read; no network
        call."""
        app, authorization, _ = self.workspace.tenants._installation(
            application, context_identifier
        )
        return app, authorization.context_identifier

    def _planning_threads(self) -> ThreadPoolExecutor:
        # Plans wait in their own threads, never in the default pool: the tenant calls they
        # wait for use the default pool (store steps), which must stay free for them.
        with self._lock:
            if self._planning_pool is None:
                self._planning_pool = ThreadPoolExecutor(
                    PLANNING_THREADS, thread_name_prefix="sotk-async-plan"
                )
            return self._planning_pool

    def _status_client_over(self, cache: TenantStatusClient) -> AsyncTenantStatusClient:
        key = f"{cache.environment.name} {cache.environment.base_url}"
        with self._lock:
            client = self._status_clients.get(key)
            if client is None or client.cache is not cache:
                client = AsyncTenantStatusClient(self.http, cache)
                self._status_clients[key] = client
            return client
