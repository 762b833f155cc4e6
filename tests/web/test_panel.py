"""/panel: the normal user context's pages, sessions, CSRF and options (SuperOffice faked)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support.pages import greeting
from support.partner import open_workspace_at, register_sod_application

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from toolkit.store import Application
from toolkit.user_context import SESSION_TTL, UserSignIn, session_cookie_name
from toolkit.web import create_app
from toolkit.workspace import Workspace

APP = "Acme Sync"
CTX = "Cust12345"
SOD = "https://sod.superoffice.com"
API = "https://sod2.superoffice.com/Cust12345/api"
PRINCIPALS = {
    "8A:Cust12345.nora": {"AssociateId": 6, "Associate": "NU", "FullName": "Nora User"},
    "8A:Cust12345.anna": {"AssociateId": 5, "Associate": "AA", "FullName": "Anna Admin"},
    "8A:Cust12345.renewed": {"AssociateId": 6, "Associate": "NU", "FullName": "Nora User"},
}


class SuperOffice:
    """SuperID discovery + token endpoint, the state API and currentPrincipal, for sod."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.refresh_works = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url).split("?", 1)[0]
        if url == f"{SOD}/login/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": SOD,
                    "authorization_endpoint": f"{SOD}/login/common/oauth/authorize",
                    "token_endpoint": f"{SOD}/login/common/oauth/tokens",
                    "jwks_uri": f"{SOD}/login/.well-known/jwks",
                    "response_modes_supported": ["form_post", "fragment", "query"],
                },
            )
        if url == f"{SOD}/api/state/{CTX}":
            return httpx.Response(
                200,
                json={
                    "ContextIdentifier": CTX,
                    "Endpoint": "https://sod2.superoffice.com/Cust12345",
                    "State": "Running",
                    "IsRunning": True,
                    "ValidUntil": "2099-01-01T00:00:00.0000000Z",
                    "Api": API,
                },
            )
        if url == f"{API}/v1/User/currentPrincipal":
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            principal = PRINCIPALS.get(token)
            if principal is None:
                return httpx.Response(401, json={"Error": True, "ErrorType": "Unauthorized"})
            return httpx.Response(200, json=principal)
        if url == f"{SOD}/login/common/oauth/tokens":
            self.refreshes += 1
            if not self.refresh_works:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(
                200,
                json={
                    "access_token": "8A:Cust12345.renewed",
                    "token_type": "bearer",
                    "expires_in": 3600,
                },
            )
        return httpx.Response(404)


@pytest.fixture
def superoffice() -> SuperOffice:
    return SuperOffice()


@pytest.fixture
def workspace(tmp_path: Path, superoffice: SuperOffice) -> Iterator[Workspace]:
    transport = httpx.MockTransport(superoffice)
    with open_workspace_at(tmp_path / "home", transport=transport) as ws:
        register_sod_application(ws, APP)
        yield ws


@pytest.fixture
def app(workspace: Workspace) -> Application:
    return workspace.applications.get(APP)


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(
        create_app(workspace), raise_server_exceptions=False, follow_redirects=False
    ) as test_client:
        yield test_client


def session(
    workspace: Workspace,
    app: Application,
    session_id: str,
    *,
    user: str = "user@cust12345.test",
    token: str = "8A:Cust12345.nora",
    ctx: str = CTX,
    ttl: timedelta = SESSION_TTL,
    csrf: str = "csrf-of-",
) -> str:
    workspace.repository.add_user_session(
        session_id,
        application_id=app.id,
        context_identifier=ctx,
        user=user,
        access_token=token,
        refresh_token="refresh-" + session_id,
        csrf_token=csrf + session_id,
        ttl=ttl,
    )
    return session_id


def signed_in(client: TestClient, app: Application, session_id: str, ctx: str = CTX) -> None:
    client.cookies.clear()
    client.cookies.set(session_cookie_name(app.id, ctx), session_id)


