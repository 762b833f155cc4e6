"""``GET /`` on the partner endpoints (issue 15): what they are, ``/healthz``, and each
application's install, state-change, panel and uninstall URLs; never a secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.partner import app_client, open_workspace_at

from toolkit.errors import StoreError
from toolkit.workspace import Workspace

if TYPE_CHECKING:
    from starlette.testclient import TestClient

PUBLIC_URL = "https://partner.example"
CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
CLIENT_SECRET = "83d0f3bcb9afbc7eb9d0682e9b86db52"


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    # The page calls nobody.
    with open_workspace_at(tmp_path / "home", offline=True, public_url=PUBLIC_URL) as ws:
        yield ws


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    with app_client(workspace) as test_client:
        yield test_client


def _definitions(html: str) -> dict[str, str]:
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html, re.S)
    return {
        unescape(re.sub(r"<[^>]+>", "", k)): unescape(re.sub(r"<[^>]+>", "", v)) for k, v in pairs
    }


def test_root_says_what_the_endpoints_are_before_any_application(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    html = response.text
    assert "<h1>SuperOffice partner endpoints</h1>" in html
    endpoints = _definitions(html)
    assert endpoints["/healthz"].startswith("health check")
    assert "/install?app=NAME[&tenant=CustNNNNN]" in endpoints
    assert 'id="no-applications"' in html


def test_root_lists_each_applications_urls_and_no_secret(
    client: TestClient, workspace: Workspace
) -> None:
    app = workspace.applications.register(
        name="Acme Sync",
        environment="sod",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=f"{PUBLIC_URL}/callback",
        actor="test",
    )
    html = client.get("/").text
    section = re.search(r'<section data-application="Acme Sync">(.*?)</section>', html, re.S)
    assert section is not None
    urls = _definitions(section.group(1))
    assert urls["Install link (for a customer's administrator)"] == (
        f"{PUBLIC_URL}/install?app=Acme+Sync"
    )
    assert urls['"Customer state change" URL (Developer Portal)'] == (
        f"{PUBLIC_URL}/state-change/{CLIENT_ID}"
    )
    assert urls["Web panel URL"] == f"{PUBLIC_URL}/panel/{app.id}?uctx=<uctx>"
    assert urls["Uninstall page"] == f"{PUBLIC_URL}/uninstall?app=Acme+Sync"
    assert CLIENT_SECRET not in html


def test_root_without_a_readable_store_still_answers(
    client: TestClient, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> list[object]:
        raise StoreError("database is gone")

    monkeypatch.setattr(workspace.applications, "list", broken)
    response = client.get("/")
    assert response.status_code == 200
    assert 'id="applications-unavailable"' in response.text
    assert "gone" not in response.text
    assert client.post("/").status_code == 405
