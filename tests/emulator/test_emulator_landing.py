"""The emulator's root URL is its own landing page (issue 15): what it is, its URLs, the tenants
on their hosts and the users one can sign in as; never a bare 404 or the not-emulated 501."""

from __future__ import annotations

import re

import httpx
import pytest

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator


def _cell_texts(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table is not None, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows]


def test_root_is_the_landing_page_with_urls_tenants_and_users(
    emu: Emulator, http: httpx.Client
) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert "X-Emulator" not in response.headers
    html = response.text
    assert 'data-emulator-page="landing"' in html
    base = emu.base_url
    urls = {row[0]: row[1] for row in _cell_texts(html, "emulator-urls") if row}
    assert urls["OpenID discovery"] == f"{base}/login/.well-known/openid-configuration"
    assert urls["Authorize (sign-in, tenant picker, consent)"] == (
        f"{base}/login/common/oauth/authorize"
    )
    assert urls["Tokens"] == f"{base}/login/common/oauth/tokens"
    assert urls["PartnerSystemUser (REST)"] == f"{base}/Login/api/PartnerSystemUser/Authenticate"
    assert urls["Tenant state API"] == f"{base}/api/state/{{ctx}}"
    assert urls["Control plane (not SuperOffice)"] == f"{base}/__emulator__/..."
    tenants = {row[0]: row for row in _cell_texts(html, "emulator-tenants") if row}
    assert tenants["Cust12345"][1:4] == ["Tony&#x27;s Developer Network", "sod2", "Running"]
    assert tenants["Cust23456"][4] == f"{emu.host_urls['sod3']}/Cust23456/api/v1/..."
    assert tenants["Cust23456"][5] == f"{base}/api/state/Cust23456"
    users = {row[0]: row for row in _cell_texts(html, "emulator-users") if row}
    assert users["admin@cust12345.test"][1:] == ["Cust12345 (administrator)", "superid-demo"]
    assert users["user@cust12345.test"][1] == "Cust12345 (user)"
    assert users["consultant@multi.test"][1] == (
        "Cust12345 (administrator), Cust23456 (administrator)"
    )


def test_landing_page_follows_the_world_and_shows_no_secret(
    emu: Emulator, http: httpx.Client
) -> None:
    registered = emu.register_app("Landing <b>App</b>", ["http://127.0.0.1:8000/callback"])
    emu.move_tenant("Cust12345", "sod3", notify=False)
    control = http.post(
        "/__emulator__/users",
        json={
            "username": "own@cust12345.test",
            "password": "not-the-demo-one",
            "memberships": [
                {"ctx": "Cust12345", "is_administrator": False, "associate_id": 9, "initials": "OW"}
            ],
        },
    )
    assert control.status_code in (200, 201), control.text
    html = http.get("/").text
    tenants = {row[0]: row for row in _cell_texts(html, "emulator-tenants") if row}
    assert tenants["Cust12345"][2] == "sod3"
    users = {row[0]: row for row in _cell_texts(html, "emulator-users") if row}
    assert users["own@cust12345.test"][2] == "(set by the world)"
    assert "not-the-demo-one" not in html
    assert registered["client_secret"] not in html
    assert "<b>App</b>" not in html  # nothing from the world is markup


def test_tenant_hosts_and_other_roots_keep_their_answers(emu: Emulator, http: httpx.Client) -> None:
    # Numbered hosts serve /{ctx}/... only: their root stays SuperOffice's 404.
    with httpx.Client(timeout=10) as client:
        tenant_root = client.get(emu.host_urls["sod2"] + "/")
    assert tenant_root.status_code == 404
    assert tenant_root.json()["ErrorType"] == "SoNotFoundException"
    # Another method on "/" is no landing page.
    assert http.post("/").status_code == 405
    # A path next to the root that is not emulated is still the 501.
    nowhere = http.get("/nowhere")
    assert nowhere.status_code == 501
    assert nowhere.headers["X-Emulator"] == "not-emulated"
