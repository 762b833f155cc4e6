"""Discovery document, JWKS and signing-key rotation (protocol §2.1, open question 1)."""

from __future__ import annotations

import base64
import hashlib

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator


def test_start_gives_a_loopback_base_url() -> None:
    # How fast it starts is a benchmark's question, not a test's (machine speed).
    with Emulator(port=0) as emu:
        assert emu.base_url.startswith("http://127.0.0.1:")
        assert not emu.base_url.endswith("/")
    emu2 = Emulator(port=0).start()
    try:
        assert httpx.get(f"{emu2.base_url}/login/.well-known/jwks").status_code == 200
    finally:
        emu2.stop()


def test_discovery_document(emu: Emulator, http: httpx.Client) -> None:
    response = http.get("/login/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    base = emu.base_url
    assert doc["issuer"] == base
    assert not doc["issuer"].endswith("/login")
    assert doc["authorization_endpoint"] == f"{base}/login/common/oauth/authorize"
    assert doc["token_endpoint"] == f"{base}/login/common/oauth/tokens"
    assert doc["jwks_uri"] == f"{base}/login/.well-known/jwks"
    assert doc["end_session_endpoint"] == f"{base}/login/logout"
    assert doc["revocation_endpoint"] == f"{base}/login/common/oauth/revoke"
    assert doc["scopes_supported"] == ["openid"]
    assert set(doc["response_modes_supported"]) == {"form_post", "fragment", "query"}
    assert "code" in doc["response_types_supported"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_post",
        "client_secret_basic",
    }
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types_supported"])
    assert doc["code_challenge_methods_supported"] == ["S256", "plain"]
    assert "userinfo_endpoint" not in doc  # SuperOffice has none (protocol §2.1)


def _kid_of(jwk: dict[str, str]) -> str:
    public = jwt.PyJWK.from_dict(jwk).key
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def test_jwks_shape_and_kid(http: httpx.Client) -> None:
    keys = http.get("/login/.well-known/jwks").json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["alg"] == "RS256"
    assert key["e"] == "AQAB"
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256
    assert len(key["kid"]) == 40
    assert key["kid"] == key["kid"].upper()
    assert key["kid"] == _kid_of(key)


def test_rotate_publishes_new_key_signs_with_it_and_retire_drops_old(
    emu: Emulator, http: httpx.Client, app: dict[str, object], flow: object
) -> None:
    old_kid = http.get("/login/.well-known/jwks").json()["keys"][0]["kid"]
    rotated = http.post("/__emulator__/keys/rotate").json()
    new_kid = rotated["current"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in http.get("/login/.well-known/jwks").json()["keys"]]
    assert kids == [new_kid, old_kid]
    _, tokens = flow.sign_in_and_exchange(app)  # type: ignore[attr-defined]
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == new_kid
    retired = http.post("/__emulator__/keys/retire").json()
    assert retired == {"current": new_kid, "retired": [old_kid]}
    kids = [k["kid"] for k in http.get("/login/.well-known/jwks").json()["keys"]]
    assert kids == [new_kid]
