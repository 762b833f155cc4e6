"""Shared emulator fixtures: one emulator per session, reset to the default world per test."""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from toolkit.emulator import Emulator
from toolkit.emulator.driver import SignInResult, sign_in

# One shared SSL context: httpx spends ~40 ms loading CA certificates for every new client.
LOOPBACK_SSL = ssl.create_default_context()
REDIRECT = "http://127.0.0.1:8000/callback"
CLAIM = "http://schemes.superoffice.net/identity/"


@pytest.fixture(scope="session")
def _session_emulator() -> Iterator[tuple[Emulator, httpx.Client]]:
    with Emulator(port=0) as emu, httpx.Client(verify=LOOPBACK_SSL) as control:
        yield emu, control


@pytest.fixture
def emu(_session_emulator: tuple[Emulator, httpx.Client]) -> Emulator:
    emulator, control = _session_emulator
    response = control.post(f"{emulator.base_url}/__emulator__/reset")
    assert response.status_code == 200
    return emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, timeout=10, verify=LOOPBACK_SSL) as client:
        yield client


@pytest.fixture
def app(emu: Emulator) -> dict[str, Any]:
    return emu.register_app(
        name="Acme Sync",
        redirect_urls=[REDIRECT],
        vendor="Acme AS",
        consent_text="Acme Sync reads and writes your contacts.",
        post_logout_urls=["http://127.0.0.1:8000/signed-out"],
    )


class Flow:
    """Helpers for one emulator: build authorize URLs, exchange codes, validate id_tokens."""

    def __init__(self, emu: Emulator, http: httpx.Client) -> None:
        self.emu = emu
        self.http = http

    def authorize_url(self, client_id: str, path_ctx: str = "common", **extra: str) -> str:
        params = {
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
        }
        params.update(extra)
        return f"{self.emu.base_url}/login/{path_ctx}/oauth/authorize?{urlencode(params)}"

    @staticmethod
    def pkce_pair() -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def exchange(self, app: dict[str, Any], code: str, **extra: str) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code,
            "redirect_uri": REDIRECT,
        }
        data.update(extra)
        return self.http.post(f"{self.emu.base_url}/login/common/oauth/tokens", data=data)

    def decode_id_token(self, token: str, audience: str) -> dict[str, Any]:
        jwks = jwt.PyJWKSet.from_dict(
            self.http.get(f"{self.emu.base_url}/login/.well-known/jwks").json()
        )
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in jwks.keys if k.key_id == kid)
        return jwt.decode(  # type: ignore[no-any-return]
            token, key.key, algorithms=["RS256"], audience=audience, issuer=self.emu.base_url
        )

    def sign_in_and_exchange(
        self, app: dict[str, Any], username: str = "admin@cust12345.test", **extra: str
    ) -> tuple[SignInResult, dict[str, Any]]:
        result = sign_in(self.authorize_url(app["client_id"], **extra), username=username)
        response = self.exchange(app, result.params["code"])
        assert response.status_code == 200, response.text
        return result, response.json()


@pytest.fixture
def flow(emu: Emulator, http: httpx.Client) -> Flow:
    return Flow(emu, http)
