"""Installations offline: a fake SuperID (httpx.MockTransport) and a temporary store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.utils import to_base64url_uint
from support.stores import migrated_home

from toolkit.auth.transactions import SignInTransaction
from toolkit.config import Settings
from toolkit.errors import (
    AuthorizationDeniedError,
    ConfigurationError,
    NonceMismatchError,
    NotFoundError,
    StateMismatchError,
)
from toolkit.http import create_client
from toolkit.installation import (
    NotAdministratorError,
    StoreTransactionStore,
    TenantMismatchError,
    tenant_of_state,
)
from toolkit.store import PutOutcome
from toolkit.workspace import Workspace

BASE = "https://sod.superoffice.com"
CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
CUSTOM_ID = "0a0b0c0d0e0f00112233445566778899"
REDIRECT = "https://partner.example/callback"
C = "http://schemes.superoffice.net/identity/"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "TESTKID"


class Clock:
    def __init__(self) -> None:
        self.current = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.current


class FakeSuperId:
    """Discovery, JWKS and a token endpoint answering with the id_token a test asks for."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.claims: dict[str, Any] = {}
        self.nonce: str | None = None
        self.token_requests: list[dict[str, list[str]]] = []

    def id_token(self, audience: str) -> str:
        iat = int(self.clock().timestamp())
        payload: dict[str, Any] = {
            "iss": BASE,
            "aud": audience,
            "sub": "admin@cust12345.test",
            "iat": iat,
            "nbf": iat - 60,
            "exp": iat + 300,
            "nonce": self.nonce,
            C + "ctx": "Cust12345",
            C + "serial": "1801550193",
            C + "associateid": "5",
            C + "is_administrator": "True",
            C + "company_name": "Tony's Developer Network",
            C + "webapi_url": f"{BASE}/Cust12345/api/",
            C + "netserver_url": f"{BASE}/Cust12345/Remote/Services88/",
            C + "system_token": "Acme Sync-AbCdEfGhIj",
        }
        payload.update(self.claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, SIGNING_KEY, "RS256", headers={"kid": KID})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/login/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": BASE,
                    "authorization_endpoint": f"{BASE}/login/common/oauth/authorize",
                    "token_endpoint": f"{BASE}/login/common/oauth/tokens",
                    "jwks_uri": f"{BASE}/login/.well-known/jwks",
                    "response_modes_supported": ["form_post", "fragment", "query"],
                },
            )
        if path == "/login/.well-known/jwks":
            numbers = SIGNING_KEY.public_key().public_numbers()
            jwk = {
                "kty": "RSA",
                "kid": KID,
                "use": "sig",
                "alg": "RS256",
                "n": to_base64url_uint(numbers.n).decode(),
                "e": to_base64url_uint(numbers.e).decode(),
            }
            return httpx.Response(200, json={"keys": [jwk]})
        if path == "/login/common/oauth/tokens":
            form = parse_qs(request.content.decode())
            self.token_requests.append(form)
            return httpx.Response(
                200,
                json={
                    "access_token": "8A:Cust12345.opaque",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "refresh_token": f"refresh-{len(self.token_requests)}",
                    "id_token": self.id_token(form["client_id"][0]),
                },
            )
        return httpx.Response(404)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def superid(clock: Clock) -> FakeSuperId:
    return FakeSuperId(clock)


@pytest.fixture
def ws(tmp_path: Path, clock: Clock, superid: FakeSuperId) -> Iterator[Workspace]:
    settings = Settings(home=migrated_home(tmp_path / "home"), _env_file=None)  # type: ignore[call-arg]
    with (
        create_client(transport=httpx.MockTransport(superid)) as http,
        Workspace.open(settings, http=http, now=clock) as workspace,
    ):
        for name, client_id, kind, tenant in (
            ("Acme Sync", CLIENT_ID, "standard", None),
            ("Acme Custom", CUSTOM_ID, "custom", "Cust12345"),
        ):
            workspace.applications.register(
                name=name,
                environment="sod",
                client_id=client_id,
                client_secret="83d0f3bcb9afbc7eb9d0682e9b86db52",
                redirect_uri=REDIRECT,
                kind=kind,
                tenant=tenant,
                actor="test",
            )
        yield workspace


