"""The `Emulator`: one uvicorn server on loopback with one listener for the login host
(`sod.superoffice.com` equivalent: SuperID, PartnerSystemUser, the state API) and one per
tenant host (`sod2`, `sod3` equivalents: the tenants' web services), all in one thread; the
control plane answers on every listener. See `routing` for what each host serves."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolkit.emulator.control import ControlPlane, control_error
from toolkit.emulator.errors import WorldError
from toolkit.emulator.faults import CONTROL_PREFIX, FaultMiddleware, Faults, rule_from_json
from toolkit.emulator.landing import landing_route
from toolkit.emulator.lifecycle import apply_change, set_state
from toolkit.emulator.not_emulated import not_emulated_response
from toolkit.emulator.registry import activate_app, register_app
from toolkit.emulator.routing import LOGIN_HOST, HostRouter, HostTagger
from toolkit.emulator.seed import default_world
from toolkit.emulator.signing import KeyRing
from toolkit.emulator.soap import SoapFault, fault_response
from toolkit.emulator.superid import (
    LOGIN_ROOT,
    REVOKE_PATH,
    TOKEN_PATH,
    SuperId,
    error_page_response,
    oauth_error,
)
from toolkit.emulator.system_user import PATH_RULES as SYSTEM_USER_PATHS
from toolkit.emulator.system_user import REST_PATH as SYSTEM_USER_REST_PATH
from toolkit.emulator.system_user import SOAP_PATH as SYSTEM_USER_SOAP_PATH
from toolkit.emulator.system_user import PartnerSystemUser, rest_answer
from toolkit.emulator.tenant_api import PATH_RULES as TENANT_PATHS
from toolkit.emulator.tenant_api import TenantApi, error_body
from toolkit.emulator.tenant_lists import TenantLists
from toolkit.emulator.tenant_state import STATE_PATH, state_document
from toolkit.emulator.webhooks import Webhooks
from toolkit.emulator.world import DEFAULT_HOSTS, Authorization, Tenant, World
from toolkit.serving import ServerThread, listen, uvicorn_server

logger = logging.getLogger("toolkit.emulator")

STATE_FORMAT_VERSION = 1
# Requests still running at stop (a stall, a slow webhook) are cancelled after this long.
GRACEFUL_SHUTDOWN = 1
# The state API path, matched case-insensitively like SuperOffice's other paths [I].
STATE_PATHS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/api/state/(?P<ctx>[^/]+)/?", re.IGNORECASE), "/api/state/{ctx}"),
]


_TENANT_PATH = re.compile(r"/cust[0-9]+/", re.IGNORECASE)


def _error_response(path: str, status: int, error: str, message: str) -> Response:
    """An error in the style of the endpoint family: OAuth JSON, PartnerSystemUser JSON,
    a SOAP Fault, SuperOffice's REST error body, control JSON or a page."""
    if path in (TOKEN_PATH, REVOKE_PATH):
        return oauth_error(error, message, status)
    if path == SYSTEM_USER_REST_PATH:
        return rest_answer(None, f"InvalidRequest: {message}", status)
    if path == SYSTEM_USER_SOAP_PATH or path.lower().endswith(".svc"):
        return fault_response(SoapFault(message, client=status < 500, status=status))
    if _TENANT_PATH.match(path):
        # SoNotFoundException is the documented 404 type (protocol §5); others are [I].
        error_type = "SoNotFoundException" if status == 404 else "SoException"
        return JSONResponse(error_body(error_type, message), status)
    if path.startswith(LOGIN_ROOT + "/") or path == LOGIN_ROOT:
        return error_page_response(message, status)
    return control_error(error, message, status)


