"""Control plane, world persistence and robustness (no tracebacks, strict input)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in

pytestmark = pytest.mark.emulator

REDIRECT = "http://127.0.0.1:8000/callback"
CONTROL = "/__emulator__"


def test_default_world(http: httpx.Client) -> None:
    tenants = {t["ctx"]: t for t in http.get(f"{CONTROL}/tenants").json()["tenants"]}
    assert tenants["Cust12345"]["company_name"] == "Tony's Developer Network"
    assert tenants["Cust12345"]["serial"] == "1801550193"
    assert tenants["Cust23456"]["company_name"] == "Nordic Bikes AS"
    assert tenants["Cust23456"]["serial"] == "2087315043"
    assert tenants["Cust34567"]["company_name"] == "Acme Consulting"
    assert tenants["Cust34567"]["serial"] == "1122334455"
    assert all("host" in t for t in tenants.values())
    users = {u["username"]: u for u in http.get(f"{CONTROL}/users").json()["users"]}
    assert set(users) == {
        "admin@cust12345.test",
        "user@cust12345.test",
        "admin@cust23456.test",
        "user@cust34567.test",
        "admin@cust34567.test",
        "consultant@multi.test",
    }
    assert all("password" not in u for u in users.values())
    consultant = users["consultant@multi.test"]["memberships"]
    assert {m["ctx"] for m in consultant} == {"Cust12345", "Cust23456"}
    assert all(m["is_administrator"] for m in consultant)
    assert http.get(f"{CONTROL}/apps").json() == {"apps": []}


def test_register_app_over_http_and_sign_in(emu: Emulator, http: httpx.Client, flow: Any) -> None:
    response = http.post(
        f"{CONTROL}/apps",
        json={"name": "Http App", "redirect_urls": [REDIRECT], "vendor": "V"},
    )
    assert response.status_code == 201
    creds = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", creds["client_secret"])
    listed = http.get(f"{CONTROL}/apps").json()["apps"]
    assert [a["client_id"] for a in listed] == [creds["client_id"]]
    assert "client_secret" not in json.dumps(listed)
    assert "PRIVATE KEY" not in json.dumps(http.get(f"{CONTROL}/state").json())
    result = sign_in(flow.authorize_url(creds["client_id"]))
    assert flow.exchange(creds, result.params["code"]).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/apps", {"name": "", "redirect_urls": [REDIRECT]}),
        ("/apps", {"name": "x", "redirect_urls": ["not a url"]}),
        ("/apps", {"name": "x", "redirect_urls": [REDIRECT], "kind": "weird"}),
        ("/apps", {"name": "x", "redirect_urls": [REDIRECT], "bogus": 1}),
        ("/apps", {"name": "x", "redirect_urls": [REDIRECT], "kind": "custom", "tenant": "X"}),
        ("/tenants", {"ctx": "Nope1", "company_name": "c", "serial": "1"}),
        ("/tenants", {"ctx": "Cust99999"}),
        ("/users", {"username": "x@y.test", "password": "p", "memberships": [{"ctx": "Cust1"}]}),
        ("/clock", {"offset": "soon"}),
        ("/clock", {"frozen_at": "yesterday"}),
        ("/quirks", {"iat_as_string": "yes"}),
        ("/seed", {"tenants": "not a list"}),
        ("/apps/unknown/activate", {"tenant": "Cust12345", "approved_by": "a@b.test"}),
    ],
)
def test_bad_control_input_is_json_400(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = http.post(CONTROL + path, json=body)
    assert response.status_code in (400, 404)
    assert set(response.json()) == {"error", "detail"}


def test_add_tenant_and_user(emu: Emulator, http: httpx.Client, flow: Any) -> None:
    tenant = {"ctx": "Cust55555", "company_name": "Fjord AS", "serial": "5555555555"}
    assert http.post(f"{CONTROL}/tenants", json=tenant).status_code == 201
    assert http.post(f"{CONTROL}/tenants", json=tenant).status_code == 409
    user = {
        "username": "boss@fjord.test",
        "password": "pw-1",
        "memberships": [
            {"ctx": "Cust55555", "is_administrator": True, "associate_id": 9, "initials": "BF"}
        ],
    }
    assert http.post(f"{CONTROL}/users", json=user).status_code == 201
    app = emu.register_app(name="Fjord App", redirect_urls=[REDIRECT])
    result = sign_in(
        flow.authorize_url(app["client_id"]), username="boss@fjord.test", password="pw-1"
    )
    body = flow.exchange(app, result.params["code"]).json()
    assert body["access_token"].startswith("8A:Cust55555.")


def test_state_export_and_seed_round_trip(emu: Emulator, http: httpx.Client, app: Any) -> None:
    state = http.get(f"{CONTROL}/state").json()
    assert [a["client_id"] for a in state["apps"]] == [app["client_id"]]
    assert http.post(f"{CONTROL}/reset").status_code == 200
    assert http.get(f"{CONTROL}/apps").json() == {"apps": []}
    assert http.post(f"{CONTROL}/seed", json=state).status_code == 200
    assert http.get(f"{CONTROL}/state").json() == state


def test_state_file_survives_restart(tmp_path: Path, flow: Any, http: httpx.Client) -> None:
    state_file = tmp_path / "state.json"
    with Emulator(port=0, state_file=state_file) as first:
        app = first.register_app(name="Persisted", redirect_urls=[REDIRECT])
        flow.emu = first
        _, tokens = flow.sign_in_and_exchange(app)
        kid = http.get(f"{first.base_url}/login/.well-known/jwks").json()["keys"][0]["kid"]
    assert state_file.exists()
    with Emulator(port=0, state_file=state_file) as second:
        assert http.get(f"{second.base_url}/login/.well-known/jwks").json()["keys"][0]["kid"] == kid
        refreshed = http.post(
            f"{second.base_url}/login/common/oauth/tokens",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(app["client_id"], app["client_secret"]),
        )
        assert refreshed.status_code == 200, refreshed.text


def test_seed_file(tmp_path: Path, http: httpx.Client) -> None:
    seed = {
        "tenants": [{"ctx": "Cust77777", "company_name": "Seeded", "serial": "7"}],
        "users": [
            {
                "username": "only@seed.test",
                "password": "pw",
                "memberships": [
                    {
                        "ctx": "Cust77777",
                        "is_administrator": True,
                        "associate_id": 1,
                        "initials": "O",
                    }
                ],
            }
        ],
        "apps": [
            {
                "client_id": "a" * 32,
                "client_secret": "b" * 32,
                "name": "Seeded App",
                "redirect_urls": [REDIRECT],
            }
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with Emulator(port=0, seed=path) as emu:
        tenants = http.get(f"{emu.base_url}{CONTROL}/tenants").json()["tenants"]
        assert [t["ctx"] for t in tenants] == ["Cust77777"]
        http.post(f"{emu.base_url}{CONTROL}/tenants", json={**seed["tenants"][0], "ctx": "Cust1"})
        http.post(f"{emu.base_url}{CONTROL}/reset")
        assert len(http.get(f"{emu.base_url}{CONTROL}/tenants").json()["tenants"]) == 1
        url = (
            f"{emu.base_url}/login/common/oauth/authorize?client_id={'a' * 32}"
            f"&redirect_uri={REDIRECT}&response_type=code&scope=openid"
        )
        code = sign_in(url, username="only@seed.test", password="pw").params["code"]
        response = http.post(
            f"{emu.base_url}/login/common/oauth/tokens",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=("a" * 32, "b" * 32),
        )
        assert response.status_code == 200


def test_clock_control(http: httpx.Client) -> None:
    before = http.get(f"{CONTROL}/clock").json()
    moved = http.post(f"{CONTROL}/clock", json={"offset": 3600}).json()
    assert moved["offset"] == 3600
    assert moved["now"] >= before["now"] + 3599
    frozen = http.post(f"{CONTROL}/clock", json={"frozen_at": 1000, "advance": 5}).json()
    assert frozen["now"] == 1005
    assert http.post(f"{CONTROL}/reset").status_code == 200
    assert http.get(f"{CONTROL}/clock").json()["frozen_at"] is None


def test_unknown_paths_and_wrong_methods(http: httpx.Client) -> None:
    # Paths the emulator does not implement: 501 not_emulated (test_emulator_not_emulated).
    assert http.get("/nowhere").status_code == 501
    assert http.get("/login/nowhere").headers["x-emulator"] == "not-emulated"
    assert http.get("/__emulator__/nowhere").status_code == 404  # the control plane's own
    wrong = http.get("/login/common/oauth/tokens")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
    assert http.delete(f"{CONTROL}/state").status_code == 405
    unknown_tenant = http.get("/login/Cust00001/oauth/authorize")
    assert unknown_tenant.status_code == 404


def test_oversized_and_malformed_bodies(http: httpx.Client) -> None:
    big = http.post(
        "/login/common/oauth/tokens",
        content=b"a=" + b"x" * 200_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    assert big.json()["error"] == "invalid_request"
    wrong_type = http.post(
        "/login/common/oauth/tokens", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 400
    repeated = http.post(
        "/login/common/oauth/tokens",
        content=b"grant_type=a&grant_type=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"
    bad_utf8 = http.post(
        "/login/common/oauth/tokens",
        content=b"code=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad_utf8.status_code == 400
    bad_json = http.post(f"{CONTROL}/seed", content=b"{not json")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"] == "invalid_json"
    array_json = http.post(f"{CONTROL}/users", content=b"[1, 2]")
    assert array_json.status_code == 400
    expired_form = http.post(
        "/login/common/oauth/authorize/consent", data={"txn": "nope", "csrf": "x"}
    )
    assert expired_form.status_code == 400
    assert "expired" in expired_form.text
    for response in (big, wrong_type, repeated, bad_utf8, bad_json, array_json, expired_form):
        assert "Traceback" not in response.text


def test_unhandled_exception_gives_request_id_not_traceback(
    app: Any, flow: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    emu, http = flow.emu, flow.http

    def explode(client_id: str) -> None:
        raise RuntimeError("boom in the emulator")

    monkeypatch.setattr(emu.world, "find_app", explode)
    with caplog.at_level(logging.ERROR, logger="toolkit.emulator"):
        page = http.get(flow.authorize_url(app["client_id"]))
        token = http.post(
            "/login/common/oauth/tokens",
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            auth=(app["client_id"], app["client_secret"]),
        )
    assert page.status_code == 500
    assert "Technical error" in page.text
    assert re.search(r"Request ID: [0-9a-f]{32}", page.text)
    assert token.status_code == 500
    assert token.json()["error"] == "server_error"
    for response in (page, token):
        assert "Traceback" not in response.text
        assert "boom" not in response.text
    assert any("boom in the emulator" in r.getMessage() or r.exc_info for r in caplog.records)
