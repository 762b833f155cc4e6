"""The partner's side: a workspace on a fresh toolkit home, its partner endpoints on loopback,
and an application installed in a tenant the way an administrator does it (no browser: the
emulator's sign-in driver stands in for SuperID's pages).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support.stores import migrated_home

if TYPE_CHECKING:  # imported when a fixture runs: the unit tests' start-up stays light
    from starlette.testclient import TestClient

    from toolkit.store import Application
    from toolkit.web import PartnerEndpoints
    from toolkit.workspace import Workspace

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"
SOD_CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
SOD_CLIENT_SECRET = "83d0f3bcb9afbc7eb9d0682e9b86db52"


@contextmanager
def open_workspace_at(
    home: Path,
    *,
    offline: bool = False,
    transport: httpx.BaseTransport | None = None,
    **settings: Any,
) -> Iterator[Workspace]:
    """A workspace on ``home`` with these settings, no ``.env`` read, its own HTTP client;
    ``offline``: every call out answers 503 (a test that must be decided before any call);
    ``transport``: what answers the calls out instead (a fake SuperOffice). The scheduled
    upkeep is off unless asked for: its runs fire on the wall clock (state refresh every 10
    minutes) and would add state API calls to a test that counts them, in some runs only."""
    from toolkit.config import Settings

    for schedule in ("upkeep_state_refresh", "upkeep_ticket_renewal", "upkeep_drift_check"):
        settings.setdefault(schedule, "")
    from toolkit.http import create_client
    from toolkit.workspace import Workspace

    if offline:
        transport = httpx.MockTransport(lambda request: httpx.Response(503))
    if not settings.get("database_url"):
        migrated_home(home)
    with (
        create_client() if transport is None else httpx.Client(transport=transport) as http,
        Workspace.open(Settings(home=home, _env_file=None, **settings), http=http) as ws,
    ):
        yield ws


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on an empty home under the test's folder."""
    with open_workspace_at(tmp_path / "home") as ws:
        yield ws


@pytest.fixture
def endpoints(workspace: Workspace) -> Iterator[PartnerEndpoints]:
    """The partner endpoints on a free loopback port."""
    from toolkit.web import PartnerEndpoints

    with PartnerEndpoints(workspace, port=0) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """A browser on the partner's pages, as httpx: following redirects is the test's to do."""
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def register_sod_application(ws: Workspace, name: str = "Acme Sync") -> Application:
    """An application of SuperOffice Online (SOD), with fixed credentials, in ``ws``'s store."""
    return ws.applications.register(
        name=name,
        environment="sod",
        client_id=SOD_CLIENT_ID,
        client_secret=SOD_CLIENT_SECRET,
        redirect_uri="https://partner.example/callback",
        actor="test",
    )


def authorized_sod_application(
    ws: Workspace, tenant: str, name: str = "Acme Sync", system_user_token: str = "secret-sut"
) -> Application:
    """``register_sod_application`` with an active authorization in ``tenant`` written straight
    to the store, issued now: for tests of what comes after the install, not of the install."""
    app = register_sod_application(ws, name)
    ws.repository.put_authorization(
        app.id, tenant, token_issued_at=datetime.now(UTC), system_user_token=system_user_token
    )
    return app


@contextmanager
def app_client(workspace: Workspace) -> Iterator[TestClient]:
    """The partner endpoints' app in process, its errors answered as pages (not raised)."""
    from toolkit.web import create_app

    with warnings.catch_warnings():
        # Starlette's TestClient on httpx is deprecated in favour of a package we do not install.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with TestClient(create_app(workspace), raise_server_exceptions=False) as client:
        yield client


def install_as_administrator(
    endpoints: PartnerEndpoints, app: str, tenant: str = TENANT, username: str = ADMIN
) -> httpx.Response:
    """The administrator's install: /install → SuperID (approved) → the partner's callback."""
    from toolkit.emulator.driver import sign_in

    with httpx.Client(timeout=10) as browser:
        start = browser.get(f"{endpoints.base_url}/install", params={"app": app, "tenant": tenant})
        assert start.status_code == 303, start.text
        result = sign_in(start.headers["location"], username=username)
        assert result.form_action is not None
        return browser.post(result.form_action, data=result.params)


def provision_internal_app(
    emulator_url: str,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    app: str,
    *,
    tenant: str = TENANT,
    username: str = ADMIN,
) -> None:
    """An internal application registered at the emulator, installed by the administrator
    (as in notebook 02) and provisioned with the internal preset, its URLs on ``endpoints``
    (``{public_url}`` in manifests is where these endpoints really listen)."""
    workspace.provisioning.public_url = endpoints.base_url
    workspace.applications.register_with_emulator(
        name=app,
        emulator_url=emulator_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        model="internal",
        actor="test",
    )
    install_as_administrator(endpoints, app, tenant, username)
    workspace.provisioning.set_manifest(app, 'preset = "internal"\n', actor="test")
    run = workspace.provisioning.apply(app, tenant, actor="test")
    assert run.outcome == "succeeded"
