"""POST /state-change/{client_id}: SuperOffice's tenant webhook (protocol §6).

The token is a SuperID token (issuer https://{env}.superoffice.com, SuperID's keys, audience
checked only when present); the body is a signal that the state API must confirm before
anything changes (open question 16). A forged one changes nothing.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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

from support.partner import (
    SOD_CLIENT_ID,
    app_client,
    authorized_sod_application,
    open_workspace_at,
)

from toolkit.store import StateChangeOutcome
from toolkit.tenant_events import MAX_NOTIFICATION_BYTES
from toolkit.workspace import Workspace

APP = "Acme Sync"
CLIENT_ID = SOD_CLIENT_ID
CTX = "Cust12345"
PREFIX = "http://schemes.superoffice.net/identity/"
# SuperOffice's sample's ValidIssuer: SuperOfficeDocs docs/apps/tenant-status/includes/
# api-controller.md.
ISSUER = "https://sod.superoffice.com"
JWKS_URL = "https://sod.superoffice.com/login/.well-known/jwks"
STATE_URL = f"https://sod.superoffice.com/api/state/{CTX}"
URL = f"/state-change/{CLIENT_ID}"
SOD2 = f"https://sod2.superoffice.com/{CTX}"
KID = "superid-1"
CHANGE = {"Upgrade": 0, "BackupRestored": 1, "Suspend": 2, "Resume": 3, "Delete": 4, "Move": 5}
RUNNING = {"Running": True, "OnlineMaintenance": True}


@pytest.fixture(scope="module")
def superid_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SuperOffice:
    """sod's JWKS and state API; each can be made unreachable, the state API's answer is set."""

    def __init__(self, key: RSAPrivateKey) -> None:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
        self.jwks = {"keys": [jwk]}
        self.keys_down = False
        self.state_down = False
        self.state = "Running"
        self.endpoint = SOD2
        self.version = "Release_11.10_2026.02.24-02"
        self.state_calls = 0

    def tenant(self, state: str, endpoint: str = SOD2, version: str | None = None) -> None:
        self.state, self.endpoint = state, endpoint
        self.version = version or self.version

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == JWKS_URL and not self.keys_down:
            return httpx.Response(200, json=self.jwks)
        if url == STATE_URL and not self.state_down:
            self.state_calls += 1
            until = datetime.now(UTC) + timedelta(minutes=5)
            return httpx.Response(
                200,
                json={
                    "ContextIdentifier": CTX,
                    "Endpoint": self.endpoint,
                    "State": self.state,
                    "IsRunning": RUNNING.get(self.state, False),
                    "ValidUntil": until.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                    "Api": f"{self.endpoint}/api",
                    "Version": self.version,
                },
            )
        return httpx.Response(503)


@pytest.fixture
def superoffice(superid_key: RSAPrivateKey) -> SuperOffice:
    return SuperOffice(superid_key)


@pytest.fixture
def workspace(tmp_path: Path, superoffice: SuperOffice) -> Iterator[Workspace]:
    with open_workspace_at(tmp_path / "home", transport=httpx.MockTransport(superoffice)) as ws:
        authorized_sod_application(ws, CTX, APP)
        yield ws


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    with app_client(workspace) as test_client:
        yield test_client


_serial = iter(range(1_000_000))


def token(key: RSAPrivateKey, **overrides: Any) -> str:
    """A SuperID-issued notification token: no aud, nothing binding it to the body."""
    iat = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": iat,
        "nbf": iat - 60,
        "exp": iat + 300,
        "jti": f"jti-{next(_serial)}",
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
        "Token": token(key),
        "PublicEndpoint": "sod3.superoffice.com" if change == "Move" else None,
    }
    body.update(fields)
    return body


JSON = {"content-type": "application/json"}


def post(client: TestClient, body: Any, url: str = URL) -> httpx.Response:
    return client.post(url, content=json.dumps(body), headers=JSON)


def status(workspace: Workspace) -> str:
    return workspace.repository.get_authorization(APP, CTX).status


def snapshot(workspace: Workspace) -> tuple[Any, ...]:
    record = workspace.repository.get_authorization(APP, CTX)
    return (
        record.status,
        workspace.repository.get_tenant_state(APP, CTX),
        record.system_user_token.reveal() if record.system_user_token else None,
    )


def outcomes(workspace: Workspace) -> list[tuple[str, str | None]]:
    """(outcome, reason) of every received notification, oldest first."""
    return [(c.outcome.value, c.reason) for c in reversed(workspace.tenant_events.history())]


def test_a_suspend_confirmed_by_the_state_api_is_applied(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    superoffice.tenant("Suspended")
    response = post(client, message(superid_key, "Suspend"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert status(workspace) == "suspended"
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.state, state.source, state.endpoint) == ("Suspended", "webhook", SOD2)
    assert state.valid_until is not None  # the state API's answer, with its ValidUntil
    [change] = workspace.tenant_events.history(application=APP)
    assert (change.change_type, change.outcome) == ("Suspend", StateChangeOutcome.APPLIED)
    assert change.version_name == "Release_11.10_2026.02.24-02"
    events = workspace.repository.list_audit(application=APP, context_identifier=CTX)
    assert events[0].actor == "webhook"
    assert events[0].action == "tenant.state_changed"
    assert superoffice.state_calls == 1


@pytest.mark.parametrize("change", ["Suspend", "Delete"])
def test_a_notification_for_a_running_tenant_is_recorded_and_not_applied(
    client: TestClient,
    workspace: Workspace,
    superoffice: SuperOffice,
    superid_key: RSAPrivateKey,
    change: str,
) -> None:
    # A genuine token with a replayed or altered body: the state API says Running.
    assert post(client, message(superid_key, change)).status_code == 200
    assert status(workspace) == "active"
    assert outcomes(workspace) == [("unconfirmed", "state_api:Running")]
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.state, state.endpoint) == ("Running", SOD2)  # what the state API said
    events = workspace.repository.list_audit(application=APP, context_identifier=CTX)
    assert events[0].action == "tenant.state_change_unconfirmed"
    assert events[0].summary["state"] == "Running"


def test_an_altered_move_does_not_move_a_tenant_running_where_it_was(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    body = message(superid_key, "Move", PublicEndpoint="evil.example")
    assert post(client, body).status_code == 200
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert state.endpoint == SOD2
    assert outcomes(workspace) == [("unconfirmed", "state_api:Running")]


def test_a_move_applies_the_state_apis_endpoint(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    # The state API's Endpoint (an older answer's form, with :443) is what is kept, not one
    # built from PublicEndpoint.
    moved = f"https://sod3.superoffice.com:443/{CTX}"
    superoffice.tenant("Running", endpoint=moved)
    assert post(client, message(superid_key, "Move")).status_code == 200
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.endpoint, state.api) == (moved, f"{moved}/api")
    assert outcomes(workspace) == [("applied", None)]
    assert status(workspace) == "active"


def test_the_lifecycle_follows_the_state_api(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    superoffice.tenant("Suspended")
    assert post(client, message(superid_key, "Suspend")).status_code == 200
    superoffice.tenant("Running")
    assert post(client, message(superid_key, "Resume")).status_code == 200
    assert status(workspace) == "active"
    superoffice.tenant("OfflineMaintenance", version="Release_11.11")
    upgrade = message(superid_key, "Upgrade", VersionName="Release_11.11")
    assert post(client, upgrade).status_code == 200
    state = workspace.repository.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.state, state.version) == ("OfflineMaintenance", "Release_11.11")
    superoffice.tenant("Deleted")
    assert post(client, message(superid_key, "Delete")).status_code == 200
    assert status(workspace) == "deleted"
    changes = [(c.change_type, c.outcome.value) for c in workspace.tenant_events.history()]
    assert changes == [
        ("Delete", "applied"),
        ("Upgrade", "applied"),
        ("Resume", "applied"),
        ("Suspend", "applied"),
    ]


def test_resume_does_not_undo_a_revocation(
    client: TestClient, workspace: Workspace, superid_key: RSAPrivateKey
) -> None:
    workspace.repository.set_authorization_status(APP, CTX, "revoked", actor="test")
    assert post(client, message(superid_key, "Resume")).status_code == 200
    assert status(workspace) == "revoked"


def test_a_redelivery_is_idempotent_and_asks_nothing(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    superoffice.tenant("Suspended")
    body = message(superid_key, "Suspend")
    assert post(client, body).status_code == 200
    before = snapshot(workspace)
    audit_before = len(workspace.repository.list_audit())
    assert post(client, body).status_code == 200
    assert snapshot(workspace) == before
    assert len(workspace.repository.list_audit()) == audit_before
    assert outcomes(workspace) == [("applied", None), ("duplicate", "redelivered")]
    assert superoffice.state_calls == 1


def test_an_audience_is_accepted_when_it_names_the_application(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    superoffice.tenant("Suspended")
    body = message(superid_key, "Suspend", Token=token(superid_key, aud=CLIENT_ID))
    assert post(client, body).status_code == 200
    assert status(workspace) == "suspended"


def forged(attacker: RSAPrivateKey, genuine: RSAPrivateKey) -> list[tuple[str, dict[str, Any]]]:
    base = message(genuine, "Delete")
    return [
        ("signature", {**base, "Token": token(attacker)}),
        # The token both sides used before issue 11.
        ("issuer", {**base, "Token": token(genuine, iss="SuperOffice AS", aud=f"spn:{CLIENT_ID}")}),
        ("issuer", {**base, "Token": token(genuine, iss="https://online.superoffice.com")}),
        ("audience", {**base, "Token": token(genuine, aud="0" * 32)}),
        ("expired", {**base, "Token": token(genuine, exp=1_600_000_000, iat=1_599_999_000)}),
        ("context", {**base, "Token": token(genuine, **{PREFIX + "ctx": "Cust54321"})}),
        ("notification", {**base, "Token": token(genuine, **{PREFIX + "change_type": 2})}),
        ("unknown_tenant", {**base, "ContextIdentifier": "Cust99999", "Token": token(genuine)}),
    ]


def test_forged_webhooks_change_nothing_and_ask_nothing(
    client: TestClient,
    workspace: Workspace,
    superoffice: SuperOffice,
    superid_key: RSAPrivateKey,
    attacker_key: RSAPrivateKey,
) -> None:
    superoffice.tenant("Deleted")  # even a state API that would confirm is never asked
    before = snapshot(workspace)
    cases = forged(attacker_key, superid_key)
    for reason, body in cases:
        response = post(client, body)
        assert response.status_code == 401, reason
        assert response.json() == {"error": "unauthorized"}, reason
        assert snapshot(workspace) == before, reason
    assert outcomes(workspace) == [("rejected", reason) for reason, _ in cases]
    assert all("Token" not in str(c) for c in workspace.tenant_events.history())
    assert superoffice.state_calls == 0


def test_the_url_names_the_application(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    assert workspace.state_change_url(APP) == f"http://127.0.0.1:8000/state-change/{CLIENT_ID}"
    unknown = post(client, message(superid_key), url=f"/state-change/{'0' * 32}")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown_application"}
    assert workspace.tenant_events.history() == []
    # One application: the bare URL is that application's.
    superoffice.tenant("Suspended")
    assert post(client, message(superid_key), url="/state-change").status_code == 200
    assert status(workspace) == "suspended"
    # Two: the bare URL cannot tell which is meant.
    workspace.applications.register(
        name="Other App",
        environment="sod",
        client_id="0" * 32,
        client_secret="1" * 32,
        redirect_uri="https://partner.example/callback",
        actor="test",
    )
    ambiguous = post(client, message(superid_key), url="/state-change")
    assert ambiguous.status_code == 409
    assert ambiguous.json() == {"error": "ambiguous_application"}
    assert len(workspace.tenant_events.history()) == 1
    wrong_method = client.get(URL)
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "method_not_allowed"}


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
    response = client.post(URL, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request"}
    assert workspace.tenant_events.history() == []


def test_content_type_size_and_method(client: TestClient, superid_key: RSAPrivateKey) -> None:
    body = json.dumps(message(superid_key))
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post(URL, content=body, headers=form).status_code == 415
    assert client.post(URL, content=body).status_code == 415
    large = b'{"pad": "' + b"a" * MAX_NOTIFICATION_BYTES + b'"}'
    response = client.post(URL, content=large, headers=JSON)
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b"a" * 1024

    response = client.post(URL, content=chunks(), headers=JSON)
    assert response.status_code == 413
    response = client.get("/state-change")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed"}
    assert response.headers["allow"] == "POST"


def test_keys_unavailable_is_503_and_changes_nothing(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    superoffice.keys_down = True
    response = post(client, message(superid_key, "Delete"))
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable"}
    assert status(workspace) == "active"
    assert workspace.tenant_events.history() == []  # our outage, not the sender's fault


def test_state_api_unavailable_is_accepted_unconfirmed_and_checked_again_on_redelivery(
    client: TestClient, workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    superoffice.state_down = True
    body = message(superid_key, "Suspend")
    assert post(client, body).status_code == 200
    assert status(workspace) == "active"
    assert workspace.repository.get_tenant_state(APP, CTX) is None
    assert outcomes(workspace) == [("unconfirmed", "state_api_unavailable")]
    # Delivered again once the state API answers: now confirmed and applied.
    superoffice.state_down = False
    superoffice.tenant("Suspended")
    assert post(client, body).status_code == 200
    assert status(workspace) == "suspended"
    assert outcomes(workspace)[-1] == ("applied", None)


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
