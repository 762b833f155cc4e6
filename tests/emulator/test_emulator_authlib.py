"""An independent, certified-style OIDC client (authlib + joserfc) against the emulator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in

pytestmark = pytest.mark.emulator

REDIRECT = "http://127.0.0.1:8000/callback"
CLAIM = "http://schemes.superoffice.net/identity/"


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_discovery_code_flow_pkce_and_id_token(
    emu: Emulator, http: httpx.Client, app: dict[str, Any], auth_method: str
) -> None:
    meta = http.get("/login/.well-known/openid-configuration").json()
    nonce = generate_token(16)
    verifier = generate_token(64)
    with OAuth2Client(
        app["client_id"],
        app["client_secret"],
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    ) as client:
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        result = sign_in(url)
        assert result.params["state"] == state
        assert result.redirect_url is not None
        token = client.fetch_token(
            meta["token_endpoint"],
            authorization_response=result.redirect_url,
            code_verifier=verifier,
        )
    assert token["token_type"] == "bearer"
    assert token["access_token"].startswith("8A:Cust12345.")
    keys = KeySet.import_key_set(http.get(meta["jwks_uri"]).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": app["client_id"]},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    registry.validate(decoded.claims)
    assert decoded.claims[CLAIM + "ctx"] == "Cust12345"
