"""The issue's load test on loopback: a burst of 1,000 state-change notifications for 200
tenants, sent to the partner endpoints as the toolkit serves them (a job engine in their
process), is answered within a few seconds without a 5xx (the request validates the token and
enqueues the notification's workflow) and each notification is then processed once by the
engine, also with redeliveries mixed in. Bounded in count and time; not a benchmark.

The 200 tenants' authorizations are seeded through the Repository (the install flow is not
what this test is about); SuperID's keys and the state API are a mock answering every tenant.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from dbos import DBOS
from support.notifications import settle_notifications
from support.partner import SOD_CLIENT_ID, open_workspace_at, register_sod_application

from toolkit.store import StateChangeOutcome
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

APP = "Acme Sync"
CLIENT_ID = SOD_CLIENT_ID
TENANTS = [f"Cust{20000 + n}" for n in range(200)]
PER_TENANT = 5  # 1,000 distinct notifications
REDELIVERED = 100  # of them sent twice, concurrently with the rest
# Bounds on the loopback run (the machine may be shared and slow), not performance targets:
# answering only validates and enqueues (issue 13: when each answer waited for its processing
# the burst took 21-29 s); the processing is the engine's, after the answers. Measured at a
# load average of 15-18 on 2 cores: answered in 56 s, processed in 196 s (SQLite: the enqueues
# wait behind the processing's writes).
ANSWER_SECONDS = 120.0
PROCESS_SECONDS = 480.0
KID = "superid-load"
ISSUER = "https://sod.superoffice.com"  # protocol §6: SuperID tokens of the tenant's environment
JWKS_URL = "https://sod.superoffice.com/login/.well-known/jwks"
STATE_URL = re.compile(r"^https://sod\.superoffice\.com/api/state/(Cust\d+)$")


class SuperOffice:
    """SuperID's JWKS and the state API for every tenant (each one Suspended)."""

    def __init__(self, key: RSAPrivateKey) -> None:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
        self.jwks = {"keys": [jwk]}
        self.state_calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == JWKS_URL:
            return httpx.Response(200, json=self.jwks)
        found = STATE_URL.match(url)
        if found is None:
            return httpx.Response(404)
        tenant = found.group(1)
        with self._lock:
            self.state_calls[tenant] += 1
        endpoint = f"https://sod2.superoffice.com/{tenant}"
        until = datetime.now(UTC) + timedelta(minutes=5)
        return httpx.Response(
            200,
            json={
                "ContextIdentifier": tenant,
                "Endpoint": endpoint,
                "State": "Suspended",
                "IsRunning": False,
                "ValidUntil": until.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                "Api": f"{endpoint}/api",
                "Version": "Release_11.10_2026.02.24-02",
            },
        )


@pytest.fixture(scope="module")
def superid_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def superoffice(superid_key: RSAPrivateKey) -> SuperOffice:
    return SuperOffice(superid_key)


@pytest.fixture
def workspace(tmp_path: Path, superoffice: SuperOffice) -> Iterator[Workspace]:
    with open_workspace_at(tmp_path / "home", transport=httpx.MockTransport(superoffice)) as ws:
        app = register_sod_application(ws, APP)
        issued = datetime.now(UTC)
        for tenant in TENANTS:
            ws.repository.put_authorization(
                app.id, tenant, token_issued_at=issued, system_user_token=f"sut-{tenant}"
            )
        yield ws


def notification(key: RSAPrivateKey, tenant: str, serial: int) -> bytes:
    iat = int(datetime.now(UTC).timestamp())
    claims = {"iss": ISSUER, "iat": iat, "nbf": iat - 60, "exp": iat + 600, "jti": f"j-{serial}"}
    return json.dumps(
        {
            "ChangeType": 2,  # Suspend
            "ContextIdentifier": tenant,
            "VersionName": "Release_11.10_2026.02.24-02",
            "FileVersion": "11.10.9012.0",
            "Token": jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID}),
            "PublicEndpoint": None,
        }
    ).encode()


@pytest.mark.timeout(600)
@pytest.mark.server
def test_a_burst_for_200_tenants_is_answered_and_each_notification_processed_once(
    workspace: Workspace, superoffice: SuperOffice, superid_key: RSAPrivateKey
) -> None:
    bodies = [
        notification(superid_key, tenant, n * len(TENANTS) + t)
        for n in range(PER_TENANT)
        for t, tenant in enumerate(TENANTS)
    ]
    # Redeliveries interleaved with first deliveries (same body and token).
    sends = bodies[:]
    for n, body in enumerate(bodies[:REDELIVERED]):
        sends.insert(2 * n + 1, body)
    with PartnerEndpoints(workspace) as endpoints:
        url = f"{endpoints.base_url}/state-change/{CLIENT_ID}"
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        with httpx.Client(limits=limits, timeout=120) as http:

            def send(body: bytes) -> int:
                headers = {"content-type": "application/json"}
                return http.post(url, content=body, headers=headers).status_code

            started = time.monotonic()
            with ThreadPoolExecutor(32) as pool:
                answers = Counter(pool.map(send, sends))
            took = time.monotonic() - started
        print(f"{len(sends)} notifications answered in {took:.1f} s")
        settle_notifications(PROCESS_SECONDS)
        processed = time.monotonic() - started
        print(f"... and processed {processed:.1f} s after the first was sent")
        workflows = [
            found
            for found in DBOS.list_workflows(name="sotk.state_change", load_input=False)
            if found.status == "SUCCESS"
        ]
    assert answers == Counter({200: len(sends)}), answers
    assert took < ANSWER_SECONDS
    # Each notification once: one workflow and one history row each, one state call each.
    assert len({found.workflow_id for found in workflows}) == len(bodies)
    history = workspace.tenant_events.history(application=APP, limit=10 * len(bodies))
    assert len(history) == len(bodies)
    assert Counter(change.context_identifier for change in history) == dict.fromkeys(
        TENANTS, PER_TENANT
    )
    assert sum(superoffice.state_calls.values()) <= len(bodies)
    # Five Suspends of one tenant: the first applies, the others change nothing (their order
    # at the store decides which is "stale" and which a "duplicate" state).
    assert {change.outcome for change in history} <= {
        StateChangeOutcome.APPLIED,
        StateChangeOutcome.DUPLICATE,
        StateChangeOutcome.STALE,
    }
    for tenant in TENANTS[:: len(TENANTS) // 10]:
        assert workspace.repository.get_authorization(APP, tenant).status == "suspended"