def begin(ws: Workspace, superid: FakeSuperId, app: str = "Acme Sync", **kw: Any) -> dict[str, str]:
    url = ws.installations.begin(app, **kw)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    superid.nonce = query["nonce"]
    return query


def test_begin_builds_the_authorize_url_and_keeps_secrets_server_side(
    ws: Workspace, superid: FakeSuperId
) -> None:
    url = ws.installations.begin("Acme Sync", tenant="Cust12345")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/login/common/oauth/authorize"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT
    assert query["response_mode"] == "form_post"
    assert query["code_challenge_method"] == "S256"
    assert query["acr_values"] == "tenant:Cust12345"
    assert query["state"].endswith(".Cust12345")
    assert "code_verifier" not in query
    database = (Path(ws.settings.home) / "toolkit.db").read_bytes()
    assert query["state"].encode() not in database
    assert query["nonce"].encode() not in database


def test_begin_checks_its_input(ws: Workspace, superid: FakeSuperId) -> None:
    with pytest.raises(NotFoundError):
        ws.installations.begin("nobody")
    with pytest.raises(ConfigurationError):
        ws.installations.begin("Acme Sync", tenant="Cust12345/../x")
    with pytest.raises(ConfigurationError):
        ws.installations.begin("Acme Sync", response_mode="fragment")
    with pytest.raises(ConfigurationError):
        ws.installations.begin("Acme Sync", return_to="https://evil.example/")
    with pytest.raises(ConfigurationError, match="belongs to Cust12345"):
        ws.installations.begin("Acme Custom", tenant="Cust23456")
    forced = begin(ws, superid, "Acme Custom")
    assert forced["acr_values"] == "tenant:Cust12345"


def test_complete_creates_the_record(ws: Workspace, superid: FakeSuperId) -> None:
    query = begin(ws, superid, tenant="Cust12345", return_to="/done")
    result = ws.installations.complete({"state": query["state"], "code": "c1"})
    assert result.outcome is PutOutcome.CREATED
    assert result.return_to == "/done"
    record = result.authorization
    assert record.context_identifier == "Cust12345"
    assert record.approved_by == "admin@cust12345.test"
    assert record.approved_by_associate_id == 5
    assert record.approved_at == result.claims.issued_at
    assert record.system_user_token is not None
    assert record.system_user_token.reveal() == "Acme Sync-AbCdEfGhIj"
    assert record.refresh_token is not None
    assert record.refresh_token.reveal() == "refresh-1"
    assert C + "system_token" not in record.claims
    assert "nonce" not in record.claims
    assert record.claims[C + "ctx"] == "Cust12345"
    form = superid.token_requests[0]
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [REDIRECT]
    assert "code_verifier" in form
    assert "Acme Sync-AbCdEfGhIj" not in repr(result)


def test_state_is_single_use(ws: Workspace, superid: FakeSuperId) -> None:
    query = begin(ws, superid)
    ws.installations.complete({"state": query["state"], "code": "c1"})
    with pytest.raises(StateMismatchError):
        ws.installations.complete({"state": query["state"], "code": "c1"})
    with pytest.raises(StateMismatchError):
        ws.installations.complete({"state": "made-up", "code": "c1"})
    assert len(superid.token_requests) == 1


def test_expired_sign_in_is_refused(ws: Workspace, superid: FakeSuperId, clock: Clock) -> None:
    query = begin(ws, superid)
    clock.current += timedelta(minutes=11)
    with pytest.raises(StateMismatchError, match="expired"):
        ws.installations.complete({"state": query["state"], "code": "c1"})
    assert superid.token_requests == []


def test_tampered_tenant_in_state_is_unknown(ws: Workspace, superid: FakeSuperId) -> None:
    query = begin(ws, superid, tenant="Cust12345")
    forged = query["state"].rsplit(".", 1)[0] + ".Cust23456"
    with pytest.raises(StateMismatchError):
        ws.installations.complete({"state": forged, "code": "c1"})


def test_tenant_of_the_claims_must_be_the_requested_one(
    ws: Workspace, superid: FakeSuperId
) -> None:
    query = begin(ws, superid, tenant="Cust23456")
    with pytest.raises(TenantMismatchError) as caught:
        ws.installations.complete({"state": query["state"], "code": "c1"})
    assert (caught.value.expected, caught.value.actual) == ("Cust23456", "Cust12345")
    assert ws.repository.list_authorizations() == []
    assert ws.repository.list_audit(application="Acme Sync")[0].action == "install.refused"


