"""A partner's own Flask application with the toolkit inside: the path for WSGI apps (Flask,
Django), on the sync API.

A WSGI app has no event loop and no lifespan, so it uses the sync :class:`toolkit.Workspace`,
opened once per process when the app is made (it is thread-safe: one per worker process,
shared by its threads) and closed at exit. Each handler is a few lines around one toolkit call;
the protocol's rules (PKCE, state, nonce, token validation, the state API's confirmation of a
notification) all live in the toolkit:

* ``GET /install?tenant=CustNNNNN``: 303 to SuperID (``installations.begin``);
* ``POST /callback``: SuperID's form_post answer (``installations.complete``);
* ``POST /state-change/<client_id>``: SuperOffice's notification (``tenant_events.receive``);
* ``GET /tenants/<ctx>/lists``: the tenant's REST API as the system user.

A toolkit error answers with the HTTP status and the user-safe message its class carries
(``toolkit.http_status_of``, ``toolkit.public_message_of``). Django does the same in its views
with the Workspace opened in ``AppConfig.ready()``. Run it::

    SOTK_PARTNER_APP="Acme Sync" flask --app "examples.flask_app.app:create_app()" run

(the redirect URI to register is ``{SOTK_PUBLIC_URL}/callback``; ``Workspace.callback_url()``
says it). ``tests/examples/test_flask_app.py`` runs it against the emulator.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from flask import Flask, Response, jsonify, redirect, request

from toolkit import (
    Settings,
    ToolkitError,
    Workspace,
    http_status_of,
    public_message_of,
)


def create_app(
    settings: Settings | None = None,
    *,
    application: str | None = None,
    workspace: Workspace | None = None,
) -> Flask:
    """The Flask app for ``application`` (default: ``SOTK_PARTNER_APP``). It opens a Workspace
    from ``settings`` (default: the ``SOTK_*`` environment) and closes it at exit, unless the
    caller hands in ``workspace`` (which stays the caller's)."""
    name = application or os.environ.get("SOTK_PARTNER_APP", "Acme Sync")
    if workspace is None:
        workspace = Workspace.open(settings)
        atexit.register(workspace.close)
    ws = workspace
    app = Flask(__name__)
    app.extensions["superoffice"] = ws

    @app.errorhandler(ToolkitError)
    def toolkit_error(error: ToolkitError) -> tuple[Response, int]:
        return jsonify(error=public_message_of(error)), http_status_of(error)

    @app.get("/install")
    def install() -> Any:
        url = ws.installations.begin(name, tenant=request.args.get("tenant"))
        return redirect(url, code=303)

    @app.post("/callback")
    def callback() -> Any:
        result = ws.installations.complete(list(request.form.items(multi=True)))
        record = result.authorization
        return jsonify(tenant=record.context_identifier, outcome=result.outcome.value)

    @app.post("/state-change/<client_id>")
    def state_change(client_id: str) -> Any:
        result = ws.tenant_events.receive(request.get_data(), application=client_id)
        return jsonify(status="ok", outcome=result.outcome.value)

    @app.get("/tenants/<context_identifier>/lists")
    def tenant_lists(context_identifier: str) -> Any:
        api = ws.tenants.system_user_api(name, context_identifier)
        return jsonify(sorted(entry.name for entry in api.lists()))

    return app
