"""Which listener a request came in on, and what each host serves (protocol §1).

- The login host (`sod.superoffice.com` equivalent, `Emulator.base_url`) serves SuperID,
  PartnerSystemUser, the state API and the control plane. Tenant paths there answer 421.
- Each tenant host (`sod2`, `sod3` equivalents, `Emulator.host_urls`) serves the tenants that
  currently live on it, under `/{ctx}/api/...` and `/{ctx}/Remote/...`, plus the control plane.
  A tenant asked for on another host answers **421 Misdirected Request** with "Wrong subdomain
  used to access tenant" (protocol §1); anything else there is 404. A path no module serves
  answers 501 `X-Emulator: not-emulated` (`not_emulated`), never a SuperOffice-style 404.
- A tenant that is not running (IsRunning false, protocol §6) refuses its web services with
  **503** and SuperOffice's error body (ErrorType `SoTenantNotRunningException` [I]), with
  `Retry-After` while an Upgrade's OfflineMaintenance has a known end [I]. An unknown tenant is
  404 `SoNotFoundException` on every host, 421 nowhere (it lives on no host).
"""

from __future__ import annotations

import math
import re

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from toolkit.emulator.faults import CONTROL_PREFIX, HOST_SCOPE_KEY
from toolkit.emulator.soap import SoapFault, fault_response
from toolkit.emulator.tenant_state import current_state, is_running
from toolkit.emulator.world import World

LOGIN_HOST = "sod"
WRONG_SUBDOMAIN = "Wrong subdomain used to access tenant"  # protocol §1 [C]
MISDIRECTED_ERROR_TYPE = "SoMisdirectedRequestException"  # type name undocumented [I]
NOT_RUNNING_ERROR_TYPE = "SoTenantNotRunningException"  # [I]
NOT_FOUND_ERROR_TYPE = "SoNotFoundException"  # protocol §5
ERROR_SOURCE = "SuperOffice.WebApi"
_TENANT_PATH = re.compile(r"/(?P<ctx>cust[0-9]+)(?P<rest>/.*)?", re.IGNORECASE)


def rest_error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "Error": True,
            "ErrorType": error_type,
            "ErrorMessage": message,
            "ErrorSource": ERROR_SOURCE,
        },
        status,
    )


def _tenant_error(rest: str, status: int, error_type: str, message: str) -> Response:
    if rest.lower().startswith("/remote/"):
        return fault_response(SoapFault(message, client=status < 500, status=status))
    return rest_error(status, error_type, message)


class HostTagger:
    """Puts the listener's host name into the scope, by the local port of the connection."""

    def __init__(self, app: ASGIApp, ports: dict[int, str]) -> None:
        self.app = app
        self.ports = ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server") or ("", 0)
            scope[HOST_SCOPE_KEY] = self.ports.get(int(server[1] or 0), LOGIN_HOST)
        await self.app(scope, receive, send)


class HostRouter:
    def __init__(self, app: ASGIApp, world: World) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        response = self.refusal(scope.get(HOST_SCOPE_KEY, LOGIN_HOST), path)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def refusal(self, host: str, path: str) -> Response | None:
        match = _TENANT_PATH.fullmatch(path)
        if match is None:
            if host == LOGIN_HOST:
                return None
            # Numbered hosts are for API data access only (protocol §1).
            return rest_error(404, NOT_FOUND_ERROR_TYPE, f"{path} is not served on this host")
        ctx, rest = match.group("ctx"), match.group("rest") or ""
        tenant = self.world.find_tenant(ctx)
        if tenant is None:
            # A missing record, on every host: SuperOffice's 404 (not the emulator's 501 for a
            # path it does not emulate, see not_emulated).
            return _tenant_error(rest, 404, NOT_FOUND_ERROR_TYPE, f"Unknown tenant {ctx}")
        if host != tenant.host:
            return _tenant_error(rest, 421, MISDIRECTED_ERROR_TYPE, WRONG_SUBDOMAIN)
        state = current_state(self.world, tenant)
        if is_running(state):
            return None
        response = _tenant_error(
            rest,
            503,
            NOT_RUNNING_ERROR_TYPE,
            f"Tenant {tenant.ctx} is not running (State: {state})",
        )
        until = tenant.maintenance_until
        if until is not None:
            wait = max(1, math.ceil(until - self.world.now()))
            response.headers["Retry-After"] = str(wait)
        return response
