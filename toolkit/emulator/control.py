"""The control plane under /__emulator__/: JSON endpoints that set the world up for a test.

Kept apart from the emulated API; nothing here exists at SuperOffice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.emulator.errors import BadRequestError, WorldError
from toolkit.emulator.faults import Faults, rule_from_json
from toolkit.emulator.lifecycle import apply_change, set_state
from toolkit.emulator.registry import activate_app, register_app, set_state_change_url
from toolkit.emulator.signing import KeyRing
from toolkit.emulator.tenant_state import state_document
from toolkit.emulator.webhooks import Webhooks
from toolkit.emulator.wire import json_body
from toolkit.emulator.world import Quirks, World, tenant_from_json, user_from_json

CONTROL_ROOT = "/__emulator__"
_APP_FIELDS = {
    "name",
    "redirect_urls",
    "kind",
    "grant_system_token",
    "vendor",
    "consent_text",
    "post_logout_urls",
    "state_change_url",
    "tenant",
    "public_key",  # the public half of the partner's own key: RSAKeyValue XML or PEM
}

Handler = Callable[[Request], Awaitable[Response]]
# /tenants/{ctx}/{action}: the state-change actions (protocol §6) by URL word.
TENANT_ACTIONS = {
    "upgrade": "Upgrade",
    "backup-restored": "BackupRestored",
    "suspend": "Suspend",
    "resume": "Resume",
    "delete": "Delete",
    "move": "Move",
}
MAX_WEBHOOK_WAIT = 30.0


def control_error(error: str, detail: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status)


def _json_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequestError as exc:  # WorldError included
            return control_error(exc.error, exc.detail, exc.status)

    return wrapped


def _timestamp(value: Any) -> float:
    """Epoch seconds or an ISO 8601 time with offset."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise WorldError("invalid_clock", f"{value!r} is not an ISO 8601 time") from exc
        if parsed.tzinfo is None:
            raise WorldError("invalid_clock", "the time needs a UTC offset")
        return parsed.timestamp()
    raise WorldError("invalid_clock", "frozen_at must be epoch seconds, ISO 8601 or null")


