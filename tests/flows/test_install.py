"""Installing an application end to end, over real HTTP against the emulator.

/install (partner endpoint) → SuperID login + consent (the headless driver) → form_post to
/callback (posted by the test, as the browser would) → the authorization record in the store.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import EmulatorDriverError, SignInResult, sign_in
from toolkit.http import create_client
from toolkit.store import PutOutcome
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
CONSULTANT = "consultant@multi.test"
TENANT = "Cust12345"
APP = "Acme Sync"
TOKEN_PATH = "/login/common/oauth/tokens"


class Tamper(httpx.BaseTransport):
    """Forwards to the real network, rewriting the id_token of token-endpoint answers."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.rewrite: Callable[[str], str] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.rewrite is None or request.url.path != TOKEN_PATH:
            return response
        response.read()
        body = json.loads(response.content)
        if "id_token" in body:
            body["id_token"] = self.rewrite(body["id_token"])
        return httpx.Response(
            response.status_code, json=body, headers={"Cache-Control": "no-store"}
        )

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def tamper() -> Tamper:
    return Tamper()


@pytest.fixture
def workspace(tmp_path: Path, tamper: Tamper) -> Iterator[Workspace]:
    settings = Settings(home=tmp_path / "home", _env_file=None)  # type: ignore[call-arg]
    with create_client(transport=tamper) as http, Workspace.open(settings, http=http) as ws:
        yield ws


@pytest.fixture
def endpoints(workspace: Workspace) -> Iterator[PartnerEndpoints]:
    # No worker in this process: a test starts one when it wants queued work to run, so
    # "queued, nothing in the tenant yet" never races a worker's poll of the queue.
    with PartnerEndpoints(workspace, port=0, job_engine=False) as running:
        yield running


@pytest.fixture
def registered(emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints) -> str:
    workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        vendor="Acme AS",
        consent_text="Acme Sync reads your contacts.",
        actor="test",
    )
    return APP


def start_install(
    browser: httpx.Client, endpoints: PartnerEndpoints, app: str, tenant: str | None = None
) -> str:
    query = {"app": app} | ({"tenant": tenant} if tenant else {})
    response = browser.get(f"{endpoints.base_url}/install?{urlencode(query)}")
    assert response.status_code == 303, response.text
    return response.headers["location"]


def approve(
    authorize_url: str, username: str = ADMIN, tenant: str | None = None, approve: bool = True
) -> SignInResult:
    result = sign_in(authorize_url, username=username, tenant=tenant, approve=approve)
    assert result.response_mode == "form_post"
    return result


def deliver(browser: httpx.Client, result: SignInResult) -> httpx.Response:
    """What the browser does with SuperID's auto-submitting form."""
    assert result.form_action is not None
    return browser.post(result.form_action, data=result.params)


def install(
    browser: httpx.Client,
    endpoints: PartnerEndpoints,
    app: str = APP,
    username: str = ADMIN,
    tenant: str | None = None,
) -> httpx.Response:
    return deliver(browser, approve(start_install(browser, endpoints, app, tenant), username))


def field(page: str, name: str) -> str:
    marker = f'data-field="{name}">'
    start = page.index(marker) + len(marker)
    return page[start : page.index("</dd>", start)]


