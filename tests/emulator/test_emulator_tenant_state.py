"""Tenant hosts, the 421 rule, moves and the state API (protocol §1 and §6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

CONTROL = "/__emulator__"
VALID_UNTIL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z")
STATES = {
    "Unknown": False,
    "Provisioning": False,
    "Running": True,
    "Deleted": False,
    "Suspended": False,
    "OnlineMaintenance": True,
    "OfflineMaintenance": False,
    "ProvisioningFailed": False,
    "Deleting": False,
    "DeleteFailed": False,
    "MigrationPending": False,
}
WRONG_SUBDOMAIN = "Wrong subdomain used to access tenant"
SystemUser = Any  # the `system_user` fixture of conftest.py


def valid_until(value: str) -> datetime:
    assert VALID_UNTIL.fullmatch(value), value
    return datetime.strptime(value[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def test_hosts_are_separate_listeners(emu: Emulator, http: httpx.Client) -> None:
    urls = emu.host_urls
    assert set(urls) == {"sod2", "sod3"}
    ports = {emu.port, *(int(u.rsplit(":", 1)[1]) for u in urls.values())}
    assert len(ports) == 3
    assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
    assert http.get(f"{CONTROL}/hosts").json() == {"login": emu.base_url, "hosts": urls}
    assert emu.tenant_url("Cust12345") == f"{urls['sod2']}/Cust12345"
    assert emu.tenant_url("Cust34567") == f"{urls['sod2']}/Cust34567"
    assert emu.tenant_url("Cust23456") == f"{urls['sod3']}/Cust23456"


def test_state_api_running_tenant(emu: Emulator, http: httpx.Client) -> None:
    response = http.get("/api/state/Cust12345")
    assert response.status_code == 200
    body = response.json()
    endpoint = f"{emu.host_urls['sod2']}/Cust12345"
    assert body == {
        "ContextIdentifier": "Cust12345",
        "Endpoint": endpoint,
        "State": "Running",
        "IsRunning": True,
        "ValidUntil": body["ValidUntil"],
        "Api": f"{endpoint}/api",
        "Version": "Release_11.10_2026.02.24-02",
    }
    now = datetime.now(UTC)
    assert 0 < (valid_until(body["ValidUntil"]) - now).total_seconds() <= 301
    # Path casing does not matter; the state API is the login host's, not a tenant host's.
    assert http.get("/API/State/cust12345").json()["ContextIdentifier"] == "Cust12345"
    on_tenant_host = http.get(f"{emu.host_urls['sod2']}/api/state/Cust12345")
    assert on_tenant_host.status_code == 404


def test_state_api_unknown_tenant(http: httpx.Client) -> None:
    # Open question 15: 200 with State Unknown, IsRunning false, no Endpoint/Api.
    response = http.get("/api/state/Cust99999")
    assert response.status_code == 200
    body = response.json()
    assert body["ContextIdentifier"] == "Cust99999"
    assert body["State"] == "Unknown"
    assert body["IsRunning"] is False
    assert body["Endpoint"] is None
    assert body["Api"] is None
    valid_until(body["ValidUntil"])


def test_is_running_per_state(emu: Emulator, http: httpx.Client) -> None:
    tenant_url = f"{emu.host_urls['sod2']}/Cust12345/api/v1/User/currentPrincipal"
    for state, running in STATES.items():
        response = http.post(f"{CONTROL}/tenants/Cust12345/state", json={"state": state})
        assert response.status_code == 200, response.text
        body = http.get("/api/state/Cust12345").json()
        assert (body["State"], body["IsRunning"]) == (state, running)
        ttl = (valid_until(body["ValidUntil"]) - datetime.now(UTC)).total_seconds()
        assert ttl <= (301 if running else 31)
        refused = http.get(tenant_url)  # no credentials: 401 when running, else 503
        assert refused.status_code == (401 if running else 503), state
        if not running:
            assert refused.json()["Error"] is True
            assert state in refused.json()["ErrorMessage"]
    assert http.post(f"{CONTROL}/tenants/Cust12345/state", json={"state": "Up"}).status_code == 400


def test_wrong_host_and_login_host_answer_421(emu: Emulator, http: httpx.Client) -> None:
    path = "/Cust12345/api/v1/User/currentPrincipal"
    for base in (emu.host_urls["sod3"], emu.base_url):
        response = http.get(base + path)
        assert response.status_code == 421
        body = response.json()
        assert body["ErrorMessage"] == WRONG_SUBDOMAIN
        assert set(body) == {"Error", "ErrorType", "ErrorMessage", "ErrorSource"}
    soap = http.post(f"{emu.host_urls['sod3']}/Cust12345/Remote/Services88/User.svc")
    assert soap.status_code == 421
    assert WRONG_SUBDOMAIN in soap.text
    assert http.get(f"{emu.host_urls['sod2']}{path}").status_code == 401  # the right host
    # Tenant hosts serve tenants only: no SuperID there.
    discovery = "/login/.well-known/openid-configuration"
    assert http.get(emu.host_urls["sod2"] + discovery).status_code == 404
    assert http.get(emu.host_urls["sod2"] + "/Cust99999/api/v1/List").status_code == 404


def test_move_old_host_answers_421_new_host_serves(
    emu: Emulator, http: httpx.Client, system_user: SystemUser, tenant_rest: Any
) -> None:
    ticket = system_user.ticket()
    secret = system_user.app["client_secret"]
    with tenant_rest(f"SOTicket {ticket}", secret) as before:
        assert before.get("/User/currentPrincipal").status_code == 200
        moved = http.post(f"{CONTROL}/tenants/Cust12345/move", json={"host": "sod3"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["tenant"]["host"] == "sod3"
        old = before.get("/User/currentPrincipal")
        assert old.status_code == 421
        assert old.json()["ErrorMessage"] == WRONG_SUBDOMAIN
    state = http.get("/api/state/Cust12345").json()
    assert state["Endpoint"] == f"{emu.host_urls['sod3']}/Cust12345"
    with tenant_rest(f"SOTicket {ticket}", secret) as after:
        assert after.get("/User/currentPrincipal").status_code == 200
    # The system user JWT now names the new host.
    payload = jwt.decode(system_user.jwt(), options={"verify_signature": False})
    prefix = "http://schemes.superoffice.net/identity/"
    assert payload[prefix + "webapi_url"] == f"{emu.host_urls['sod3']}/Cust12345/api/"
    same = http.post(f"{CONTROL}/tenants/Cust12345/move", json={"host": "sod3"})
    assert same.status_code == 400
    assert http.post(f"{CONTROL}/tenants/Cust12345/move", json={"host": "x"}).status_code == 400


def test_upgrade_with_offline_maintenance_ends_by_itself(emu: Emulator, http: httpx.Client) -> None:
    response = http.post(f"{CONTROL}/tenants/Cust12345/upgrade", json={"duration": 120})
    assert response.status_code == 200, response.text
    state = http.get("/api/state/Cust12345").json()
    assert (state["State"], state["IsRunning"]) == ("OfflineMaintenance", False)
    assert state["Version"] == "Release_11.10_2026.02.24-03"
    refused = http.get(f"{emu.host_urls['sod2']}/Cust12345/api/v1/List")
    assert refused.status_code == 503
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    http.post(f"{CONTROL}/clock", json={"advance": 121})
    assert http.get("/api/state/Cust12345").json()["State"] == "Running"
    emu.change_tenant("Cust12345", "Suspend", notify=False)
    assert http.get("/api/state/Cust12345").json()["State"] == "Suspended"
    emu.change_tenant("Cust12345", "Resume", notify=False)
    assert http.get("/api/state/Cust12345").json()["IsRunning"] is True
