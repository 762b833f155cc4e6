"""POST /state-change: SuperOffice's tenant webhook (protocol §6); a forged one changes nothing."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from toolkit.config import Settings
from toolkit.store import StateChangeOutcome
from toolkit.tenant_events import MAX_NOTIFICATION_BYTES
from toolkit.web import create_app
from toolkit.workspace import Workspace

APP = "Acme Sync"
CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
CTX = "Cust12345"
PREFIX = "http://schemes.superoffice.net/identity/"
JWKS_URL = "https://sod.superoffice.com/login/.well-known/jwks"
KID = "superid-1"
CHANGE = {"Upgrade": 0, "BackupRestored": 1, "Suspend": 2, "Resume": 3, "Delete": 4, "Move": 5}


@pytest.fixture(scope="module")
def superid_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SuperId:
    """The JWKS endpoint of sod, counting fetches; can be made unreachable."""

    def __init__(self, key: RSAPrivateKey) -> None:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
        self.jwks = {"keys": [jwk]}
        self.down = False
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == JWKS_URL and not self.down:
            self.fetches += 1
            return httpx.Response(200, json=self.jwks)
        return httpx.Response(503)


@pytest.fixture
def superid(superid_key: RSAPrivateKey) -> SuperId:
    return SuperId(superid_key)


@pytest.fixture
def workspace(tmp_path: Path, superid: SuperId) -> Iterator[Workspace]:
    settings = Settings(home=tmp_path / "home", _env_file=None)  # type: ignore[call-arg]
    with (
        httpx.Client(transport=httpx.MockTransport(superid)) as http,
        Workspace.open(settings, http=http) as ws,
    ):
        app = ws.applications.register(
            name=APP,
            environment="sod",
            client_id=CLIENT_ID,
            client_secret="83d0f3bcb9afbc7eb9d0682e9b86db52",
            redirect_uri="https://partner.example/callback",
            actor="test",
        )
        ws.repository.put_authorization(
            app.id, CTX, token_issued_at=datetime.now(UTC), system_user_token="secret-sut"
        )
        yield ws


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(workspace), raise_server_exceptions=False) as test_client:
        yield test_client


def token(key: RSAPrivateKey, change: int = 2, **overrides: Any) -> str:
    iat = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": "SuperOffice AS",
        "aud": f"spn:{CLIENT_ID}",
        "iat": iat,
        "nbf": iat - 60,
        "exp": iat + 300,
        "jti": f"jti-{change}-{iat}-{overrides.pop('jti_suffix', '')}",
        PREFIX + "ctx": CTX,
        PREFIX + "change_type": change,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def message(key: RSAPrivateKey, change: str = "Suspend", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ChangeType": CHANGE[change],
        "ContextIdentifier": CTX,
        "VersionName": "Release_11.10_2026.02.24-02",
        "FileVersion": "11.10.9012.0",
        "Token": token(key, CHANGE[change]),
        "PublicEndpoint": "sod3.superoffice.com" if change == "Move" else None,
    }
    body.update(fields)
    return body


def post(client: TestClient, body: Any) -> httpx.Response:
    return client.post("/state-change", content=json.dumps(body), headers=JSON)


JSON = {"content-type": "application/json"}


def snapshot(workspace: Workspace) -> tuple[Any, ...]:
    record = workspace.repository.get_authorization(APP, CTX)
    return (
        record.status,
        workspace.repository.get_tenant_state(APP, CTX),
        record.system_user_token.reveal() if record.system_user_token else None,
    )


def test_suspend_changes_the_status_and_is_audited(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    response = post(client, message(superid_key, "Suspend"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert workspace.repository.get_authorization(APP, CTX).status == "suspended"
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.state, state.source) == ("Suspended", "webhook")
    [change] = workspace.tenant_events.history(application=APP)
    assert (change.change_type, change.outcome) == ("Suspend", StateChangeOutcome.APPLIED)
    assert change.version_name == "Release_11.10_2026.02.24-02"
    events = workspace.repository.list_audit(application=APP, context_identifier=CTX)
    assert events[0].actor == "webhook"
    assert events[0].action == "tenant.state_changed"


def test_a_duplicate_is_idempotent(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    body = message(superid_key, "Suspend")
    assert post(client, body).status_code == 200
    before = snapshot(workspace)
    audit_before = len(workspace.repository.list_audit())
    assert post(client, body).status_code == 200
    assert snapshot(workspace) == before
    assert len(workspace.repository.list_audit()) == audit_before
    outcomes = [c.outcome.value for c in workspace.tenant_events.history()]
    assert outcomes == ["duplicate", "applied"]


def test_suspend_resume_delete_move_upgrade(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    assert post(client, message(superid_key, "Suspend")).status_code == 200
    assert post(client, message(superid_key, "Resume")).status_code == 200
    assert workspace.repository.get_authorization(APP, CTX).status == "active"
    assert post(client, message(superid_key, "Move")).status_code == 200
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert state.endpoint == "https://sod3.superoffice.com/Cust12345"
    assert state.api == "https://sod3.superoffice.com/Cust12345/api"
    assert state.state == "Running"
    upgrade = message(superid_key, "Upgrade", VersionName="Release_11.11")
    assert post(client, upgrade).status_code == 200
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert state.version == "Release_11.11"
    assert post(client, message(superid_key, "BackupRestored")).status_code == 200
    assert post(client, message(superid_key, "Delete")).status_code == 200
    assert workspace.repository.get_authorization(APP, CTX).status == "deleted"
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert state.state == "Deleted"
    changes = [c.change_type for c in workspace.tenant_events.history()]
    assert changes == ["Delete", "BackupRestored", "Upgrade", "Move", "Resume", "Suspend"]


def test_resume_does_not_undo_a_revocation(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    workspace.repository.set_authorization_status(APP, CTX, "revoked", actor="test")
    assert post(client, message(superid_key, "Resume")).status_code == 200
    assert workspace.repository.get_authorization(APP, CTX).status == "revoked"


def forged(attacker: RSAPrivateKey, genuine: RSAPrivateKey) -> list[tuple[str, dict[str, Any]]]:
    base = message(genuine, "Delete")
    return [
        ("signature", {**base, "Token": token(attacker, 4)}),
        ("issuer", {**base, "Token": token(genuine, 4, iss="https://sod.superoffice.com")}),
        ("expired", {**base, "Token": token(genuine, 4, exp=1_600_000_000, iat=1_599_999_000)}),
        ("context", {**base, "Token": token(genuine, 4, **{PREFIX + "ctx": "Cust54321"})}),
        ("notification", {**base, "Token": token(genuine, 2)}),  # a Suspend token as Delete
        (
            "unknown_tenant",
            {
                **base,
                "ContextIdentifier": "Cust99999",
                "Token": token(genuine, 4, **{PREFIX + "ctx": "Cust99999"}),
            },
        ),
    ]


def test_forged_webhooks_change_nothing(
    client: TestClient,
    workspace: Workspace,
    superid_key: RSAPrivateKey,
    attacker_key: RSAPrivateKey,
) -> None:
    before = snapshot(workspace)
    for reason, body in forged(attacker_key, superid_key):
        response = post(client, body)
        assert response.status_code == 401, reason
        assert response.json() == {"error": "unauthorized"}, reason
        assert snapshot(workspace) == before, reason
    history = workspace.tenant_events.history()
    assert [c.outcome for c in history] == [StateChangeOutcome.REJECTED] * 6
    assert [c.reason for c in reversed(history)] == [
        r for r, _ in forged(attacker_key, superid_key)
    ]
    assert all("Token" not in str(c) for c in history)


def test_an_unknown_application_leaves_no_history(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    for aud in (f"spn:{'0' * 32}", CLIENT_ID, None):
        body = message(superid_key, "Delete", Token=token(superid_key, 4, aud=aud))
        response = post(client, body)
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
    assert workspace.tenant_events.history() == []
    assert workspace.repository.get_authorization(APP, CTX).status == "active"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"ChangeType": 2, "ContextIdentifier": CTX}),
        json.dumps({"ChangeType": 9, "ContextIdentifier": CTX, "Token": "a.b.c"}),
        json.dumps({"ChangeType": True, "ContextIdentifier": CTX, "Token": "a.b.c"}),
        json.dumps({"ChangeType": 2, "ContextIdentifier": "../etc", "Token": "a.b.c"}),
        json.dumps({"ChangeType": 5, "ContextIdentifier": CTX, "Token": "a.b.c"}),
        json.dumps(
            {
                "ChangeType": 5,
                "ContextIdentifier": CTX,
                "Token": "a.b.c",
                "PublicEndpoint": "https://evil.example/x",
            }
        ),
    ],
)
def test_malformed_bodies_are_400(client: TestClient, workspace: Workspace, body: str) -> None:
    response = client.post("/state-change", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request"}
    assert workspace.tenant_events.history() == []


def test_content_type_size_and_method(client: TestClient, superid_key: RSAPrivateKey) -> None:
    body = json.dumps(message(superid_key))
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/state-change", content=body, headers=form).status_code == 415
    assert client.post("/state-change", content=body).status_code == 415
    large = b'{"pad": "' + b"a" * MAX_NOTIFICATION_BYTES + b'"}'
    response = client.post("/state-change", content=large, headers=JSON)
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b"a" * 1024

    response = client.post("/state-change", content=chunks(), headers=JSON)
    assert response.status_code == 413
    response = client.get("/state-change")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}
    assert response.headers["allow"] == "POST"


def test_keys_unavailable_is_503_and_changes_nothing(
    client: TestClient, workspace: Workspace, superid: SuperId, superid_key: RSAPrivateKey
) -> None:
    superid.down = True
    response = post(client, message(superid_key, "Delete"))
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable"}
    assert workspace.repository.get_authorization(APP, CTX).status == "active"
    assert workspace.tenant_events.history() == []  # our outage, not the sender's fault


def test_no_secret_in_answers_or_logs(
    client: TestClient,
    workspace: Workspace,
    superid_key: RSAPrivateKey,
    attacker_key: RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    bodies = [message(superid_key)] + [b for _, b in forged(attacker_key, superid_key)]
    for body in bodies:
        response = post(client, body)
        assert body["Token"] not in response.text
        assert body["Token"] not in caplog.text
    assert "secret-sut" not in caplog.text


def test_an_old_notification_is_stale(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    now = int(datetime.now(UTC).timestamp())
    newer = message(superid_key, "Resume", Token=token(superid_key, 3, iat=now, jti_suffix="n"))
    older = message(
        superid_key, "Suspend", Token=token(superid_key, 2, iat=now - 30, jti_suffix="o")
    )
    assert post(client, newer).status_code == 200
    assert post(client, older).status_code == 200
    assert workspace.repository.get_authorization(APP, CTX).status == "active"
    assert workspace.tenant_events.history()[0].outcome is StateChangeOutcome.STALE
