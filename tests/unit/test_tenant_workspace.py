"""TenantAccess: the workspace's tenant services (state clients, tickets, API clients)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from toolkit.auth.tickets import TicketManager
from toolkit.config import Environment, Settings
from toolkit.errors import NotFoundError
from toolkit.tenant import SystemUserCredential, TenantAccess, WebApiClient
from toolkit.workspace import Workspace

CTX = "Cust12345"
SECRET = "83d0f3bcb9afbc7eb9d0682e9b86db52"


def open_workspace(home: Path, transport: httpx.MockTransport) -> Workspace:
    settings = Settings(home=home, _env_file=None)  # type: ignore[call-arg]
    return Workspace.open(settings, http=httpx.Client(transport=transport))


def test_the_workspace_offers_tenant_access(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "ContextIdentifier": CTX,
                "Endpoint": f"https://sod2.superoffice.com/{CTX}",
                "State": "Running",
                "IsRunning": True,
                "ValidUntil": "2999-01-01T00:00:00.0000000Z",
                "Api": f"https://sod2.superoffice.com/{CTX}/api",
            },
        )

    with open_workspace(tmp_path / "home", httpx.MockTransport(handler)) as ws:
        assert isinstance(ws.tenants, TenantAccess)
        ws.applications.register(
            name="Acme Sync",
            environment="sod",
            client_id="6cf25376616343b38d14ddcd804f2891",
            client_secret=SECRET,
            redirect_uri="https://partner.example/callback",
            actor="test",
        )
        api = ws.tenants.system_user_api("Acme Sync", CTX)
        assert isinstance(api, WebApiClient)
        assert isinstance(api.credential, SystemUserCredential)
        assert SECRET not in repr(api)
        assert isinstance(ws.tenants.tickets, TicketManager)
        assert ws.tenants.tickets is ws.tenants.tickets
        # One state client per environment: its cache is shared by every client there.
        sod = Environment.named("sod")
        assert ws.tenants.status_client(sod) is api.status
        assert ws.tenants.status("Acme Sync", CTX).api == f"https://sod2.superoffice.com/{CTX}/api"
        ws.tenants.status("Acme Sync", CTX)
        assert [str(r.url) for r in seen] == [f"https://sod.superoffice.com/api/state/{CTX}"]
        assert ws.tenants.status_client(Environment.named("online")) is not api.status
        with pytest.raises(NotFoundError):
            ws.tenants.system_user_api("No Such App", CTX)