PANEL = f"/panel?app=Acme%20Sync&ctx={CTX}"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_no_session_redirects_to_the_tenant_path(client: TestClient, workspace: Workspace) -> None:
    response = client.get(PANEL)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{SOD}/login/{CTX}/oauth/authorize"
    )
    query = parse_qs(location.query)
    assert query["response_mode"] == ["form_post"]
    assert query["acr_values"] == [f"tenant:{CTX}"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["https://partner.example/callback"]
    pending = workspace.repository.peek_pending_sign_in(query["state"][0])
    assert pending is not None
    assert pending[1] == "user"
    # uctx is accepted too (SuperOffice's samples use it).
    assert client.get(f"/panel?app=Acme%20Sync&uctx={CTX}").status_code == 303


def test_a_framed_panel_offers_a_pop_up(client: TestClient) -> None:
    response = client.get(PANEL, headers={"Sec-Fetch-Dest": "iframe"})
    assert response.status_code == 200
    assert 'target="_blank"' in response.text
    assert f"{SOD}/login/{CTX}/oauth/authorize" in unescape(response.text)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors https://*.superoffice.com" in policy
    assert "form-action 'self'" in policy
    assert "x-frame-options" not in response.headers
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        (f"?ctx={CTX}", 400),
        ("?app=Acme%20Sync", 400),
        ("?app=Acme%20Sync&ctx=Cust1&uctx=Cust2", 400),
        ("?app=Acme%20Sync&ctx=../x", 400),
        ("?app=Acme%20Sync&app=b&ctx=Cust1", 400),
        (f"?app=Nobody&ctx={CTX}", 404),
    ],
)
def test_bad_panel_requests(client: TestClient, query: str, status: int) -> None:
    response = client.get(f"/panel{query}")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")


