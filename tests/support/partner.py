"""The partner's side: a workspace on a fresh toolkit home, its partner endpoints on loopback,
and an application installed in a tenant the way an administrator does it (no browser: the
emulator's sign-in driver stands in for SuperID's pages).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # imported when a fixture runs: the unit tests' start-up stays light
    from starlette.testclient import TestClient

    from toolkit.web import PartnerEndpoints
    from toolkit.workspace import Workspace

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"


@contextmanager
def open_workspace_at(home: Path, *, offline: bool = False, **settings: Any) -> Iterator[Workspace]:
    """A workspace on ``home`` with these settings, no ``.env`` read, its own HTTP client;
    ``offline``: every call out answers 503 (a test that must be decided before any call)."""
    from toolkit.config import Settings
    from toolkit.http import create_client
    from toolkit.workspace import Workspace

    unreachable = httpx.MockTransport(lambda request: httpx.Response(503))
    with (
        httpx.Client(transport=unreachable) if offline else create_client() as http,
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
