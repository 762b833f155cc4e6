"""The partner endpoints as a mountable ASGI app: made without a Workspace, bound in a lifespan.

A partner's own Starlette or FastAPI application mounts :class:`SuperOfficeEndpoints` under
any prefix and binds it to a :class:`~toolkit.Workspace` when the application starts::

    from contextlib import asynccontextmanager
    from fastapi import FastAPI
    from toolkit import Workspace
    from toolkit.partner_paths import PartnerPaths
    from toolkit.web.integration import SuperOfficeEndpoints

    async def installed(record):                 # toolkit.web.hooks.Installed
        print("installed in", record.context_identifier)

    superoffice = SuperOfficeEndpoints(PartnerPaths(prefix="/superoffice"), on_installed=installed)

    @asynccontextmanager
    async def lifespan(app):
        with Workspace.open() as ws, superoffice.bound(ws):
            yield

    app = FastAPI(lifespan=lifespan)
    app.mount(superoffice.prefix, superoffice)

The paths of every endpoint are :class:`~toolkit.partner_paths.PartnerPaths`'s; binding hands
them to the workspace, so the URLs it generates (install link, redirect URI, state-change URL,
panel and installation page links, sign-in return paths, the panel cookie's path) carry the
prefix. Requests before the bind (or after the lifespan ends) get 503; a mount at another
prefix than the paths say is refused with 500 and a log line naming both, since every link
handed out would be wrong. ``toolkit.web.create_app(ws)`` is this app at the root, bound at
once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from toolkit.errors import ConfigurationError
from toolkit.partner_paths import DEFAULT_PARTNER_PATHS, PartnerPaths
from toolkit.web.health import health_endpoint
from toolkit.web.hooks import EndpointError, Hook, Hooks, Installed, StateChanged, Uninstalled
from toolkit.web.install import InstallEndpoints
from toolkit.web.installation import InstallationEndpoints
from toolkit.web.landing import landing_endpoint
from toolkit.web.middleware import ProtectMiddleware
from toolkit.web.pages import error_page
from toolkit.web.panel import PanelEndpoints
from toolkit.web.state_change import state_change_endpoint

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["SuperOfficeEndpoints"]

logger = logging.getLogger("toolkit.web")

_TITLES = {404: "Not found", 405: "Method not allowed"}


class SuperOfficeEndpoints:
    """The partner endpoints (install, callback, installation and uninstall pages, state
    change, panel, health) as one ASGI app; see the module docstring.

    ``paths`` says where they are (prefix and each path); the hooks are
    :mod:`toolkit.web.hooks`'s. ``landing`` adds ``GET /`` (what these endpoints are) below
    the prefix: on for the stand-alone server, off by default in a partner's app, whose root
    is its own.
    """

    def __init__(
        self,
        paths: PartnerPaths = DEFAULT_PARTNER_PATHS,
        *,
        on_installed: Hook[Installed] | None = None,
        on_state_change: Hook[StateChanged] | None = None,
        on_uninstalled: Hook[Uninstalled] | None = None,
        on_error: Hook[EndpointError] | None = None,
        landing: bool = False,
    ) -> None:
        self.paths = paths
        self.hooks = Hooks(
            on_installed=on_installed,
            on_state_change=on_state_change,
            on_uninstalled=on_uninstalled,
            on_error=on_error,
        )
        self._landing = landing
        self._workspace: Workspace | None = None
        self._app: Starlette | None = None

    @property
    def app(self) -> Starlette:
        """The bound routes (a Starlette app at the paths below the prefix)."""
        if self._app is None:
            raise ConfigurationError("the SuperOffice endpoints are not bound to a workspace")
        return self._app

    @property
    def prefix(self) -> str:
        """The mount prefix (``""`` at the root)."""
        return self.paths.prefix

    @property
    def workspace(self) -> Workspace:
        """The bound workspace; :class:`~toolkit.errors.ConfigurationError` before the bind."""
        if self._workspace is None:
            raise ConfigurationError("the SuperOffice endpoints are not bound to a workspace")
        return self._workspace

    # -- binding -------------------------------------------------------------------------------

    def bind(self, workspace: Workspace) -> None:
        """Serve with ``workspace`` (which stays the caller's to close) from now on; its URLs
        follow this app's paths. Call it in the app's lifespan (or use :meth:`bound`)."""
        if self._workspace is not None and self._workspace is not workspace:
            raise ConfigurationError("the SuperOffice endpoints are bound to another workspace")
        configured = workspace.settings.partner_prefix
        if configured and configured != self.prefix:
            # The CLI, the dashboard and `sotk doctor` hand out URLs with the configured prefix.
            raise ConfigurationError(
                f"SOTK_PARTNER_PREFIX is {configured!r} but these endpoints are mounted with "
                f"prefix {self.prefix!r}: make them the same"
            )
        workspace.use_paths(self.paths)
        try:
            self.hooks.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.hooks.loop = None  # bound outside a loop (create_app): set on the first request
        if self.hooks.run_finished not in workspace.installation_pages.finished_listeners:
            workspace.installation_pages.finished_listeners.append(self.hooks.run_finished)
        self._app = self._build(workspace)
        self._workspace = workspace

    def unbind(self) -> None:
        """Stop serving (requests get 503 again); the workspace is left open."""
        workspace, self._workspace, self._app = self._workspace, None, None
        if workspace is not None:
            listeners = workspace.installation_pages.finished_listeners
            if self.hooks.run_finished in listeners:
                listeners.remove(self.hooks.run_finished)

    @contextmanager
    def bound(self, workspace: Workspace) -> Iterator[Workspace]:
        """``with endpoints.bound(ws):`` in a lifespan: bound inside, unbound after."""
        self.bind(workspace)
        try:
            yield workspace
        finally:
            self.unbind()

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # mounted: the partner's app runs the lifespan
            return
        app = self._app
        if app is None:
            response: Response = _unavailable()
            await ProtectMiddleware(response)(scope, receive, send)
            return
        root_path = str(scope.get("root_path", ""))
        if not root_path.endswith(self.prefix) or (
            self.prefix == "" and scope.get("app_root_path", root_path) != root_path
        ):
            logger.error(
                "the SuperOffice endpoints are mounted at %r but their paths say prefix %r: "
                "every URL they hand out would be wrong",
                root_path,
                self.prefix,
            )
            wrong = error_page("Technical error", "These endpoints are misconfigured.", 500, None)
            await ProtectMiddleware(wrong)(scope, receive, send)
            return
        if self.hooks.loop is None:
            self.hooks.loop = asyncio.get_running_loop()
        await app(scope, receive, send)

    # -- the routes ----------------------------------------------------------------------------

    def _build(self, workspace: Workspace) -> Starlette:
        paths, hooks = self.paths, self.hooks
        panel = PanelEndpoints(workspace)
        installation = InstallationEndpoints(workspace)
        install = InstallEndpoints(
            workspace, user_callback=panel.complete, installation=installation, hooks=hooks
        )
        state_change = state_change_endpoint(workspace, hooks=hooks)
        routes = [
            Route(paths.install, install.install, methods=["GET"]),
            Route(paths.callback, install.callback, methods=["GET", "POST"]),
            # The administrator's installation pages and the uninstall page (App Store URL).
            Route(paths.installation, installation.installation, methods=["GET"]),
            Route(paths.installation, installation.start_apply, methods=["POST"]),
            Route(paths.installation_status, installation.status, methods=["GET"]),
            Route(paths.uninstall, installation.uninstall, methods=["GET"]),
            Route(paths.uninstall, installation.start_uninstall, methods=["POST"]),
            # One state-change URL per application (/state-change/{client_id}); the bare URL
            # serves a deployment with exactly one application.
            Route(paths.state_change, state_change, methods=["POST"]),
            Route(f"{paths.state_change}/{{application}}", state_change, methods=["POST"]),
            Route(paths.panel, panel.panel, methods=["GET", "POST"]),
            Route(paths.panel_logout, panel.logout, methods=["GET", "POST"]),
            # The short per-application path provisioned web panels open (/panel/{app}).
            Route(f"{paths.panel}/{{app}}", panel.panel, methods=["GET", "POST"]),
            Route(paths.health, health_endpoint(workspace), methods=["GET"]),
        ]
        if self._landing:
            # What these endpoints are and each application's URLs (no secrets).
            routes.append(Route("/", landing_endpoint(workspace), methods=["GET"]))
        return Starlette(
            routes=routes,
            middleware=[Middleware(ProtectMiddleware)],
            exception_handlers={HTTPException: self._http_error},
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):  # registered for HTTPException only
            raise exc
        # The path below the mount: the machine endpoints answer JSON, like their answers.
        below = request.url.path[len(str(request.scope.get("root_path", ""))) :]
        state_change = self.paths.state_change
        if below == state_change or below.startswith(f"{state_change}/"):
            json_response = JSONResponse(
                {"error": {405: "method_not_allowed"}.get(exc.status_code, "refused")},
                status_code=exc.status_code,
            )
            if exc.headers:
                json_response.headers.update(exc.headers)
            return json_response
        title = _TITLES.get(exc.status_code, "Request refused")
        message = {
            404: "There is nothing at this address.",
            405: "This address does not accept that method.",
        }.get(exc.status_code, "The request cannot be served.")
        response = error_page(
            title, message, exc.status_code, getattr(request.state, "request_id", None)
        )
        if exc.headers:
            response.headers.update(exc.headers)  # Allow: for 405
        return response


def _unavailable() -> Response:
    logger.warning("a request reached the SuperOffice endpoints before they were bound")
    return error_page(
        "Not ready", "These endpoints are starting or stopping. Try again shortly.", 503, None
    )
