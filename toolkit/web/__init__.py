"""The partner's own endpoints (Starlette): ``/install``, ``/callback``, ``/state-change``,
``/panel``, ``/healthz``.

``create_app(workspace)`` builds the ASGI application; ``PartnerEndpoints(workspace, port=0)``
runs it in a thread (a context manager with ``.base_url``); ``serve(workspace, host, port)``
runs it in the foreground.
"""

from toolkit.web.app import create_app
from toolkit.web.server import PartnerEndpoints, serve

__all__ = ["PartnerEndpoints", "create_app", "serve"]
