"""The partner's own endpoints (Starlette): ``/install``, ``/callback``, ``/installation``,
``/uninstall``, ``/state-change``, ``/panel``, ``/healthz``.

``SuperOfficeEndpoints(paths, on_installed=..., ...)`` is the mountable ASGI app a partner's own
Starlette or FastAPI application mounts under any prefix and binds to a workspace in its
lifespan (:mod:`toolkit.web.integration`; the hooks' records are :mod:`toolkit.web.hooks`'s).
``create_app(workspace)`` builds it at the root, bound at once; ``PartnerEndpoints(workspace,
port=0)`` runs that in a thread (a context manager with ``.base_url``); ``serve(workspace, host,
port)`` runs it in the foreground.
"""

from toolkit.web.app import create_app
from toolkit.web.hooks import EndpointError, Installed, StateChanged, Uninstalled
from toolkit.web.integration import SuperOfficeEndpoints
from toolkit.web.server import PartnerEndpoints, serve

__all__ = [
    "EndpointError",
    "Installed",
    "PartnerEndpoints",
    "StateChanged",
    "SuperOfficeEndpoints",
    "Uninstalled",
    "create_app",
    "serve",
]