class _Guard:
    """Turns any unhandled exception into a plain 500 with a request id, never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = uuid.uuid4().hex
            logger.exception("unhandled error in request %s", request_id)
            if started:
                return
            response = _error_response(
                scope.get("path", ""),
                500,
                "server_error",
                f"Technical error. Request ID: {request_id}",
            )
            await response(scope, receive, send)


class _CanonicalPaths:
    """Routes SuperOffice paths case-insensitively: a path matching one of `rules` (regex
    fullmatch, named groups kept as given) is rewritten to its canonical spelling."""

    def __init__(self, app: ASGIApp, rules: list[tuple[re.Pattern[str], str]]) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            for pattern, canonical in self.rules:
                match = pattern.fullmatch(path)
                if match is not None:
                    scope = dict(scope)
                    scope["path"] = canonical.format(**match.groupdict())
                    break
        await self.app(scope, receive, send)


def _fault_response(path: str, status: int, message: str) -> Response:
    error = {429: "too_many_requests", 500: "server_error"}.get(status, "temporarily_unavailable")
    return _error_response(path, status, error, message)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    path = request.url.path
    if exc.status_code == 404 and not path.startswith(CONTROL_PREFIX):
        # No route matched: a path this emulator does not implement, never a SuperOffice 404
        # (those come from handlers, for missing records). The control plane keeps its 404s.
        return not_emulated_response(request.method, path)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = _error_response(request.url.path, exc.status_code, error, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


class Emulator:
    """Local SuperOffice Online. `with Emulator() as emu:` or `start()`/`stop()`, or `serve()`."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        seed: str | os.PathLike[str] | None = None,
        state_file: str | os.PathLike[str] | None = None,
        tenant_hosts: tuple[str, ...] = DEFAULT_HOSTS,
    ) -> None:
        """`port` is the login host's (0 = a free port); each tenant host in `tenant_hosts`
        (default `sod2`, `sod3`) gets a free port of its own on the same `host`."""
        self.host = host
        self._requested_port = port
        names = tuple(tenant_hosts)
        if not names or len(set(names)) != len(names) or LOGIN_HOST in names:
            raise ValueError(f"tenant_hosts must be distinct names other than {LOGIN_HOST!r}")
        if not all(re.fullmatch(r"[a-z][a-z0-9-]*", n) for n in names):
            raise ValueError("tenant host names are lower-case sub-domain names, e.g. sod2")
        self.tenant_hosts = names
        self._seed_path = Path(seed) if seed is not None else None
        self._state_file = Path(state_file) if state_file is not None else None
        self._seed_data = self._read_seed()
        self.world = World(hosts=names)
        self.keys = self._load()
        self._save_lock = threading.Lock()
        if self._state_file is not None:
            self.world.on_change = self._save
        # Notification tokens are SuperID tokens: the login host's issuer, the JWKS keys.
        self.webhooks = Webhooks(self.world, self.keys, issuer=lambda: self.base_url)
        self.faults = Faults()
        self._socket: socket.socket | None = None
        self._sockets: dict[str, socket.socket] = {}
        self._port: int | None = None
        self._runner: ServerThread | None = None

    # -- world & persistence ------------------------------------------------------------------

    def _read_seed(self) -> dict[str, Any]:
        if self._seed_path is None:
            return default_world()
        data = json.loads(self._seed_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise WorldError("invalid_world", "the world must be a JSON object")
        World(hosts=self.tenant_hosts).load_json(data)  # validate now, not on the first reset
        return data

    def _seed(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._seed_data))  # type: ignore[no-any-return]

    def _load(self) -> KeyRing:
        if self._state_file is not None and self._state_file.exists():
            saved = json.loads(self._state_file.read_text(encoding="utf-8"))
            if not isinstance(saved, dict) or saved.get("version") != STATE_FORMAT_VERSION:
                raise WorldError("invalid_state", f"{self._state_file} is not an emulator state")
            self.world.load_json(saved.get("world"))
            return KeyRing.from_json(saved.get("signing_keys") or [])
        self.world.load_json(self._seed())
        return KeyRing()

    def _save(self) -> None:
        if self._state_file is None:
            return
        with self._save_lock:
            state = {
                "version": STATE_FORMAT_VERSION,
                "world": self.world.to_json(),
                "signing_keys": self.keys.to_json(),
            }
            directory = self._state_file.parent
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".emulator-state-")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, indent=2)
            os.replace(tmp, self._state_file)

    # -- app registration ---------------------------------------------------------------------

    def register_app(
        self,
        name: str,
        redirect_urls: list[str],
        *,
        kind: str = "standard",
        grant_system_token: bool = True,
        vendor: str = "",
        consent_text: str = "",
        post_logout_urls: list[str] | None = None,
        state_change_url: str | None = None,
        tenant: str | None = None,
        public_key: str | None = None,
    ) -> dict[str, Any]:
        return register_app(
            self.world,
            name=name,
            redirect_urls=redirect_urls,
            kind=kind,
            grant_system_token=grant_system_token,
            vendor=vendor,
            consent_text=consent_text,
            post_logout_urls=post_logout_urls,
            state_change_url=state_change_url,
            tenant=tenant,
            public_key=public_key,
        )

    def activate_app(self, client_id: str, tenant: str, approved_by: str) -> Authorization:
        return activate_app(self.world, client_id, tenant, approved_by)

    # -- serving ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The issuer: scheme, host and port, no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def host_urls(self) -> dict[str, str]:
        """Tenant host name -> base URL, e.g. {"sod2": "http://127.0.0.1:P2", "sod3": ...}."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return dict(self.world.host_urls)

    def _url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def _bind(self) -> None:
        sockets: dict[str, socket.socket] = {}
        try:
            sockets[LOGIN_HOST] = listen(self.host, self._requested_port)
            for name in self.tenant_hosts:
                sockets[name] = listen(self.host, 0)
        except OSError:
            for sock in sockets.values():
                sock.close()
            raise
        self._sockets = sockets
        self._socket = sockets[LOGIN_HOST]
        self._port = int(self._socket.getsockname()[1])
        self.world.host_urls = {
            name: self._url(int(sockets[name].getsockname()[1])) for name in self.tenant_hosts
        }

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets, self._socket = {}, None

    async def _state_api(self, request: Request) -> Response:
        # Protocol §6; no authentication. Unknown tenants: see tenant_state.
        return JSONResponse(state_document(self.world, request.path_params["ctx"]))

    def _app(self) -> ASGIApp:
        superid = SuperId(self.world, self.keys, self.base_url)
        system_user = PartnerSystemUser(self.world, self.keys, self.base_url)
        tenant_api = TenantApi(self.world)
        tenant_lists = TenantLists(self.world, tenant_api)
        control = ControlPlane(
            self.world,
            self.keys,
            self._seed,
            self._save,
            webhooks=self.webhooks,
            faults=self.faults,
            login_url=lambda: self.base_url,
        )
        app = Starlette(
            routes=[
                landing_route(self.world, self.base_url),  # "/": the emulator's own page
                *superid.routes(),
                *system_user.routes(),
                *control.routes(),
                Route(STATE_PATH, self._state_api, methods=["GET"]),
                *tenant_api.routes(),
                *tenant_lists.routes(),
            ],
            middleware=[
                # Canonical paths first, so the guard's error style sees the canonical path.
                Middleware(
                    _CanonicalPaths, rules=[*SYSTEM_USER_PATHS, *TENANT_PATHS, *STATE_PATHS]
                ),
                Middleware(_Guard),
            ],
            exception_handlers={HTTPException: _http_error},
        )
        ports = {int(s.getsockname()[1]): name for name, s in self._sockets.items()}
        # Outside in: which host; never a traceback; faults; what this host serves.
        routed = HostRouter(app, self.world)
        faulty = FaultMiddleware(routed, self.faults, _fault_response)
        return HostTagger(_Guard(faulty), ports)

    def _uvicorn(self) -> Any:
        return uvicorn_server(self._app(), timeout_graceful_shutdown=GRACEFUL_SHUTDOWN)

    def start(self) -> Emulator:
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        self._bind()
        self.faults.stopping.clear()
        self._runner = ServerThread(
            self._uvicorn(), list(self._sockets.values()), name=f"sotk-emulator-{self.port}"
        )
        try:
            self._runner.start()
        except RuntimeError:
            self.stop()
            raise RuntimeError("the emulator did not start") from None
        return self

    def stop(self) -> None:
        self.faults.stopping.set()  # stalled requests let go
        if self._runner is not None:
            self._runner.stop()
        self._close_sockets()
        self._runner = None
        self.webhooks.shutdown()
        self._save()

    def serve(self) -> None:
        """Serve until interrupted (Ctrl-C / SIGTERM); for `sotk emulator serve`."""
        self._bind()
        self.faults.stopping.clear()
        try:
            self._uvicorn().run(sockets=list(self._sockets.values()))
        finally:
            self._close_sockets()
            self.webhooks.shutdown()
            self._save()

    # -- tenants: hosts, states, state-change webhooks ----------------------------------------

    def tenant_url(self, ctx: str) -> str:
        """`{current tenant host URL}/{ctx}` (what the state API calls `Endpoint`)."""
        tenant = self._tenant(ctx)
        url = self.world.tenant_url(tenant)
        if url is None:
            raise RuntimeError("the emulator is not started")
        return url

    def _tenant(self, ctx: str) -> Tenant:
        tenant = self.world.find_tenant(ctx)
        if tenant is None:
            raise WorldError("not_found", f"no tenant {ctx}", 404)
        return tenant

    def move_tenant(self, ctx: str, host: str, *, notify: bool = True) -> dict[str, Any]:
        """Move a tenant to another tenant host (Move webhook unless notify=False)."""
        return apply_change(self.world, self.webhooks, ctx, "Move", host=host, notify=notify)

    def change_tenant(
        self,
        ctx: str,
        change: str,
        *,
        version: str | None = None,
        duration: float = 0,
        notify: bool = True,
    ) -> dict[str, Any]:
        """Upgrade | BackupRestored | Suspend | Resume | Delete, with the webhook (see
        `lifecycle`); Move has `move_tenant`."""
        return apply_change(
            self.world,
            self.webhooks,
            ctx,
            change,
            version=version,
            duration=duration,
            notify=notify,
        )

    def set_tenant_state(self, ctx: str, state: str) -> None:
        """Set the state API's State directly; sends no webhook."""
        set_state(self.world, ctx, state)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self.webhooks.list()

    def wait_for_webhooks(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until no delivery is pending (or timeout), then list them all."""
        self.webhooks.wait(timeout)
        return self.webhooks.list()

    def set_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        """Replace the fault rules (see `faults` for the fields)."""
        self.faults.set([rule_from_json(r) for r in rules], seed)

    def clear_faults(self) -> None:
        self.faults.clear()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
