"""TenantAccess: the workspace's tenant services (state clients, tickets, API clients)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from support.partner import SOD_CLIENT_SECRET, open_workspace_at, register_sod_application

from toolkit.auth.tickets import TicketManager
from toolkit.config import Environment
from toolkit.errors import (
    InvalidContextIdentifierError,
    NotInstalledError,
    UnknownApplicationError,
)
from toolkit.tenant import SystemUserCredential, TenantAccess, WebApiClient

CTX = "Cust12345"
SECRET = SOD_CLIENT_SECRET


def running(_request: httpx.Request) -> httpx.Response:
    """The state API's answer: the tenant is running until far ahead."""
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


def test_the_workspace_offers_tenant_access(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return running(request)

    with open_workspace_at(tmp_path / "home", transport=httpx.MockTransport(handler)) as ws:
        assert isinstance(ws.tenants, TenantAccess)
        register_sod_application(ws, "Acme Sync")
        # Not installed yet: refused before any call (issue 16 item 3).
        with pytest.raises(NotInstalledError) as caught:
            ws.tenants.system_user_api("Acme Sync", CTX)
        assert (caught.value.application, caught.value.context_identifier) == ("Acme Sync", CTX)
        assert caught.value.authorization_status is None
        ws.repository.put_authorization(
            "Acme Sync", CTX, token_issued_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
        api = ws.tenants.system_user_api("Acme Sync", CTX.lower())  # any case
        assert api.context_identifier == CTX
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
        with pytest.raises(UnknownApplicationError):
            ws.tenants.system_user_api("No Such App", CTX)
        assert seen == seen[:1]  # a malformed tenant never reaches the state API
        for bad in ("not-a-ctx", "../x", "Cust12345/../x", ""):
            with pytest.raises(InvalidContextIdentifierError):
                ws.tenants.status("Acme Sync", bad)
            with pytest.raises(InvalidContextIdentifierError):
                ws.tenants.system_user_api("Acme Sync", bad)
        assert len(seen) == 1


def test_a_system_user_client_is_built_from_one_store_statement(tmp_path: Path) -> None:
    """Issue 14: the application and its authorization are read together (2 statements with
    SQLite's BEGIN, were 5 in 2 transactions); a state check reads the application once; a
    record that is not active is still refused with the resolver's own error."""
    with open_workspace_at(tmp_path / "home", transport=httpx.MockTransport(running)) as ws:
        app = register_sod_application(ws, "Acme Sync")
        ws.repository.put_authorization(
            "Acme Sync", CTX, token_issued_at=datetime(2026, 1, 1, tzinfo=UTC)
        )
        sent: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        event.listen(ws.repository.engine, "before_cursor_execute", seen)
        try:
            for named in ("Acme Sync", app.id):
                sent.clear()
                api = ws.tenants.system_user_api(named, CTX.lower())
                assert (api.context_identifier, len(sent)) == (CTX, 2)
                assert api.credential.application == app.id  # type: ignore[attr-defined]
        finally:
            event.remove(ws.repository.engine, "before_cursor_execute", seen)
        # A state check reads the application's environment from the store once (by the
        # name or the id it was given); a state answer cached until ValidUntil: no statement.
        sent.clear()
        event.listen(ws.repository.engine, "before_cursor_execute", seen)
        try:
            with pytest.raises(UnknownApplicationError):
                ws.tenants.status("No Such App", CTX)
            with pytest.raises(UnknownApplicationError):  # not remembered: read again
                ws.tenants.status("No Such App", CTX)
            unknown = len(sent)
            assert ws.tenants.status("Acme Sync", CTX).is_running
            first = len(sent)
            assert ws.tenants.status("Acme Sync", CTX).is_running
        finally:
            event.remove(ws.repository.engine, "before_cursor_execute", seen)
        assert unknown == 4
        assert first - unknown == 2
        assert len(sent) == first
        ws.repository.set_authorization_status("Acme Sync", CTX, "revoked", actor="test")
        with pytest.raises(NotInstalledError) as caught:
            ws.tenants.system_user_api("Acme Sync", CTX)
        assert caught.value.authorization_status == "revoked"
        assert "its authorization is revoked" in str(caught.value)
