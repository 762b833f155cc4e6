"""The partner endpoints' HTTP surface: methods, content types, sizes, headers, error pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from support.partner import app_client, open_workspace_at, register_sod_application

from toolkit.errors import StoreError
from toolkit.web import PartnerEndpoints
from toolkit.web.install import MAX_CALLBACK_BODY
from toolkit.workspace import Workspace

if TYPE_CHECKING:
    from starlette.testclient import TestClient

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    # SuperID unreachable: these tests never get that far.
    with open_workspace_at(tmp_path / "home", offline=True) as ws:
        register_sod_application(ws)
        yield ws


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    with app_client(workspace) as test_client:
        yield test_client


def assert_safe_headers(response: httpx.Response, html: bool = True) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    if html:
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert_safe_headers(response, html=False)


def test_healthz_reports_a_broken_database(
    client: TestClient, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise StoreError("database is gone")

    monkeypatch.setattr(workspace, "check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert "gone" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/install"), ("PUT", "/callback"), ("DELETE", "/callback"), ("POST", "/healthz")],
)
def test_wrong_methods_are_405(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert "allow" in response.headers
    assert_safe_headers(response)


def test_unknown_path_is_a_404_page(client: TestClient) -> None:
    response = client.get("/admin")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert_safe_headers(response)


def test_unknown_app_is_a_404_page(client: TestClient) -> None:
    response = client.get("/install", params={"app": "<script>nobody</script>"})
    assert response.status_code == 404
    assert "<script>" not in response.text
    assert "not registered" in response.text
    assert_safe_headers(response)


def test_install_needs_one_app(client: TestClient) -> None:
    assert client.get("/install").status_code == 400
    assert client.get("/install?app=a&app=b").status_code == 400
    assert client.get("/install", params={"app": "Acme Sync", "tenant": "x/y"}).status_code == 400


def test_install_with_superid_down_is_502(client: TestClient) -> None:
    response = client.get("/install", params={"app": "Acme Sync"})
    assert response.status_code == 502
    assert "SuperID" in response.text
    assert_safe_headers(response)


def test_callback_refuses_other_content_types(client: TestClient) -> None:
    json_type = {"content-type": "application/json"}
    response = client.post("/callback", content=b'{"state":"x","code":"y"}', headers=json_type)
    assert response.status_code == 415
    response = client.post("/callback", files={"state": ("s", b"x")})
    assert response.status_code == 415
    assert_safe_headers(response)


def test_callback_refuses_large_bodies(client: TestClient) -> None:
    body = b"state=x&code=" + b"a" * MAX_CALLBACK_BODY
    response = client.post("/callback", content=body, headers={"content-type": FORM})
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(20):
            yield b"a" * 1024

    response = client.post("/callback", content=chunks(), headers={"content-type": FORM})
    assert response.status_code == 413
    assert_safe_headers(response)


@pytest.mark.parametrize(
    "body",
    [
        "state=unknown&code=qzx-forged-code",
        "code=qzx-forged-code",
        "state=a&state=b&code=c",
        "state=s&code=c&error=access_denied",
    ],
)
def test_bad_callbacks_are_error_pages(client: TestClient, workspace: Workspace, body: str) -> None:
    response = client.post(
        "/callback", content=body.encode(), headers={"content-type": f"{FORM}; charset=utf-8"}
    )
    assert response.status_code == 400
    assert "qzx-forged-code" not in response.text
    assert "Traceback" not in response.text
    assert workspace.repository.list_authorizations() == []
    assert_safe_headers(response)


def test_query_callback_with_error_for_unknown_state(client: TestClient) -> None:
    response = client.get("/callback", params={"state": "nope", "error": "access_denied"})
    assert response.status_code == 400
    assert "unknown, expired or used" in response.text


def test_unexpected_errors_are_a_plain_500(
    client: TestClient,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: object, **kwargs: object) -> str:
        raise RuntimeError("secret-ish internal detail")

    monkeypatch.setattr(workspace.installations, "begin", explode)
    response = client.get("/install", params={"app": "Acme Sync"})
    assert response.status_code == 500
    assert "internal detail" not in response.text
    assert "Traceback" not in response.text
    request_id = response.headers["x-request-id"]
    assert request_id in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert_safe_headers(response)


@pytest.mark.server
def test_partner_endpoints_run_in_a_thread(workspace: Workspace) -> None:
    with PartnerEndpoints(workspace, port=0) as endpoints:
        assert endpoints.base_url.startswith("http://127.0.0.1:")
        response = httpx.get(f"{endpoints.base_url}/healthz", timeout=10)
        assert response.status_code == 200
        assert_safe_headers(response, html=False)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{endpoints.base_url}/healthz", timeout=2)
