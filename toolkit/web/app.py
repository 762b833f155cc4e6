"""The partner's own endpoints as a Starlette application: ``create_app(workspace)``.

Routes: ``GET /install``, ``GET|POST /callback``, ``GET|POST /installation`` (+ ``/status``),
``GET|POST /uninstall``, ``POST /state-change``, ``GET|POST /panel``,
``GET|POST /panel/{app}``, ``GET|POST /panel/logout``, ``GET /healthz``, ``GET /`` (what
these endpoints are, each application's URLs). Every response carries
``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer`` (HTML pages also
``X-Frame-Options: DENY`` and a restrictive CSP, see :mod:`toolkit.web.middleware`; the panel's
pages may be framed by SuperOffice); wrong methods get 405, unknown paths 404, both as plain
pages (JSON on ``/state-change``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.installation_pages import INSTALLATION_PATH, UNINSTALL_PATH
from toolkit.web.health import health_endpoint
from toolkit.web.install import InstallEndpoints
from toolkit.web.installation import STATUS_PATH, InstallationEndpoints
from toolkit.web.landing import LANDING_PATH, landing_endpoint
from toolkit.web.middleware import ProtectMiddleware
from toolkit.web.pages import error_page
from toolkit.web.panel import LOGOUT_PATH, PanelEndpoints
from toolkit.web.state_change import state_change_endpoint

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = [
    "CALLBACK_PATH",
    "HEALTH_PATH",
    "INSTALLATION_PATH",
    "INSTALL_PATH",
    "LOGOUT_PATH",
    "PANEL_PATH",
    "STATE_CHANGE_PATH",
    "UNINSTALL_PATH",
    "create_app",
]

INSTALL_PATH = "/install"
CALLBACK_PATH = "/callback"
HEALTH_PATH = "/healthz"
STATE_CHANGE_PATH = "/state-change"
PANEL_PATH = "/panel"

_TITLES = {404: "Not found", 405: "Method not allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    path = request.url.path
    # The machine endpoints (/state-change and /state-change/{client_id}): JSON, like their answers.
    if path == STATE_CHANGE_PATH or path.startswith(f"{STATE_CHANGE_PATH}/"):
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


def create_app(workspace: Workspace) -> Starlette:
    """The partner endpoints for ``workspace`` (which stays the caller's to close)."""
    panel = PanelEndpoints(workspace)
    installation = InstallationEndpoints(workspace)
    install = InstallEndpoints(workspace, user_callback=panel.complete, installation=installation)
    state_change = state_change_endpoint(workspace)
    return Starlette(
        routes=[
            Route(INSTALL_PATH, install.install, methods=["GET"]),
            Route(CALLBACK_PATH, install.callback, methods=["GET", "POST"]),
            # The administrator's installation pages and the uninstall page (App Store URL).
            Route(INSTALLATION_PATH, installation.installation, methods=["GET"]),
            Route(INSTALLATION_PATH, installation.start, methods=["POST"]),
            Route(STATUS_PATH, installation.status, methods=["GET"]),
            Route(UNINSTALL_PATH, installation.uninstall, methods=["GET"]),
            Route(UNINSTALL_PATH, installation.start, methods=["POST"]),
            # One state-change URL per application (/state-change/{client_id}); the bare URL
            # serves a deployment with exactly one application.
            Route(STATE_CHANGE_PATH, state_change, methods=["POST"]),
            Route(f"{STATE_CHANGE_PATH}/{{application}}", state_change, methods=["POST"]),
            Route(PANEL_PATH, panel.panel, methods=["GET", "POST"]),
            Route(LOGOUT_PATH, panel.logout, methods=["GET", "POST"]),
            # The short per-application path provisioned web panels open (/panel/{app}).
            Route(f"{PANEL_PATH}/{{app}}", panel.panel, methods=["GET", "POST"]),
            Route(HEALTH_PATH, health_endpoint(workspace), methods=["GET"]),
            # What these endpoints are and each application's URLs (no secrets).
            Route(LANDING_PATH, landing_endpoint(workspace), methods=["GET"]),
        ],
        middleware=[Middleware(ProtectMiddleware)],
        exception_handlers={HTTPException: _http_error},
    )
