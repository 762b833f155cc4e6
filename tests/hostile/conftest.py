"""Hostile-input suites: a workspace with the partner endpoints (the Hypothesis profile is the
suite-wide one, in ``tests/conftest.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hostile_support import APP, CLIENT_ID, CTX

from toolkit.config import Settings
from toolkit.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def offline(request: httpx.Request) -> httpx.Response:
    """Nothing outside is reachable: hostile input must be refused before any call out."""
    return httpx.Response(503)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home = tmp_path_factory.mktemp("hostile") / "home"
    options: dict[str, Any] = {"home": home, "_env_file": None}
    with (
        httpx.Client(transport=httpx.MockTransport(offline)) as http,
        Workspace.open(Settings(**options), http=http) as ws,
    ):
        app = ws.applications.register(
            name=APP,
            environment="sod",
            client_id=CLIENT_ID,
            client_secret="83d0f3bcb9afbc7eb9d0682e9b86db52",
            redirect_uri="https://partner.example/callback",
            actor="test",
        )
        ws.repository.put_authorization(
            app.id, CTX, token_issued_at=datetime.now(UTC), system_user_token="secret-sut"
        )
        yield ws


@pytest.fixture(scope="module")
def client(workspace: Workspace) -> Iterator[TestClient]:
    from toolkit.web import create_app

    with TestClient(create_app(workspace), raise_server_exceptions=False) as test_client:
        yield test_client
