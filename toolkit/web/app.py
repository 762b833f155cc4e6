"""The partner's own endpoints as a Starlette application: ``create_app(workspace)``.

Routes: ``GET /install``, ``GET|POST /callback``, ``GET|POST /installation`` (+ ``/status``),
``GET|POST /uninstall``, ``POST /state-change``, ``GET|POST /panel``,
``GET|POST /panel/{app}``, ``GET|POST /panel/logout``, ``GET /healthz``, ``GET /`` (what
these endpoints are, each application's URLs). Every response carries
``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer`` (HTML pages also
``X-Frame-Options: DENY`` and a restrictive CSP, see :mod:`toolkit.web.middleware`; the panel's
pages may be framed by SuperOffice); wrong methods get 405, unknown paths 404, both as plain
pages (JSON on ``/state-change``).

It is :class:`~toolkit.web.integration.SuperOfficeEndpoints` at the root paths, bound to the
workspace at once; a partner's own app mounts that class under a prefix instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import Mount

from toolkit.installation_pages import INSTALLATION_PATH, UNINSTALL_PATH
from toolkit.partner_paths import DEFAULT_PARTNER_PATHS, PartnerPaths
from toolkit.web.integration import SuperOfficeEndpoints
from toolkit.web.panel import LOGOUT_PATH

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

INSTALL_PATH = DEFAULT_PARTNER_PATHS.install
CALLBACK_PATH = DEFAULT_PARTNER_PATHS.callback
HEALTH_PATH = DEFAULT_PARTNER_PATHS.health
STATE_CHANGE_PATH = DEFAULT_PARTNER_PATHS.state_change
PANEL_PATH = DEFAULT_PARTNER_PATHS.panel


def create_app(workspace: Workspace) -> Starlette:
    """The partner endpoints for ``workspace`` (which stays the caller's to close), at the
    root paths with the landing page ``GET /``; under ``SOTK_PARTNER_PREFIX`` when that is set
    (the landing page then at the prefix)."""
    paths = PartnerPaths(prefix=workspace.settings.partner_prefix)
    endpoints = SuperOfficeEndpoints(paths, landing=True)
    endpoints.bind(workspace)
    if not paths.prefix:
        return endpoints.app
    return Starlette(routes=[Mount(paths.prefix, app=endpoints)])