def test_full_install_stores_an_encrypted_system_user_token(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    location = start_install(browser, endpoints, registered, TENANT)
    query = dict(part.split("=", 1) for part in urlsplit(location).query.split("&"))
    assert query["response_mode"] == "form_post"
    assert query["code_challenge_method"] == "S256"
    assert query["acr_values"] == f"tenant%3A{TENANT}"

    result = approve(location)
    assert result.form_action == f"{endpoints.base_url}/callback"
    response = deliver(browser, result)

    assert response.status_code == 200, response.text
    page = response.text
    assert field(page, "tenant") == TENANT
    assert field(page, "company") == "Tony&#x27;s Developer Network"
    assert field(page, "application") == APP
    assert field(page, "approved by") == ADMIN
    assert field(page, "system user token stored") == "yes"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    # The installation page states its own policy: never framed, its nonce'd script only.
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"

    record = workspace.repository.get_authorization(APP, TENANT)
    assert record.approved_by == ADMIN
    assert record.approved_by_associate_id == 5
    assert record.company_name == "Tony's Developer Network"
    assert record.status == "active"
    assert record.system_user_token is not None
    token = record.system_user_token.reveal()
    assert token.startswith(f"{APP}-")
    assert token not in page
    assert record.refresh_token is not None
    claims = dict(record.claims)
    assert claims["sub"] == ADMIN
    assert "nonce" not in claims
    assert not any(name.endswith("/system_token") for name in claims)
    events = workspace.repository.list_audit(application=APP, context_identifier=TENANT)
    assert [e.action for e in events][:1] == ["authorization.created"]
    assert events[0].actor == "partner-endpoint"


def test_no_secret_in_database_files_or_logs(
    registered: str,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="toolkit")
    response = install(browser, endpoints)
    assert response.status_code == 200
    app = workspace.applications.get(APP)
    record = workspace.repository.get_authorization(APP, TENANT)
    assert record.system_user_token is not None
    assert app.private_key is not None
    pem = app.private_key.reveal()
    pem_body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    secrets = [
        record.system_user_token.reveal(),
        app.client_secret.reveal(),
        *pem_body[1:-1],  # full 64-character lines of the key body
    ]
    assert record.refresh_token is not None
    secrets.append(record.refresh_token.reveal())

    database = Path(workspace.settings.home) / "toolkit.db"
    files = [database, database.with_name("toolkit.db-wal")]
    assert files[1].exists()
    blobs = [path.read_bytes() for path in files if path.exists()]
    logs = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "install of" in logs  # the log was captured at all
    for secret in secrets:
        for blob in blobs:
            assert secret.encode() not in blob
        assert secret not in logs
        assert secret not in response.text


def test_replayed_callback_stores_nothing_more(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    result = approve(start_install(browser, endpoints, registered))
    assert deliver(browser, result).status_code == 200
    before = workspace.repository.get_authorization(APP, TENANT)

    replay = deliver(browser, result)

    assert replay.status_code == 400
    assert "unknown, expired or used" in replay.text
    assert replay.headers["cache-control"] == "no-store"
    after = workspace.repository.get_authorization(APP, TENANT)
    assert (after.updated_at, after.token_issued_at) == (before.updated_at, before.token_issued_at)
    assert len(workspace.repository.list_authorizations(APP)) == 1


def forge_with_other_key(id_token: str) -> str:
    payload = jwt.decode(id_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(id_token)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(payload, other, "RS256", headers={"kid": header["kid"]})


@pytest.mark.parametrize("kind", ["forged", "wrong_audience", "expired_token", "stripped"])
def test_bad_id_token_stores_nothing_and_shows_an_error_page(  # noqa: PLR0917 - fixtures
    kind: str,
    emu: Emulator,
    registered: str,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
    tamper: Tamper,
) -> None:
    def resign(**changes: Any) -> Callable[[str], str]:
        def rewrite(id_token: str) -> str:
            payload = jwt.decode(id_token, options={"verify_signature": False})
            payload.update(changes)
            return emu.keys.sign(payload)  # the emulator's real signing key

        return rewrite

    def strip_signature(id_token: str) -> str:
        _header, payload, _ = id_token.split(".")
        none = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        return f"{none}.{payload}."

    tamper.rewrite = {
        "forged": forge_with_other_key,
        "wrong_audience": resign(aud="0123456789abcdef0123456789abcdef"),
        "expired_token": resign(iat=1_600_000_000, nbf=1_599_999_940, exp=1_600_000_300),
        "stripped": strip_signature,
    }[kind]

    response = install(browser, endpoints)

    assert response.status_code == 400
    assert "Security token rejected" in response.text
    assert "eyJ" not in response.text
    assert "Traceback" not in response.text
    assert workspace.repository.list_authorizations() == []
    refused = workspace.repository.list_audit(application=APP)
    assert refused[0].action == "install.refused"


def test_expired_code_stores_nothing(
    emu: Emulator,
    registered: str,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    result = approve(start_install(browser, endpoints, registered))
    clock = httpx.post(f"{emu.base_url}/__emulator__/clock", json={"advance": 600}, timeout=10)
    assert clock.status_code == 200

    response = deliver(browser, result)

    assert response.status_code == 400
    assert "invalid_grant" in response.text
    assert workspace.repository.list_authorizations() == []


def test_token_issued_in_the_past_is_refused(
    emu: Emulator,
    registered: str,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    # SuperID's clock 20 minutes behind: its id_token (5 minute lifetime) arrives expired.
    httpx.post(f"{emu.base_url}/__emulator__/clock", json={"offset": -1200}, timeout=10)
    response = install(browser, endpoints)
    assert response.status_code == 400
    assert "(expired)" in response.text
    assert workspace.repository.list_authorizations() == []


def test_denied_consent_is_an_error_page(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    result = approve(start_install(browser, endpoints, registered), approve=False)
    assert result.params["error"] == "access_denied"
    response = deliver(browser, result)
    assert response.status_code == 400
    assert "access_denied" in response.text
    assert workspace.repository.list_authorizations() == []


def test_non_admin_cannot_approve(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    location = start_install(browser, endpoints, registered)
    with pytest.raises(EmulatorDriverError, match="Account does not have access"):
        sign_in(location, username=USER)
    assert workspace.repository.list_authorizations() == []


def test_non_admin_sign_in_refreshes_but_keeps_the_approver(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    assert install(browser, endpoints).status_code == 200
    approved = workspace.repository.get_authorization(APP, TENANT)

    response = install(browser, endpoints, username=USER)

    # The record is refreshed, but a user who is not an administrator gets no installation page.
    assert response.status_code == 403, response.text
    assert "Administrator required" in response.text
    record = workspace.repository.get_authorization(APP, TENANT)
    assert record.approved_by == ADMIN
    assert record.approved_at == approved.approved_at
    assert record.claims == approved.claims
    assert record.refresh_token is not None
    assert approved.refresh_token is not None
    assert record.refresh_token.reveal() == approved.refresh_token.reveal()
    assert len(workspace.repository.list_authorizations(APP)) == 1


def test_custom_app_installs_into_its_own_tenant_only(
    emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    workspace.applications.register_with_emulator(
        name="Acme Custom",
        emulator_url=emu.base_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        kind="custom",
        model="hybrid",
        tenant="Cust23456",
        actor="test",
    )
    wrong = browser.get(f"{endpoints.base_url}/install?app=Acme+Custom&tenant=Cust12345")
    assert wrong.status_code == 400

    # The App Manager activated the app, so SuperID shows no consent page; the administrator's
    # sign-in creates the record (acr_values picks the tenant for a multi-tenant user).
    location = start_install(browser, endpoints, "Acme Custom")
    assert "acr_values=tenant%3ACust23456" in location
    response = deliver(browser, approve(location, username=CONSULTANT, tenant="Cust23456"))
    assert response.status_code == 200, response.text
    record = workspace.repository.get_authorization("Acme Custom", "Cust23456")
    assert record.approved_by == CONSULTANT
    assert record.has_system_user_token


def test_custom_app_non_admin_creates_nothing(
    emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    workspace.applications.register_with_emulator(
        name="Acme Custom",
        emulator_url=emu.base_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        kind="custom",
        tenant=TENANT,
        actor="test",
    )
    response = install(browser, endpoints, app="Acme Custom", username=USER)
    assert response.status_code == 403
    assert "administrator" in response.text
    assert workspace.repository.list_authorizations() == []
    assert workspace.repository.list_audit(application="Acme Custom")[0].action == (
        "install.refused"
    )


def test_two_callbacks_for_one_tenant_at_once_leave_one_record(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    first = approve(start_install(browser, endpoints, registered))
    second = approve(start_install(browser, endpoints, registered))  # already approved: no consent
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post(result: SignInResult) -> None:
        with httpx.Client(timeout=10) as client:
            barrier.wait()
            statuses.append(deliver(client, result).status_code)

    threads = [threading.Thread(target=post, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert statuses == [200, 200]
    assert len(workspace.repository.list_authorizations(APP)) == 1
    outcomes = {e.action for e in workspace.repository.list_audit(application=APP)}
    assert "authorization.created" in outcomes


def test_outcome_of_a_second_install_is_an_update(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    assert install(browser, endpoints).status_code == 200
    response = install(browser, endpoints)
    assert field(response.text, "record") in (PutOutcome.UPDATED.value, "unchanged", "stale")
    assert len(workspace.repository.list_authorizations(APP)) == 1


MANIFEST = """
[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "https://partner.example.com/panel/{app}?uctx=<uctx>"
visible_in = "ContactCard"
window_name = "AcmeContact"
"""


def test_the_callback_provisions_an_application_with_a_manifest(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    from toolkit.jobs.engine import start_engine

    workspace.provisioning.set_manifest(registered, MANIFEST, actor="test")
    response = install(browser, endpoints, tenant=TENANT)
    assert response.status_code == 200, response.text
    # The request only queued the apply (no worker runs yet): nothing is in the tenant.
    queued = field(response.text, "provisioning")
    assert queued.startswith("queued (job install-"), queued
    # The installation page follows that run instead of offering Provision.
    assert 'data-state="queued"' in response.text
    assert 'id="run"' not in response.text
    job_id = queued.removeprefix("queued (job ").removesuffix(")")
    assert workspace.jobs.status(job_id) == "queued"
    assert workspace.tenants.system_user_api(registered, TENANT).app_web_panels() == []
    with start_engine(workspace, executor_id="install-test"):  # a worker picks it up
        done = workspace.jobs.follow(job_id)
    assert done.status == "succeeded", done
    panels = workspace.tenants.system_user_api(registered, TENANT).app_web_panels()
    assert [panel.prog_id for panel in panels] == ["acme.contact"]
    runs = workspace.provisioning.runs(registered, TENANT)
    assert [(run.actor, run.outcome) for run in runs] == [("partner-endpoint", "succeeded")]
    query = urlencode({"app": APP, "ctx": TENANT})
    page = browser.get(f"{endpoints.base_url}/installation?{query}")
    assert 'data-state="succeeded"' in page.text


def test_an_install_without_a_manifest_provisions_nothing(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    response = install(browser, endpoints, tenant=TENANT)
    assert field(response.text, "provisioning") == "no manifest"
    assert workspace.provisioning.runs(registered, TENANT) == []
