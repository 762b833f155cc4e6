"""A partner's own FastAPI application with the toolkit inside (issue 16).

It mounts the toolkit's SuperOffice endpoints under ``/superoffice`` (install, callback,
installation and uninstall pages, state change, panel), opens the async API in its lifespan and
binds the endpoints there, and adds its own routes:

* on install (hook ``on_installed``) it provisions the tenant with ``manifest.toml`` as the
  application's system user;
* ``GET /tenants/{ctx}/lists`` calls the tenant's REST API through the async API;
* SuperOffice's state-change notifications arrive at ``/superoffice/state-change/{client_id}``
  and land, through hook ``on_state_change``, in ``GET /notifications``;
* a toolkit error answers with the status and the safe message its class carries.

Run it (after ``sotk app add`` or the emulator's registration, with ``SOTK_PUBLIC_URL`` the
URL this app is reached at and the redirect URI ``{SOTK_PUBLIC_URL}/superoffice/callback``)::

    SOTK_PARTNER_APP="Acme Sync" uvicorn --factory examples.partner_app.app:create_app

``tests/examples/test_partner_app.py`` runs it end to end against the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from toolkit import (
    AsyncWorkspace,
    PartnerPaths,
    Settings,
    ToolkitError,
    http_status_of,
    public_message_of,
)
from toolkit.web import EndpointError, Installed, StateChanged, SuperOfficeEndpoints

logger = logging.getLogger("partner_app")

MANIFEST = Path(__file__).with_name("manifest.toml")
PREFIX = "/superoffice"
# Who the audit trail names for this app's own provisioning.
ACTOR = "partner-app"


def create_app(settings: Settings | None = None, *, application: str | None = None) -> FastAPI:
    """The partner's app for ``application`` (default: ``SOTK_PARTNER_APP``); ``settings``
    default to the ``SOTK_*`` environment."""
    name = application or os.environ.get("SOTK_PARTNER_APP", "Acme Sync")
    notifications: list[dict[str, Any]] = []
    provisioned: dict[str, str] = {}

    async def on_installed(record: Installed) -> None:
        # Provision the new tenant as the system user (the sync API in a worker thread: the
        # event loop stays free). The install stands if this fails; the hook error is logged.
        aws: AsyncWorkspace = app.state.aws
        provisioning = aws.workspace.provisioning
        if provisioning.manifest_for(record.result.application.id) is None:
            await asyncio.to_thread(provisioning.set_manifest, name, MANIFEST, actor=ACTOR)
        run = await asyncio.to_thread(
            provisioning.apply, name, record.context_identifier, actor=ACTOR
        )
        provisioned[record.context_identifier] = run.outcome

    async def on_state_change(record: StateChanged) -> None:
        notifications.append(
            {
                "tenant": record.context_identifier,
                "change": record.change_type,
                "outcome": record.outcome,
            }
        )

    async def on_error(record: EndpointError) -> None:
        logger.info("%s answered %s: %s", record.endpoint, record.status, type(record.error))

    superoffice = SuperOfficeEndpoints(
        PartnerPaths(prefix=PREFIX),
        on_installed=on_installed,
        on_state_change=on_state_change,
        on_error=on_error,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with await AsyncWorkspace.open(settings) as aws:
            with superoffice.bound(aws.workspace):
                app.state.aws = aws
                yield

    app = FastAPI(title="Acme partner app", lifespan=lifespan)
    app.mount(superoffice.prefix, superoffice)

    @app.exception_handler(ToolkitError)
    async def toolkit_error(request: Request, error: Exception) -> JSONResponse:
        # Every toolkit error says which HTTP status fits and what a user may read.
        return JSONResponse({"error": public_message_of(error)}, http_status_of(error))

    @app.get("/")
    async def home() -> dict[str, Any]:
        aws: AsyncWorkspace = app.state.aws
        return {
            "install": aws.workspace.install_url(name),
            "state_change_url": aws.workspace.state_change_url(name),
        }

    @app.get("/tenants/{context_identifier}/lists")
    async def tenant_lists(context_identifier: str) -> dict[str, Any]:
        aws: AsyncWorkspace = app.state.aws
        api = await aws.system_user_api(name, context_identifier)
        lists = await api.lists()
        return {
            "tenant": api.context_identifier,
            "provisioning": provisioned.get(api.context_identifier),
            "lists": sorted(entry.name for entry in lists),
        }

    @app.get("/notifications")
    async def received() -> list[dict[str, Any]]:
        return notifications

    return app
