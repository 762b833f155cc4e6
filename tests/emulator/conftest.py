"""Emulator test fixtures: an app, SuperID flows, a system user and tenant clients, on the
session's emulator of ``support.emulator`` (its world reset to the seed per test, ``emu``)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from support.emulator import LOOPBACK_SSL

from toolkit.emulator import Emulator
from toolkit.emulator.driver import SignInResult, sign_in

REDIRECT = "http://127.0.0.1:8000/callback"
CLAIM = "http://schemes.superoffice.net/identity/"


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


# -- system user helpers (signing done here with plain `cryptography`, never toolkit.keys) -------

SYSTEM_TOKEN_CLAIM = CLAIM + "system_token"
AUTHENTICATE = "/Login/api/PartnerSystemUser/Authenticate"


def emulator_now(http: httpx.Client) -> datetime:
    seconds = http.get(f"{http.base_url}/__emulator__/clock").json()["now"]
    return datetime.fromtimestamp(seconds, UTC)


def sign_system_token(private_key_pem: str, system_token: str, when: datetime) -> str:
    """`<token>.<UTC yyyyMMddHHmm>.<Base64 RSA PKCS#1 v1.5 SHA-256>` (protocol §4.3)."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    stamp = when.astimezone(UTC).strftime("%Y%m%d%H%M")
    data = f"{system_token}.{stamp}".encode()
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return f"{system_token}.{stamp}.{base64.b64encode(signature).decode()}"


class SystemUser:
    """One installed app (approved by admin@cust12345.test) and its system user exchange."""

    def __init__(self, flow: Flow, app: dict[str, Any]) -> None:
        self.flow = flow
        self.http = flow.http
        self.app = app
        _, tokens = flow.sign_in_and_exchange(app)
        self.tokens = tokens
        claims = flow.decode_id_token(tokens["id_token"], app["client_id"])
        self.system_token: str = claims[SYSTEM_TOKEN_CLAIM]

    def now(self) -> datetime:
        return emulator_now(self.http)

    @staticmethod
    def sign(private_key_pem: str, system_token: str, when: datetime) -> str:
        return sign_system_token(private_key_pem, system_token, when)

    def signed(
        self,
        when: datetime | None = None,
        token: str | None = None,
        private_key_pem: str | None = None,
    ) -> str:
        return sign_system_token(
            private_key_pem or self.app["private_key_pem"],
            self.system_token if token is None else token,
            when or emulator_now(self.http),
        )

    def body(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "SignedSystemToken": self.signed(),
            "ApplicationToken": self.app["client_secret"],
            "ContextIdentifier": "Cust12345",
            "ReturnTokenType": "JWT",
        }
        body.update(overrides)
        return body

    def authenticate(self, **overrides: Any) -> httpx.Response:
        return self.http.post(AUTHENTICATE, json=self.body(**overrides))

    def jwt(self, **overrides: Any) -> str:
        response = self.authenticate(**overrides)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["IsSuccessful"] is True, answer
        return str(answer["Token"])

    def ticket(self) -> str:
        claims = jwt.decode(self.jwt(), options={"verify_signature": False})
        return str(claims[CLAIM + "ticket"])


@pytest.fixture
def system_user(flow: Flow, app: dict[str, Any]) -> SystemUser:
    return SystemUser(flow, app)


# -- tenant side helpers ----------------------------------------------------------------------


def tenant_client(
    emu: Emulator, authorization: str, app_token: str | None = None, ctx: str = "Cust12345"
) -> httpx.Client:
    """A client for `{tenant host}/{ctx}/api/v1` with the given Authorization header."""
    headers = {"Authorization": authorization, "Accept": "application/json"}
    if app_token is not None:
        headers["SO-AppToken"] = app_token
    return httpx.Client(
        base_url=f"{emu.tenant_url(ctx)}/api/v1",
        headers=headers,
        timeout=10,
        verify=LOOPBACK_SSL,
    )


@pytest.fixture
def tenant_rest(emu: Emulator) -> Any:
    """`tenant_rest(authorization, app_token=None, ctx="Cust12345")` -> an httpx.Client."""

    def make(authorization: str, app_token: str | None = None, ctx: str = "Cust12345") -> Any:
        return tenant_client(emu, authorization, app_token, ctx)

    return make


@pytest.fixture
def system_rest(emu: Emulator, system_user: SystemUser) -> Iterator[httpx.Client]:
    """REST as the system user of the `app` fixture in Cust12345 (SOTicket + SO-AppToken)."""
    ticket = system_user.ticket()
    with tenant_client(emu, f"SOTicket {ticket}", system_user.app["client_secret"]) as client:
        yield client
