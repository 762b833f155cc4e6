"""Authorization code flow end to end through the driver (protocol §2.2–§2.5)."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from toolkit.emulator import Emulator
from toolkit.emulator.driver import EmulatorDriverError, sign_in

pytestmark = pytest.mark.emulator

REDIRECT = "http://127.0.0.1:8000/callback"
CLAIM = "http://schemes.superoffice.net/identity/"
TOKEN_PATH = "/login/common/oauth/tokens"
REVOKE_PATH = "/login/common/oauth/revoke"


@pytest.mark.parametrize("mode", ["query", "fragment", "form_post"])
def test_code_flow_in_every_response_mode(
    emu: Emulator, app: dict[str, Any], flow: Any, mode: str
) -> None:
    url = flow.authorize_url(app["client_id"], response_mode=mode, state="xyz")
    result = sign_in(url)
    assert result.response_mode == mode
    assert result.params["state"] == "xyz"
    if mode == "form_post":
        assert result.redirect_url is None
        assert result.form_action == REDIRECT
    else:
        assert result.redirect_url is not None
        assert result.redirect_url.startswith(REDIRECT + ("#" if mode == "fragment" else "?"))
    response = flow.exchange(app, result.params["code"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"]
    assert re.fullmatch(r"8A:Cust12345\.[A-Za-z0-9+/=]+", body["access_token"])
    claims = flow.decode_id_token(body["id_token"], app["client_id"])
    assert claims["sub"] == "admin@cust12345.test"


def test_id_token_claims(emu: Emulator, app: dict[str, Any], flow: Any) -> None:
    _, body = flow.sign_in_and_exchange(app, nonce="n-123")
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"]
    claims = flow.decode_id_token(body["id_token"], app["client_id"])
    base = emu.base_url
    assert claims["iss"] == base
    assert claims["aud"] == app["client_id"]
    assert claims["nonce"] == "n-123"
    assert isinstance(claims["iat"], int)
    assert claims["nbf"] == claims["iat"] - 60
    assert claims["exp"] == claims["iat"] + 300
    expected = {
        "ctx": "Cust12345",
        "serial": "1801550193",
        "associateid": "5",
        "email": "admin@cust12345.test",
        "is_administrator": "True",
        "webapi_url": f"{emu.host_urls['sod2']}/Cust12345/api/",  # the tenant host (§1)
        "netserver_url": f"{emu.host_urls['sod2']}/Cust12345/Remote/Services88/",
        "company_name": "Tony's Developer Network",
        "identityprovider": "central-superid",
        "initials": "TA",
        "upn": "admin@cust12345.test",
        "so_primary_email_address": "admin@cust12345.test",
    }
    for name, value in expected.items():
        assert claims["http://schemes.superoffice.net/identity/" + name] == value
    so_claims = {k: v for k, v in claims.items() if k.startswith(CLAIM)}
    assert all(isinstance(v, str) for v in so_claims.values())
    token = claims[CLAIM + "system_token"]
    assert re.fullmatch(r"Acme Sync-[A-Za-z0-9]{10}", token)


def test_iat_as_string_quirk(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client
) -> None:
    response = http.post(f"{emu.base_url}/__emulator__/quirks", json={"iat_as_string": True})
    assert response.json() == {"iat_as_string": True, "state_change_audience": False}
    _, body = flow.sign_in_and_exchange(app)
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert isinstance(claims["iat"], str)
    assert claims["iat"].isdigit()
    assert claims["exp"] == int(claims["iat"]) + 300


def test_pkce_s256(app: dict[str, Any], flow: Any) -> None:
    verifier, challenge = flow.pkce_pair()
    url = flow.authorize_url(
        app["client_id"], code_challenge=challenge, code_challenge_method="S256"
    )
    code = sign_in(url).params["code"]
    assert flow.exchange(app, code, code_verifier=verifier).status_code == 200


def test_pkce_plain_is_the_default_method(app: dict[str, Any], flow: Any) -> None:
    verifier = "v" * 43
    code = sign_in(flow.authorize_url(app["client_id"], code_challenge=verifier)).params["code"]
    assert flow.exchange(app, code, code_verifier=verifier).status_code == 200


@pytest.mark.parametrize("verifier", [None, "w" * 43, "short"])
def test_pkce_wrong_or_missing_verifier(
    app: dict[str, Any], flow: Any, verifier: str | None
) -> None:
    _, challenge = flow.pkce_pair()
    url = flow.authorize_url(
        app["client_id"], code_challenge=challenge, code_challenge_method="S256"
    )
    code = sign_in(url).params["code"]
    extra = {} if verifier is None else {"code_verifier": verifier}
    response = flow.exchange(app, code, **extra)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_malformed_code_challenge_is_refused_by_redirect(app: dict[str, Any], flow: Any) -> None:
    url = flow.authorize_url(app["client_id"], code_challenge="too-short", state="s")
    result = sign_in(url)
    assert result.params == {
        "error": "invalid_request",
        "error_description": "malformed code_challenge",
        "state": "s",
    }


def test_code_is_single_use(app: dict[str, Any], flow: Any) -> None:
    code = sign_in(flow.authorize_url(app["client_id"])).params["code"]
    assert flow.exchange(app, code).status_code == 200
    second = flow.exchange(app, code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_code_expires_after_ten_minutes(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client
) -> None:
    code = sign_in(flow.authorize_url(app["client_id"])).params["code"]
    http.post(f"{emu.base_url}/__emulator__/clock", json={"advance": 601})
    response = flow.exchange(app, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_times_follow_the_emulator_clock(
    emu: Emulator,
    app: dict[str, Any],
    flow: Any,
    http: httpx.Client,
) -> None:
    frozen = "2030-01-02T03:04:05+00:00"
    clock = http.post(f"{emu.base_url}/__emulator__/clock", json={"frozen_at": frozen}).json()
    assert clock["frozen_at"] == 1893553445.0
    _, body = flow.sign_in_and_exchange(app)
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["iat"] == 1893553445


def test_redirect_uri_must_match_at_token_endpoint(emu: Emulator, flow: Any) -> None:
    app = emu.register_app(
        name="Two Redirects", redirect_urls=[REDIRECT, "http://127.0.0.1:8000/other"]
    )
    code = sign_in(flow.authorize_url(app["client_id"])).params["code"]
    response = flow.exchange(app, code, redirect_uri="http://127.0.0.1:8000/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_client_secret_basic(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client
) -> None:
    code = sign_in(flow.authorize_url(app["client_id"])).params["code"]
    response = http.post(
        emu.base_url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert response.status_code == 200, response.text


def test_params_in_query_string(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client
) -> None:
    # The docs put token parameters in the query string with an empty body (protocol §2.4).
    code = sign_in(flow.authorize_url(app["client_id"])).params["code"]
    params = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "code": code,
        "redirect_uri": REDIRECT,
    }
    response = http.post(emu.base_url + TOKEN_PATH, params=params)
    assert response.status_code == 200, response.text


def test_both_client_auth_methods_is_invalid_request(
    emu: Emulator, app: dict[str, Any], http: httpx.Client
) -> None:
    response = http.post(
        emu.base_url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": "x", "client_secret": "y"},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("unknown", "secret"), (None, "0" * 32), (None, None)],
)
def test_invalid_client(
    emu: Emulator,
    app: dict[str, Any],
    client_id: str | None,
    secret: str | None,
    http: httpx.Client,
) -> None:
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}
    data["client_id"] = client_id or app["client_id"]
    if secret is not None:
        data["client_secret"] = secret
    response = http.post(emu.base_url + TOKEN_PATH, data=data)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert set(response.json()) == {"error", "error_description"}


def test_malformed_basic_header_is_invalid_client(emu: Emulator, http: httpx.Client) -> None:
    response = http.post(
        emu.base_url + TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": "Basic !!!not-base64!!!"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "Traceback" not in response.text


def test_unsupported_grant_type(emu: Emulator, app: dict[str, Any], http: httpx.Client) -> None:
    response = http.post(
        emu.base_url + TOKEN_PATH,
        data={"grant_type": "password", "username": "u", "password": "p"},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def _refresh(emu: Emulator, app: dict[str, Any], token: str, http: httpx.Client) -> httpx.Response:
    return http.post(
        emu.base_url + TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(app["client_id"], app["client_secret"]),
    )


def test_refresh_while_authorized_then_after_revoke(
    emu: Emulator,
    app: dict[str, Any],
    flow: Any,
    http: httpx.Client,
) -> None:
    _, body = flow.sign_in_and_exchange(app)
    refresh_token = body["refresh_token"]
    for _ in range(2):  # refresh tokens are reusable (protocol §2.4)
        response = _refresh(emu, app, refresh_token, http)
        assert response.status_code == 200, response.text
        refreshed = response.json()
        assert set(refreshed) == {"access_token", "token_type", "expires_in", "id_token"}
        claims = flow.decode_id_token(refreshed["id_token"], app["client_id"])
        assert "nonce" not in claims
        assert refreshed["access_token"].startswith("8A:Cust12345.")
    revoked = http.post(
        f"{emu.base_url}/__emulator__/authorizations/{app['client_id']}/Cust12345/revoke"
    )
    assert revoked.json()["revoked"] is True
    response = _refresh(emu, app, refresh_token, http)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_revoke_endpoint(emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client) -> None:
    _, body = flow.sign_in_and_exchange(app)
    # NODE's call: token in the query string, token_type_hint=JWT (protocol §2.4).
    response = http.post(
        emu.base_url + REVOKE_PATH,
        params={"token": body["refresh_token"], "token_type_hint": "JWT"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert _refresh(emu, app, body["refresh_token"], http).json()["error"] == "invalid_grant"
    unknown = http.post(emu.base_url + REVOKE_PATH, data={"token": "never-issued"})
    assert unknown.status_code == 200
    wrong_secret = http.post(
        emu.base_url + REVOKE_PATH,
        data={"token": "x", "client_id": app["client_id"], "client_secret": "f" * 32},
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"


def test_session_cookie_skips_password_on_second_authorize(
    emu: Emulator, app: dict[str, Any], flow: Any
) -> None:
    with httpx.Client() as browser:
        first = sign_in(flow.authorize_url(app["client_id"]), client=browser)
        cookie = next(c for c in browser.cookies.jar if c.name == "SuperIdSession")
        assert cookie.path == "/login"
        assert cookie.has_nonstandard_attr("HttpOnly")
        second = sign_in(flow.authorize_url(app["client_id"]), client=browser, password="not-used")
        assert first.params["code"] != second.params["code"]
        # Logout clears the session: the wrong password no longer gets through.
        response = browser.get(
            f"{emu.base_url}/login/logout",
            params={"redirect_uri": "http://127.0.0.1:8000/signed-out", "state": "bye"},
        )
        assert response.status_code == 302
        assert response.headers["location"] == "http://127.0.0.1:8000/signed-out?state=bye"
        with pytest.raises(EmulatorDriverError, match="username or password is incorrect"):
            sign_in(flow.authorize_url(app["client_id"]), client=browser, password="nope")


def test_logout_without_or_with_unregistered_redirect(
    emu: Emulator, app: dict[str, Any], http: httpx.Client
) -> None:
    signed_out = http.get(f"{emu.base_url}/login/logout")
    assert signed_out.status_code == 200
    assert 'data-superid-page="signed_out"' in signed_out.text
    refused = http.get(
        f"{emu.base_url}/login/logout", params={"post_logout_redirect_uri": "https://evil.test/"}
    )
    assert refused.status_code == 400
    assert "location" not in refused.headers


def test_access_token_shape_matches_asp_extraction(app: dict[str, Any], flow: Any) -> None:
    # ASP extracts ctx from index 3 up to the first "." (protocol §2.4).
    _, body = flow.sign_in_and_exchange(app)
    token = body["access_token"]
    assert token[3 : token.index(".")] == "Cust12345"
    base64.b64decode(token[token.index(".") + 1 :], validate=True)


def test_prompt_login_asks_for_a_fresh_sign_in_despite_the_session(
    emu: Emulator, app: dict[str, Any], flow: Any
) -> None:
    # OIDC Core §3.1.2.1 prompt=login [I: SuperOffice's parameter table does not list prompt].
    with httpx.Client() as browser:
        sign_in(flow.authorize_url(app["client_id"]), client=browser)
        page = browser.get(flow.authorize_url(app["client_id"], prompt="login"))
        assert page.status_code == 200
        assert 'data-superid-page="login"' in page.text
        # The SuperID session does not carry a wrong password through.
        with pytest.raises(EmulatorDriverError, match="username or password is incorrect"):
            sign_in(
                flow.authorize_url(app["client_id"], prompt="login"),
                client=browser,
                password="not-used",
            )


def test_prompt_none_without_a_session_is_login_required(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client
) -> None:
    response = http.get(flow.authorize_url(app["client_id"], prompt="none"))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["login_required"]
    with httpx.Client() as browser:
        sign_in(flow.authorize_url(app["client_id"]), client=browser)  # approves Cust12345
        silent = browser.get(flow.authorize_url(app["client_id"], prompt="none"))
        assert silent.status_code == 302
        assert "code" in parse_qs(urlsplit(silent.headers["location"]).query)


def test_select_account_and_consent_are_accepted(
    emu: Emulator, app: dict[str, Any], flow: Any
) -> None:
    for prompt in ("select_account", "consent"):
        result = sign_in(flow.authorize_url(app["client_id"], prompt=prompt))
        assert "code" in result.params


@pytest.mark.parametrize("prompt", ["bogus", "none login", "none consent"])
def test_other_prompt_values_are_refused(
    emu: Emulator, app: dict[str, Any], flow: Any, http: httpx.Client, prompt: str
) -> None:
    response = http.get(flow.authorize_url(app["client_id"], prompt=prompt))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_request"]
