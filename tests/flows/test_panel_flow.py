"""The normal user context end to end: a web panel opens /panel, the user signs in through the
emulator's SuperID (tenant path), sees their own principal and keeps their own options."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from support.pages import csrf, field, greeting
from support.partner import install_as_administrator

from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"


@pytest.fixture
def installed(emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints) -> str:
    workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        vendor="Acme AS",
        actor="test",
    )
    assert install_as_administrator(endpoints, APP, TENANT, ADMIN).status_code == 200
    return APP


def panel_url(endpoints: PartnerEndpoints, **params: str) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in ({"app": "Acme%20Sync", "ctx": TENANT} | params).items()
    )
    return f"{endpoints.base_url}/panel?{query}"


def open_panel(browser: httpx.Client, endpoints: PartnerEndpoints, username: str) -> httpx.Response:
    """What a web panel does: open /panel, sign in (SuperID's tenant path), come back."""
    start = browser.get(panel_url(endpoints))
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    assert urlsplit(location).path == f"/login/{TENANT}/oauth/authorize"
    result = sign_in(location, username=username)
    assert result.response_mode == "form_post"
    assert result.form_action == f"{endpoints.base_url}/callback"
    back = browser.post(result.form_action, data=result.params)
    assert back.status_code == 303, back.text
    cookie = back.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/panel" in cookie
    assert "Secure" not in cookie  # plain http on loopback only
    assert back.headers["location"] == f"/panel?app=Acme+Sync&ctx={TENANT}"
    page = browser.get(f"{endpoints.base_url}{back.headers['location']}")
    assert page.status_code == 200, page.text
    return page


def test_a_user_sees_themselves_and_keeps_their_own_options(
    installed: str, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    with (
        httpx.Client(timeout=10) as user_browser,
        httpx.Client(timeout=10) as admin_browser,
    ):
        page = open_panel(user_browser, endpoints, USER)
        assert field(page.text, "signed in as") == USER
        assert field(page.text, "associate id") == "6"
        assert field(page.text, "tenant") == TENANT
        assert "frame-ancestors http://127.0.0.1:*" in page.headers["content-security-policy"]
        assert "x-frame-options" not in page.headers
        assert greeting(page.text) == ""

        saved = user_browser.post(
            panel_url(endpoints),
            data={"csrf": csrf(page.text), "greeting": "Hei, Nora", "show_closed": "true"},
        )
        assert saved.status_code == 303
        page = user_browser.get(f"{endpoints.base_url}{saved.headers['location']}")
        assert greeting(page.text) == "Hei, Nora"
        assert 'data-option="show_closed" checked' in page.text
        assert 'id="saved"' in page.text

        # The administrator of the same tenant signs in to the same panel: their own options.
        other = open_panel(admin_browser, endpoints, ADMIN)
        assert field(other.text, "signed in as") == ADMIN
        assert field(other.text, "associate id") == "5"
        assert greeting(other.text) == ""

        # A form without this session's CSRF token changes nothing.
        refused = user_browser.post(
            panel_url(endpoints), data={"csrf": csrf(other.text), "greeting": "forged"}
        )
        assert refused.status_code == 403
        assert greeting(user_browser.get(panel_url(endpoints)).text) == "Hei, Nora"

    # A user sign-in never created or changed the authorization record.
    record = workspace.repository.get_authorization(APP, TENANT)
    assert record.approved_by == ADMIN
    options = workspace.repository.get_user_options(APP, TENANT, USER)
    assert options == {"greeting": "Hei, Nora", "show_closed": True}


def test_the_session_holds_no_token_in_the_cookie_and_signs_out(
    installed: str, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    with httpx.Client(timeout=10) as browser:
        page = open_panel(browser, endpoints, USER)
        [value] = list(browser.cookies.values())
        assert not value.startswith("8A:")
        session = workspace.repository.get_user_session(value)
        assert session.user == USER
        assert session.access_token.reveal() not in page.text
        out = browser.post(
            f"{endpoints.base_url}/panel/logout?app=Acme%20Sync&ctx={TENANT}",
            data={"csrf": csrf(page.text)},
        )
        assert out.status_code == 200
        assert 'id="superid-logout"' in out.text
        assert "/login/logout?" in out.text
        again = browser.get(panel_url(endpoints))
        assert again.status_code == 303  # signed out: back to SuperID


def test_an_expired_access_token_is_refreshed_once(
    installed: str, emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    with httpx.Client(timeout=10) as browser:
        open_panel(browser, endpoints, USER)
        [value] = list(browser.cookies.values())
        workspace.repository.update_user_session_tokens(
            value,
            access_token=f"8A:{TENANT}.not-a-valid-token",
            refresh_token=(
                workspace.repository.get_user_session(value).refresh_token.reveal()  # type: ignore[union-attr]
            ),
            access_expires_at=None,
        )
        page = browser.get(panel_url(endpoints))
        assert page.status_code == 200, page.text
        assert field(page.text, "associate id") == "6"
        renewed = workspace.repository.get_user_session(value).access_token.reveal()
        assert renewed != f"8A:{TENANT}.not-a-valid-token"