def _seconds(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WorldError("invalid_clock", f"{field} must be a number of seconds")
    return float(value)


class ControlPlane:
    def __init__(
        self,
        world: World,
        keys: KeyRing,
        seed: Callable[[], dict[str, Any]],
        persist: Callable[[], None],
        *,
        webhooks: Webhooks | None = None,
        faults: Faults | None = None,
        login_url: Callable[[], str] | None = None,
    ) -> None:
        self.world = world
        self.keys = keys
        self.seed = seed
        self.persist = persist  # saves the state file (signing keys live outside the world)
        self.webhooks = webhooks or Webhooks(world, keys)
        self.faults = faults or Faults()
        self.login_url = login_url

    def routes(self) -> list[Route]:
        r = CONTROL_ROOT
        table: list[tuple[str, Handler, list[str]]] = [
            (f"{r}/reset", self.reset, ["POST"]),
            (f"{r}/seed", self.load_seed, ["POST"]),
            (f"{r}/state", self.state, ["GET"]),
            (f"{r}/apps", self.apps, ["GET", "POST"]),
            (f"{r}/apps/{{client_id}}", self.app_settings, ["GET", "PATCH"]),
            (f"{r}/apps/{{client_id}}/activate", self.activate, ["POST"]),
            (f"{r}/tenants", self.tenants, ["GET", "POST"]),
            (f"{r}/users", self.users, ["GET", "POST"]),
            (f"{r}/authorizations", self.authorizations, ["GET"]),
            (f"{r}/authorizations/{{client_id}}/{{ctx}}/revoke", self.revoke, ["POST"]),
            (
                f"{r}/authorizations/{{client_id}}/{{ctx}}/needs-reapproval",
                self.needs_reapproval,
                ["POST"],
            ),
            (f"{r}/credentials", self.credentials, ["GET"]),
            (f"{r}/tickets/expire", self.expire_tickets, ["POST"]),
            (f"{r}/clock", self.clock, ["GET", "POST"]),
            (f"{r}/keys", self.key_list, ["GET"]),
            (f"{r}/keys/rotate", self.rotate, ["POST"]),
            (f"{r}/keys/retire", self.retire, ["POST"]),
            (f"{r}/quirks", self.quirks, ["GET", "POST"]),
            (f"{r}/hosts", self.hosts, ["GET"]),
            (f"{r}/tenants/{{ctx}}", self.tenant, ["GET"]),
            (f"{r}/tenants/{{ctx}}/state", self.tenant_state, ["POST"]),
            (f"{r}/tenants/{{ctx}}/{{action}}", self.tenant_action, ["POST"]),
            (f"{r}/webhooks", self.webhook_log, ["GET", "DELETE"]),
            (f"{r}/faults", self.fault_rules, ["GET", "POST", "DELETE"]),
        ]
        return [Route(path, _json_errors(h), methods=m) for path, h, m in table]

    async def reset(self, request: Request) -> Response:
        self.world.load_json(self.seed())
        self.world.clock.reset()
        self.webhooks.clear()
        self.faults.clear()
        return JSONResponse({"ok": True})

    async def hosts(self, request: Request) -> Response:
        login = self.login_url() if self.login_url is not None else None
        return JSONResponse({"login": login, "hosts": dict(self.world.host_urls)})

    async def tenant(self, request: Request) -> Response:
        ctx = request.path_params["ctx"]
        tenant = self.world.find_tenant(ctx)
        if tenant is None:
            raise WorldError("not_found", f"no tenant {ctx}", 404)
        return JSONResponse({**asdict(tenant), "state_api": state_document(self.world, ctx)})

    async def tenant_state(self, request: Request) -> Response:
        """Set a tenant's State directly (no webhook): body {"state": "Suspended"}."""
        body = await json_body(request)
        if set(body) != {"state"}:
            raise WorldError("invalid_request", 'send {"state": "<State name>"}')
        tenant = set_state(self.world, request.path_params["ctx"], body["state"])
        return JSONResponse(asdict(tenant))

    async def tenant_action(self, request: Request) -> Response:
        """upgrade | backup-restored | suspend | resume | delete | move, with webhooks."""
        action = request.path_params["action"]
        change = TENANT_ACTIONS.get(action)
        if change is None:
            raise WorldError("not_found", f"no tenant action {action}", 404)
        body = await json_body(request)
        unknown = set(body) - {"host", "version", "duration", "notify"}
        if unknown:
            raise WorldError("invalid_request", f"unknown fields: {', '.join(sorted(unknown))}")
        result = apply_change(self.world, self.webhooks, request.path_params["ctx"], change, **body)
        return JSONResponse(result)

    async def webhook_log(self, request: Request) -> Response:
        """Every delivery with its status code or error; `?wait=seconds` first waits until
        none is pending. DELETE forgets them."""
        if request.method == "DELETE":
            self.webhooks.clear()
            return JSONResponse({"ok": True})
        wait = request.query_params.get("wait")
        if wait is not None:
            try:
                seconds = min(float(wait), MAX_WEBHOOK_WAIT)
            except ValueError as exc:
                raise WorldError("invalid_request", "wait must be seconds") from exc
            await asyncio.to_thread(self.webhooks.wait, max(0.0, seconds))
        return JSONResponse({"deliveries": self.webhooks.list()})

    async def fault_rules(self, request: Request) -> Response:
        """POST {"rules": [...], "seed": n} replaces the rule set; DELETE clears it."""
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            body = await json_body(request)
            if set(body) - {"rules", "seed"} or not isinstance(body.get("rules"), list):
                raise WorldError("invalid_fault", 'send {"rules": [...], "seed": <int|null>}')
            seed = body.get("seed")
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                raise WorldError("invalid_fault", "seed must be an integer or null")
            self.faults.set([rule_from_json(r) for r in body["rules"]], seed)
        return JSONResponse(self.faults.describe())

    async def load_seed(self, request: Request) -> Response:
        self.world.load_json(await json_body(request))
        return JSONResponse({"ok": True})

    async def state(self, request: Request) -> Response:
        return JSONResponse(self.world.to_json())

    async def apps(self, request: Request) -> Response:
        if request.method == "GET":
            with self.world.lock:
                listed = [a.public_view() for a in self.world.apps.values()]
            return JSONResponse({"apps": listed})
        body = await json_body(request)
        unknown = set(body) - _APP_FIELDS
        if unknown:
            raise WorldError("invalid_app", f"unknown fields: {', '.join(sorted(unknown))}")
        if "name" not in body or "redirect_urls" not in body:
            raise WorldError("invalid_app", "name and redirect_urls are required")
        return JSONResponse(register_app(self.world, **body), 201)

    async def app_settings(self, request: Request) -> Response:
        """GET one app (never its secret); PATCH {"state_change_url": URL | null} changes its
        "Customer state change" setting."""
        client_id = request.path_params["client_id"]
        if request.method == "PATCH":
            body = await json_body(request)
            if set(body) != {"state_change_url"}:
                raise WorldError("invalid_app", 'send {"state_change_url": "<URL>" | null}')
            return JSONResponse(
                set_state_change_url(self.world, client_id, body["state_change_url"])
            )
        app = self.world.find_app(client_id)
        if app is None:
            raise WorldError("not_found", f"no app {client_id}", 404)
        return JSONResponse(app.public_view())

    async def activate(self, request: Request) -> Response:
        body = await json_body(request)
        auth = activate_app(
            self.world,
            request.path_params["client_id"],
            body.get("tenant", ""),
            body.get("approved_by", ""),
        )
        return JSONResponse(asdict(auth))

    async def tenants(self, request: Request) -> Response:
        if request.method == "POST":
            tenant = self.world.add_tenant(tenant_from_json(await json_body(request)))
            return JSONResponse(asdict(tenant), 201)
        with self.world.lock:
            return JSONResponse({"tenants": [asdict(t) for t in self.world.tenants.values()]})

    async def users(self, request: Request) -> Response:
        if request.method == "POST":
            user = self.world.add_user(user_from_json(await json_body(request)))
            view = asdict(user)
            del view["password"]
            return JSONResponse(view, 201)
        with self.world.lock:
            listed = [asdict(u) for u in self.world.users.values()]
        for view in listed:
            del view["password"]
        return JSONResponse({"users": listed})

    async def authorizations(self, request: Request) -> Response:
        with self.world.lock:
            listed = [asdict(a) for a in self.world.authorizations.values()]
        return JSONResponse({"authorizations": listed})

    async def revoke(self, request: Request) -> Response:
        auth = self.world.revoke_authorization(
            request.path_params["client_id"], request.path_params["ctx"]
        )
        return JSONResponse(asdict(auth))

    async def needs_reapproval(self, request: Request) -> Response:
        auth = self.world.flag_needs_reapproval(
            request.path_params["client_id"], request.path_params["ctx"]
        )
        return JSONResponse(asdict(auth))

    async def credentials(self, request: Request) -> Response:
        """Credentials records written by system user exchanges, counted per app x tenant."""
        counts = self.world.credentials_counts()
        listed = [
            {"client_id": client_id, "ctx": ctx, "count": count}
            for (client_id, ctx), count in sorted(counts.items())
        ]
        return JSONResponse({"credentials": listed, "total": sum(counts.values())})

    async def expire_tickets(self, request: Request) -> Response:
        """Force-expire the system user tickets of one app x tenant (body: client_id, ctx)."""
        body = await json_body(request)
        client_id, ctx = body.get("client_id"), body.get("ctx")
        if set(body) - {"client_id", "ctx"} or not isinstance(client_id, str):
            raise WorldError("invalid_request", "send client_id and ctx")
        if not isinstance(ctx, str) or not ctx:
            raise WorldError("invalid_request", "send client_id and ctx")
        if self.world.find_app(client_id) is None:
            raise WorldError("not_found", f"no app {client_id}", 404)
        if self.world.find_tenant(ctx) is None:
            raise WorldError("not_found", f"no tenant {ctx}", 404)
        return JSONResponse({"expired": self.world.expire_tickets(client_id, ctx)})

    async def clock(self, request: Request) -> Response:
        clock = self.world.clock
        if request.method == "POST":
            body = await json_body(request)
            unknown = set(body) - {"offset", "frozen_at", "advance"}
            if unknown or not body:
                raise WorldError("invalid_clock", "send offset, frozen_at and/or advance")
            if "offset" in body:
                clock.set_offset(_seconds(body["offset"], "offset"))
            if "frozen_at" in body:
                frozen = body["frozen_at"]
                clock.freeze(None if frozen is None else _timestamp(frozen))
            if "advance" in body:
                clock.advance(_seconds(body["advance"], "advance"))
        return JSONResponse(clock.describe())

    async def key_list(self, request: Request) -> Response:
        return JSONResponse({"current": self.keys.current.kid, **self.keys.jwks()})

    async def rotate(self, request: Request) -> Response:
        key = self.keys.rotate()
        self.persist()
        return JSONResponse({"current": key.kid, **self.keys.jwks()})

    async def retire(self, request: Request) -> Response:
        retired = self.keys.retire()
        self.persist()
        return JSONResponse({"current": self.keys.current.kid, "retired": retired})

    async def quirks(self, request: Request) -> Response:
        if request.method == "POST":
            body = await json_body(request)
            known = {quirk.name for quirk in fields(Quirks)}
            if set(body) - known:
                raise WorldError("invalid_quirks", f"known quirks: {', '.join(sorted(known))}")
            for name, value in body.items():
                if not isinstance(value, bool):
                    raise WorldError("invalid_quirks", f"{name} must be true or false")
            with self.world.changing():
                for name, value in body.items():
                    setattr(self.world.quirks, name, value)
        return JSONResponse(asdict(self.world.quirks))