def test_the_panel_shows_the_principal_and_saves_options_per_user(
    client: TestClient, workspace: Workspace, app: Application
) -> None:
    nora = session(workspace, app, "nora-session")
    anna = session(
        workspace, app, "anna-session", user="admin@cust12345.test", token="8A:Cust12345.anna"
    )
    signed_in(client, app, nora)
    page = client.get(PANEL)
    assert page.status_code == 200
    assert 'data-field="associate id">6<' in page.text
    assert 'data-field="signed in as">user@cust12345.test<' in page.text
    assert greeting(page.text) == ""
    response = client.post(
        PANEL,
        data={"csrf": "csrf-of-nora-session", "greeting": "Hei <b>", "show_closed": "true"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/panel?app=Acme+Sync&ctx={CTX}&saved=1"
    page = client.get(response.headers["location"])
    assert greeting(page.text) == "Hei <b>"
    assert "Hei <b>" not in page.text  # escaped
    assert 'data-option="show_closed" checked' in page.text

    signed_in(client, app, anna)
    page = client.get(PANEL)
    assert 'data-field="associate id">5<' in page.text
    assert greeting(page.text) == ""
    assert 'data-option="show_closed">' in page.text  # not checked
    stored = workspace.repository.get_user_options(APP, CTX, "user@cust12345.test")
    assert stored == {"greeting": "Hei <b>", "show_closed": True}


@pytest.mark.parametrize(
    "form",
    [
        {"greeting": "x"},
        {"csrf": "", "greeting": "x"},
        {"csrf": "csrf-of-someone-else", "greeting": "x"},
    ],
)
def test_a_bad_csrf_token_saves_nothing(
    client: TestClient, workspace: Workspace, app: Application, form: dict[str, str]
) -> None:
    signed_in(client, app, session(workspace, app, "s1"))
    response = client.post(PANEL, data=form)
    assert response.status_code == 403
    assert "Form expired" in response.text
    assert workspace.repository.get_user_options(APP, CTX, "user@cust12345.test") == {}


@pytest.mark.parametrize(
    "form",
    [
        {"greeting": "x" * 201},
        {"greeting": "line\nbreak"},
        {"show_closed": "maybe"},
        {"theme": "dark"},
    ],
)
def test_option_values_are_validated(
    client: TestClient, workspace: Workspace, app: Application, form: dict[str, str]
) -> None:
    signed_in(client, app, session(workspace, app, "s1"))
    response = client.post(PANEL, data={"csrf": "csrf-of-s1", **form})
    assert response.status_code == 400
    assert workspace.repository.get_user_options(APP, CTX, "user@cust12345.test") == {}


def test_the_panel_form_must_be_a_small_form(
    client: TestClient, workspace: Workspace, app: Application
) -> None:
    signed_in(client, app, session(workspace, app, "s1"))
    json_body = {"content-type": "application/json"}
    assert client.post(PANEL, content=b'{"csrf": "x"}', headers=json_body).status_code == 415
    large = b"csrf=csrf-of-s1&greeting=" + b"a" * 20000
    assert client.post(PANEL, content=large, headers=FORM).status_code == 413
    repeated = b"csrf=csrf-of-s1&greeting=a&greeting=b"
    assert client.post(PANEL, content=repeated, headers=FORM).status_code == 400


def test_an_expired_session_is_a_clear_page(
    client: TestClient, workspace: Workspace, app: Application
) -> None:
    signed_in(client, app, session(workspace, app, "old", ttl=timedelta(seconds=1)))
    workspace.repository._now = lambda: datetime.now(UTC) + timedelta(minutes=1)  # type: ignore[method-assign]
    response = client.get(PANEL)
    assert response.status_code == 401
    assert "Session expired" in response.text
    assert 'id="sign-in"' in response.text
    assert "max-age=0" in response.headers["set-cookie"].lower() or (
        "expires=" in response.headers["set-cookie"].lower()
    )


def test_an_unknown_session_asks_to_sign_in_again(client: TestClient, app: Application) -> None:
    signed_in(client, app, "made-up")
    response = client.get(PANEL)
    assert response.status_code == 401
    assert "Session expired" in response.text


def test_a_session_of_another_tenant_is_refused(
    client: TestClient, workspace: Workspace, app: Application
) -> None:
    other = session(workspace, app, "other-tenant", ctx="Cust54321", token="8A:Cust54321.x")
    signed_in(client, app, other, ctx=CTX)  # its id under this tenant's cookie
    response = client.get(PANEL)
    assert response.status_code == 403
    assert "Wrong tenant" in response.text


def test_the_access_token_is_refreshed_once_and_kept(
    client: TestClient, workspace: Workspace, app: Application, superoffice: SuperOffice
) -> None:
    signed_in(client, app, session(workspace, app, "s1", token="8A:Cust12345.expired"))
    page = client.get(PANEL)
    assert page.status_code == 200
    assert superoffice.refreshes == 1
    stored = workspace.repository.get_user_session("s1")
    assert stored.access_token.reveal() == "8A:Cust12345.renewed"
    assert stored.refresh_token is not None
    assert stored.refresh_token.reveal() == "refresh-s1"
    assert client.get(PANEL).status_code == 200
    assert superoffice.refreshes == 1  # the renewed token is used from now on


def test_a_refused_refresh_ends_the_session(
    client: TestClient, workspace: Workspace, app: Application, superoffice: SuperOffice
) -> None:
    superoffice.refresh_works = False
    signed_in(client, app, session(workspace, app, "s1", token="8A:Cust12345.expired"))
    response = client.get(PANEL)
    assert response.status_code == 401
    assert "Session expired" in response.text
    assert superoffice.refreshes == 1


def test_sign_out(client: TestClient, workspace: Workspace, app: Application) -> None:
    signed_in(client, app, session(workspace, app, "s1"))
    logout = f"/panel/logout?app=Acme%20Sync&ctx={CTX}"
    confirm = client.get(logout)
    assert confirm.status_code == 200
    assert 'name="csrf" value="csrf-of-s1"' in confirm.text
    assert client.post(logout, data={"csrf": "wrong"}).status_code == 403
    out = client.post(logout, data={"csrf": "csrf-of-s1"})
    assert out.status_code == 200
    assert "signed out" in out.text
    assert f"{SOD}/login/logout?" in unescape(out.text)
    assert workspace.repository.delete_user_session("s1") is False  # already gone
    assert client.get(PANEL).status_code == 401  # the old cookie: sign in again


def test_the_callback_sets_a_secure_opaque_session_cookie(
    client: TestClient, workspace: Workspace, app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = workspace.user_contexts
    expires = datetime.now(UTC) + SESSION_TTL

    def complete(params: Any) -> UserSignIn:
        return UserSignIn(
            session_id="opaque-random-id",
            cookie_name=session_cookie_name(app.id, CTX),
            application=app,
            context_identifier=CTX,
            user="user@cust12345.test",
            return_to=f"/panel?app=Acme+Sync&ctx={CTX}",
            expires_at=expires,
        )

    monkeypatch.setattr(users, "handles", lambda params: True)
    monkeypatch.setattr(users, "complete", complete)
    response = client.post("/callback", data={"state": "s", "code": "c"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/panel?app=Acme+Sync&ctx={CTX}"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session_cookie_name(app.id, CTX)}=opaque-random-id;")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie  # http://testserver is not loopback
    assert "samesite=lax" in cookie.lower()
    assert "Path=/panel" in cookie
    assert f"Max-Age={int(SESSION_TTL.total_seconds())}" in cookie
    assert workspace.repository.list_authorizations() == []


def test_an_install_callback_is_still_an_install(client: TestClient, workspace: Workspace) -> None:
    # An unknown state belongs to no user sign-in: the install flow answers, as before.
    response = client.post("/callback", data={"state": "unknown", "code": "c"})
    assert response.status_code == 400
    assert "Sign-in not recognised" in response.text
