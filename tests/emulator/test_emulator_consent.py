"""Login, tenant picker, consent and custom-app activation (protocol §2.2, §3)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt
import pytest

from toolkit.emulator import Emulator
from toolkit.emulator.driver import EmulatorDriverError, sign_in

pytestmark = pytest.mark.emulator

REDIRECT = "http://127.0.0.1:8000/callback"
CLAIM = "http://schemes.superoffice.net/identity/"


def _claims(body: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(body["id_token"], options={"verify_signature": False})  # type: ignore[no-any-return]


def test_unregistered_redirect_shows_error_page_without_redirect(
    emu: Emulator,
    app: dict[str, Any],
    flow: Any,
    http: httpx.Client,
) -> None:
    for url in (
        flow.authorize_url(app["client_id"], redirect_uri="http://127.0.0.1:8000/evil"),
        flow.authorize_url("0" * 32),
    ):
        response = http.get(url)
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "Authorization error: InvalidRedirectUrl (2)" in response.text
        assert re.search(r'id="request-id">[0-9a-f]{32}<', response.text)
        with pytest.raises(EmulatorDriverError, match=r"InvalidRedirectUrl \(2\)") as info:
            sign_in(url)
        assert info.value.status_code == 400
        assert info.value.request_id


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_mode": "form_data"}, "invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "invalid_request"),
    ],
)
def test_authorize_errors_redirect_with_state(
    app: dict[str, Any],
    flow: Any,
    extra: dict[str, str],
    error: str,
    http: httpx.Client,
) -> None:
    response = http.get(flow.authorize_url(app["client_id"], state="abc", **extra))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    assert f"error={error}" in location
    assert "state=abc" in location


def test_wrong_password_reshows_login_without_detail(
    emu: Emulator, app: dict[str, Any], flow: Any
) -> None:
    with httpx.Client() as browser:
        page = browser.get(flow.authorize_url(app["client_id"], login_hint="user@cust12345.test"))
        assert 'name="username"' in page.text
        assert 'value="user@cust12345.test"' in page.text  # login_hint pre-fills
        assert 'name="password"' in page.text
        assert '<button type="submit">' in page.text
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert txn
        assert csrf
        action = f"{emu.base_url}/login/common/oauth/authorize/signin"
        form = {"txn": txn[1], "csrf": csrf[1], "username": "nobody@x.test", "password": "x"}
        for username in ("nobody@x.test", "user@cust12345.test"):
            form["username"] = username
            retry = browser.post(action, data=form)
            assert retry.status_code == 200
            assert "The username or password is incorrect." in retry.text
        forged = browser.post(action, data={**form, "csrf": "forged", "password": "superid-demo"})
        assert forged.status_code == 400
        assert "form token does not match" in forged.text


def test_non_admin_cannot_approve(app: dict[str, Any], flow: Any) -> None:
    with pytest.raises(EmulatorDriverError, match="Account does not have access") as info:
        sign_in(flow.authorize_url(app["client_id"]), username="user@cust12345.test")
    assert info.value.status_code == 403


def test_any_user_signs_in_once_approved(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client
) -> None:
    flow.sign_in_and_exchange(app)  # the admin approves
    _, body = flow.sign_in_and_exchange(app, username="user@cust12345.test")
    claims = _claims(body)
    assert claims[CLAIM + "is_administrator"] == "False"
    assert claims[CLAIM + "associateid"] == "6"
    assert claims[CLAIM + "initials"] == "NU"
    records = http.get(f"{emu.base_url}/__emulator__/authorizations").json()["authorizations"]
    assert len(records) == 1
    assert records[0]["approved_by"] == "admin@cust12345.test"
    assert records[0]["ctx"] == "Cust12345"
    assert records[0]["revoked"] is False


def test_deny_redirects_access_denied(app: dict[str, Any], flow: Any) -> None:
    result = sign_in(flow.authorize_url(app["client_id"], state="s1"), approve=False)
    assert result.params["error"] == "access_denied"
    assert result.params["state"] == "s1"
    assert "code" not in result.params


def test_tenant_picker_for_multi_tenant_user(app: dict[str, Any], flow: Any) -> None:
    url = flow.authorize_url(app["client_id"])
    with pytest.raises(EmulatorDriverError, match="Cust12345, Cust23456"):
        sign_in(url, username="consultant@multi.test")
    with httpx.Client() as browser:
        page = browser.get(url)
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert txn
        assert csrf
        picker = browser.post(
            f"{flow.emu.base_url}/login/common/oauth/authorize/signin",
            data={
                "txn": txn[1],
                "csrf": csrf[1],
                "username": "consultant@multi.test",
                "password": "superid-demo",
            },
        )
    assert 'data-superid-page="tenant"' in picker.text
    assert 'type="radio" name="tenant" value="Cust12345"' in picker.text
    assert 'type="radio" name="tenant" value="Cust23456"' in picker.text


def test_tenant_picker_choice(emu: Emulator, app: dict[str, Any], flow: Any) -> None:
    result = sign_in(
        flow.authorize_url(app["client_id"]), username="consultant@multi.test", tenant="Cust23456"
    )
    body = flow.exchange(app, result.params["code"]).json()
    claims = _claims(body)
    assert claims[CLAIM + "ctx"] == "Cust23456"
    assert claims[CLAIM + "company_name"] == "Nordic Bikes AS"
    assert body["access_token"].startswith("8A:Cust23456.")


@pytest.mark.parametrize("path_ctx", ["common", "cust23456"])
def test_acr_values_or_tenant_path_preselect(app: dict[str, Any], flow: Any, path_ctx: str) -> None:
    extra = {"acr_values": "tenant:Cust23456"} if path_ctx == "common" else {}
    url = flow.authorize_url(app["client_id"], path_ctx=path_ctx, **extra)
    result = sign_in(url, username="consultant@multi.test")  # no picker
    claims = _claims(flow.exchange(app, result.params["code"]).json())
    assert claims[CLAIM + "ctx"] == "Cust23456"
    assert claims[CLAIM + "serial"] == "2087315043"


def test_preselected_tenant_without_membership(app: dict[str, Any], flow: Any) -> None:
    url = flow.authorize_url(app["client_id"], acr_values="tenant:Cust34567")
    with pytest.raises(EmulatorDriverError, match="Account does not have access"):
        sign_in(url)


def test_custom_app_before_and_after_activation(
    emu: Emulator, flow: Any, http: httpx.Client
) -> None:
    custom = emu.register_app(
        name="Nordic Custom", redirect_urls=[REDIRECT], kind="custom", tenant="Cust23456"
    )
    url = flow.authorize_url(custom["client_id"])
    with pytest.raises(EmulatorDriverError, match="not activated"):
        sign_in(url, username="admin@cust23456.test")
    response = http.post(
        f"{emu.base_url}/__emulator__/apps/{custom['client_id']}/activate",
        json={"tenant": "Cust23456", "approved_by": "admin@cust23456.test"},
    )
    assert response.status_code == 200
    assert response.json()["system_token"].startswith("Nordic Custom-")
    result = sign_in(flow.authorize_url(custom["client_id"]), username="admin@cust23456.test")
    assert flow.exchange(custom, result.params["code"]).status_code == 200
    with pytest.raises(EmulatorDriverError, match="not activated"):
        sign_in(flow.authorize_url(custom["client_id"]), username="admin@cust12345.test")
    other = http.post(
        f"{emu.base_url}/__emulator__/apps/{custom['client_id']}/activate",
        json={"tenant": "Cust12345", "approved_by": "admin@cust12345.test"},
    )
    assert other.status_code == 400


def test_custom_app_needs_a_tenant(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="tenant"):
        emu.register_app(name="No Tenant", redirect_urls=[REDIRECT], kind="custom")


def test_system_token_only_when_granted_and_constant(
    emu: Emulator,
    app: dict[str, Any],
    flow: Any,
    http: httpx.Client,
) -> None:
    _, first = flow.sign_in_and_exchange(app)
    _, second = flow.sign_in_and_exchange(app, username="user@cust12345.test")
    token = _claims(first)[CLAIM + "system_token"]
    assert _claims(second)[CLAIM + "system_token"] == token
    # Revoke and re-approve: the token is kept (constant per app x tenant, protocol §4.1).
    http.post(f"{emu.base_url}/__emulator__/authorizations/{app['client_id']}/Cust12345/revoke")
    _, third = flow.sign_in_and_exchange(app)
    assert _claims(third)[CLAIM + "system_token"] == token
    plain = emu.register_app(name="Web Only", redirect_urls=[REDIRECT], grant_system_token=False)
    _, body = flow.sign_in_and_exchange(plain)
    assert CLAIM + "system_token" not in _claims(body)


def test_credentials_shape(app: dict[str, Any]) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", app["client_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", app["client_secret"])
    xml = app["private_key_xml"]
    for element in ("Modulus", "Exponent", "P", "Q", "DP", "DQ", "InverseQ", "D"):
        assert re.search(rf"<{element}>[A-Za-z0-9+/=]+</{element}>", xml)
    assert xml.startswith("<RSAKeyValue>")
    assert "<Exponent>AQAB</Exponent>" in xml
    assert app["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert app["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert app["name"] == "Acme Sync"
    assert app["vendor"] == "Acme AS"


def test_consent_page_shows_app_vendor_and_text_escaped(emu: Emulator, flow: Any) -> None:
    app = emu.register_app(
        name="<b>Bold</b> App",
        redirect_urls=[REDIRECT],
        vendor="Acme & Co",
        consent_text="<script>alert(1)</script> reads contacts",
    )
    with httpx.Client() as browser:
        page = browser.get(flow.authorize_url(app["client_id"]))
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert txn
        assert csrf
        consent = browser.post(
            f"{emu.base_url}/login/common/oauth/authorize/signin",
            data={
                "txn": txn[1],
                "csrf": csrf[1],
                "username": "admin@cust12345.test",
                "password": "superid-demo",
            },
        )
    assert 'data-superid-page="consent"' in consent.text
    assert "&lt;b&gt;Bold&lt;/b&gt; App" in consent.text
    assert "Acme &amp; Co" in consent.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; reads contacts" in consent.text
    assert "<script>alert" not in consent.text
    assert 'name="decision" value="approve"' in consent.text
    assert 'name="decision" value="deny"' in consent.text
    assert "I approve" in consent.text
    assert consent.headers["x-frame-options"] == "DENY"


def test_python_activate_app_and_reapproval_does_not_revive_refresh_tokens(
    emu: Emulator, flow: Any, http: httpx.Client
) -> None:
    custom = emu.register_app(
        name="Py Custom", redirect_urls=[REDIRECT], kind="custom", tenant="cust34567"
    )
    assert custom["tenant"] == "Cust34567"
    auth = emu.activate_app(
        custom["client_id"], tenant="Cust34567", approved_by="admin@cust34567.test"
    )
    assert auth.approved_by == "admin@cust34567.test"
    assert auth.system_token is not None
    _, body = flow.sign_in_and_exchange(custom, username="user@cust34567.test")
    revoke = f"/__emulator__/authorizations/{custom['client_id']}/Cust34567/revoke"
    assert http.post(revoke).status_code == 200
    with pytest.raises(EmulatorDriverError, match="not activated"):
        sign_in(flow.authorize_url(custom["client_id"]), username="user@cust34567.test")
    again = emu.activate_app(
        custom["client_id"], tenant="Cust34567", approved_by="admin@cust34567.test"
    )
    assert again.system_token == auth.system_token
    refreshed = http.post(
        "/login/common/oauth/tokens",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(custom["client_id"], custom["client_secret"]),
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
