"""SuperID sign-in end to end: SuperIdClient against the local emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from toolkit.auth.oidc import (
    SuperIdClient,
    callback_params_from_form,
    callback_params_from_url,
)
from toolkit.config import Environment
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import (
    AuthorizationDeniedError,
    InvalidGrantError,
    StateMismatchError,
)
from toolkit.http import create_client

pytestmark = pytest.mark.emulator

REDIRECT_URI = "http://127.0.0.1:8000/callback"
SIGNED_OUT_URI = "http://127.0.0.1:8000/signed-out"
ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
CONSULTANT = "consultant@multi.test"


@pytest.fixture
def app(emu: Emulator) -> dict[str, Any]:
    return emu.register_app(
        name="Toolkit Sign-in Test",
        redirect_urls=[REDIRECT_URI],
        vendor="Toolkit AS",
        consent_text="Reads your contacts.",
        post_logout_urls=[SIGNED_OUT_URI],
    )


@pytest.fixture
def client(emu: Emulator, app: dict[str, Any]) -> Iterator[SuperIdClient]:
    with create_client() as http:
        yield SuperIdClient(
            Environment.emulator(emu.base_url),
            app["client_id"],
            app["client_secret"],
            REDIRECT_URI,
            http=http,
        )


def callback_params(result: Any) -> dict[str, str]:
    """The callback the browser would deliver: a redirect URL, or the form_post fields."""
    if result.response_mode == "form_post":
        assert result.form_action == REDIRECT_URI
        return callback_params_from_form(result.params)
    return callback_params_from_url(result.redirect_url)


@pytest.mark.parametrize("mode", ["query", "form_post", "fragment"])
def test_full_sign_in(client: SuperIdClient, emu: Emulator, mode: Any) -> None:
    request = client.begin_sign_in(response_mode=mode)
    result = sign_in(request.url, username=ADMIN)
    assert result.response_mode == mode
    signed_in = client.complete_sign_in(callback_params(result))

    claims = signed_in.claims
    assert claims.subject == ADMIN
    assert claims.issuer == emu.base_url
    assert claims.context_identifier == "Cust12345"
    assert claims.is_administrator is True
    assert isinstance(claims.associate_id, int)
    assert claims.system_user_token
    assert claims.system_user_token not in repr(claims)
    assert claims.system_user_token not in repr(signed_in)

    tokens = signed_in.tokens
    assert tokens.access_token.startswith("8A:Cust12345.")
    assert tokens.token_type == "bearer"
    assert tokens.refresh_token
    assert tokens.expires_at is not None
    for secret in (tokens.access_token, tokens.refresh_token, tokens.id_token or ""):
        assert secret not in repr(tokens)


def test_a_normal_user_is_typed_as_not_an_administrator(client: SuperIdClient) -> None:
    # The tenant administrator installs (approves) the app first; then a normal user signs in.
    first = client.begin_sign_in()
    client.complete_sign_in(callback_params(sign_in(first.url, username=ADMIN)))
    request = client.begin_sign_in()
    signed_in = client.complete_sign_in(callback_params(sign_in(request.url, username=USER)))
    assert signed_in.claims.subject == USER
    assert signed_in.claims.is_administrator is False
    assert isinstance(signed_in.claims.associate_id, int)


def test_iat_as_a_string_is_accepted(client: SuperIdClient, emu: Emulator) -> None:
    # SuperID's documented example id_token carries iat as a string (protocol §2.5).
    response = httpx.post(
        f"{emu.base_url}/__emulator__/quirks", json={"iat_as_string": True}, timeout=10
    )
    assert response.status_code == 200
    request = client.begin_sign_in()
    signed_in = client.complete_sign_in(callback_params(sign_in(request.url, username=ADMIN)))
    assert signed_in.claims.subject == ADMIN


def test_refresh_works_and_stops_after_the_authorization_is_revoked(
    client: SuperIdClient, emu: Emulator, app: dict[str, Any]
) -> None:
    request = client.begin_sign_in()
    signed_in = client.complete_sign_in(callback_params(sign_in(request.url, username=ADMIN)))
    refresh_token = signed_in.tokens.refresh_token
    assert refresh_token is not None

    refreshed = client.refresh(refresh_token)
    assert refreshed.access_token.startswith("8A:Cust12345.")
    assert refreshed.access_token != signed_in.tokens.access_token
    # SuperID returns no new refresh token; the old one is kept (protocol §2.4).
    assert refreshed.refresh_token == refresh_token
    assert client.refresh(refresh_token).access_token

    response = httpx.post(
        f"{emu.base_url}/__emulator__/authorizations/{app['client_id']}/Cust12345/revoke",
        timeout=10,
    )
    assert response.status_code == 200
    with pytest.raises(InvalidGrantError) as caught:
        client.refresh(refresh_token)
    assert caught.value.error == "invalid_grant"


def test_a_revoked_refresh_token_no_longer_refreshes(client: SuperIdClient) -> None:
    request = client.begin_sign_in()
    signed_in = client.complete_sign_in(callback_params(sign_in(request.url, username=ADMIN)))
    refresh_token = signed_in.tokens.refresh_token
    assert refresh_token is not None
    client.revoke(refresh_token, token_type_hint="refresh_token")
    with pytest.raises(InvalidGrantError):
        client.refresh(refresh_token)


def test_a_replayed_callback_is_refused(client: SuperIdClient) -> None:
    request = client.begin_sign_in()
    params = callback_params(sign_in(request.url, username=ADMIN))
    client.complete_sign_in(params)
    with pytest.raises(StateMismatchError):
        client.complete_sign_in(params)


def test_denying_consent_raises_access_denied(client: SuperIdClient) -> None:
    request = client.begin_sign_in()
    result = sign_in(request.url, username=ADMIN, approve=False)
    assert result.params.get("error") == "access_denied"
    with pytest.raises(AuthorizationDeniedError) as caught:
        client.complete_sign_in(callback_params(result))
    assert caught.value.error == "access_denied"
    # The state was consumed by the error answer.
    with pytest.raises(StateMismatchError):
        client.complete_sign_in(callback_params(result))


def test_an_expired_code_is_an_invalid_grant(client: SuperIdClient, emu: Emulator) -> None:
    request = client.begin_sign_in()
    params = callback_params(sign_in(request.url, username=ADMIN))
    response = httpx.post(f"{emu.base_url}/__emulator__/clock", json={"advance": 601}, timeout=10)
    assert response.status_code == 200
    with pytest.raises(InvalidGrantError):
        client.complete_sign_in(params)


@pytest.mark.parametrize("use_tenant_path", [False, True])
def test_tenant_selection_by_acr_values_or_tenant_path(
    client: SuperIdClient, use_tenant_path: bool
) -> None:
    # The consultant administers two tenants; without a hint SuperID would ask which one.
    request = client.begin_sign_in(tenant="Cust23456", use_tenant_path=use_tenant_path)
    path = urlsplit(request.url).path
    if use_tenant_path:
        assert path == "/login/Cust23456/oauth/authorize"
    else:
        assert path == "/login/common/oauth/authorize"
    assert parse_qs(urlsplit(request.url).query)["acr_values"] == ["tenant:Cust23456"]
    result = sign_in(request.url, username=CONSULTANT)
    signed_in = client.complete_sign_in(callback_params(result))
    assert signed_in.claims.context_identifier == "Cust23456"
    assert signed_in.transaction is not None
    assert signed_in.transaction.tenant == "Cust23456"


def test_login_hint_is_accepted(client: SuperIdClient) -> None:
    request = client.begin_sign_in(login_hint=ADMIN)
    signed_in = client.complete_sign_in(callback_params(sign_in(request.url, username=ADMIN)))
    assert signed_in.claims.subject == ADMIN


def test_logout_url_is_accepted_by_superid(client: SuperIdClient) -> None:
    url = client.logout_url(SIGNED_OUT_URI)
    response = httpx.get(url, follow_redirects=False, timeout=10)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == SIGNED_OUT_URI


def test_an_unregistered_logout_url_is_refused_by_superid(client: SuperIdClient) -> None:
    response = httpx.get(
        client.logout_url("http://127.0.0.1:8000/elsewhere"), follow_redirects=False, timeout=10
    )
    assert response.status_code == 400