def test_custom_app_claims_must_be_its_tenant(ws: Workspace, superid: FakeSuperId) -> None:
    query = begin(ws, superid, "Acme Custom")
    superid.claims = {C + "ctx": "Cust99999"}
    with pytest.raises(TenantMismatchError):
        ws.installations.complete({"state": query["state"], "code": "c1"})
    assert ws.repository.list_authorizations() == []


def test_wrong_nonce_is_refused(ws: Workspace, superid: FakeSuperId) -> None:
    query = begin(ws, superid)
    superid.nonce = "another-sign-in"
    with pytest.raises(NonceMismatchError):
        ws.installations.complete({"state": query["state"], "code": "c1"})
    assert ws.repository.list_authorizations() == []


@pytest.mark.parametrize("flag", ["False", None])
def test_non_admin_cannot_create(ws: Workspace, superid: FakeSuperId, flag: str | None) -> None:
    query = begin(ws, superid)
    superid.claims = {C + "is_administrator": flag, "sub": "user@cust12345.test"}
    with pytest.raises(NotAdministratorError):
        ws.installations.complete({"state": query["state"], "code": "c1"})
    assert ws.repository.list_authorizations() == []


def test_non_admin_refreshes_without_taking_over(
    ws: Workspace, superid: FakeSuperId, clock: Clock
) -> None:
    first = ws.installations.complete({"state": begin(ws, superid)["state"], "code": "c1"})
    clock.current += timedelta(minutes=1)
    superid.claims = {
        C + "is_administrator": "False",
        "sub": "user@cust12345.test",
        C + "associateid": "6",
        C + "system_token": "Acme Sync-NewNewNewN",
        C + "company_name": "Tony's Renamed Network",
    }
    second = ws.installations.complete({"state": begin(ws, superid)["state"], "code": "c2"})
    assert second.outcome is PutOutcome.UPDATED
    record = second.authorization
    assert record.approved_by == "admin@cust12345.test"
    assert record.approved_by_associate_id == 5
    assert record.approved_at == first.authorization.approved_at
    assert record.claims == first.authorization.claims
    assert record.company_name == "Tony's Renamed Network"
    assert record.system_user_token is not None
    assert record.system_user_token.reveal() == "Acme Sync-NewNewNewN"
    assert record.refresh_token is not None
    assert record.refresh_token.reveal() == "refresh-1"  # the administrator's


def test_denied_answer_consumes_the_state(ws: Workspace, superid: FakeSuperId) -> None:
    query = begin(ws, superid)
    with pytest.raises(AuthorizationDeniedError):
        ws.installations.complete({"state": query["state"], "error": "access_denied"})
    with pytest.raises(StateMismatchError):
        ws.installations.complete({"state": query["state"], "code": "c1"})
    event = ws.repository.list_audit(application="Acme Sync")[0]
    assert event.action == "install.refused"
    assert event.summary["reason"] == "access_denied"


def test_store_transaction_store_round_trip(ws: Workspace, clock: Clock) -> None:
    app = ws.applications.get("Acme Sync")
    store = StoreTransactionStore(ws.repository, app.id)
    transaction = SignInTransaction(
        state="s" * 43 + ".Cust12345",
        nonce="n" * 43,
        code_verifier="v" * 64,
        redirect_uri=REDIRECT,
        created_at=clock(),
        return_to="/after",
    )
    store.put(transaction)
    taken = store.take(transaction.state)
    assert (taken.nonce, taken.code_verifier, taken.tenant, taken.return_to) == (
        "n" * 43,
        "v" * 64,
        "Cust12345",
        "/after",
    )
    assert taken.extra["application_id"] == app.id
    with pytest.raises(StateMismatchError):
        store.take(transaction.state)
    other = StoreTransactionStore(ws.repository, ws.applications.get("Acme Custom").id)
    store.put(transaction)
    with pytest.raises(StateMismatchError):
        other.take(transaction.state)
    assert "n" * 43 not in json.dumps([repr(taken)])


def test_tenant_of_state() -> None:
    assert tenant_of_state("abc.Cust12345") == "Cust12345"
    assert tenant_of_state("abc") is None
    assert tenant_of_state("abc.evil") is None
