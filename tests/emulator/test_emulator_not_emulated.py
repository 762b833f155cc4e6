"""A path the emulator does not emulate answers 501 + ``X-Emulator: not-emulated`` (issue 16
item 4); a missing record on an emulated path keeps SuperOffice's 404 (protocol §5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

ERROR_FIELDS = {"Error", "ErrorType", "ErrorMessage", "ErrorSource"}


def assert_not_emulated(response: httpx.Response, method: str, path: str) -> None:
    assert response.status_code == 501, response.text
    assert response.headers["X-Emulator"] == "not-emulated"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "not_emulated"
    assert body["method"] == method
    assert body["path"] == path
    assert "not emulated by this emulator" in body["detail"]
    assert "Error" not in body  # no SuperOffice error body that reads like a missing record


def test_rest_paths_the_emulator_does_not_emulate(emu: Emulator, system_rest: httpx.Client) -> None:
    for method, path in [
        ("GET", "/Contact/1"),
        ("GET", "/Archive/InternalDynamic"),
        ("POST", "/Agents/List/Nope"),
        ("PATCH", "/Person/2"),
    ]:
        response = system_rest.request(method, path)
        assert_not_emulated(response, method, f"/Cust12345/api/v1{path}")
    # Under /api but outside v1.
    base = emu.tenant_url("Cust12345")
    outside = system_rest.get(f"{base}/api/v2/Contact/1")
    assert_not_emulated(outside, "GET", "/Cust12345/api/v2/Contact/1")


def test_missing_records_on_emulated_paths_stay_superoffice_404s(
    emu: Emulator, system_rest: httpx.Client, http: httpx.Client
) -> None:
    for path in ["/List/NoSuchList", "/List/Category/Items/99999", "/List/abc/Items/xyz"]:
        response = system_rest.get(path)
        assert response.status_code == 404, path
        assert "X-Emulator" not in response.headers
        assert set(response.json()) == ERROR_FIELDS
        assert response.json()["ErrorType"] == "SoNotFoundException"
    # An unknown tenant is a missing record on the tenant host and on the login host.
    for base in (emu.host_urls["sod2"], emu.base_url):
        unknown = http.get(f"{base}/Cust99999/api/v1/List")
        assert unknown.status_code == 404
        assert unknown.json()["ErrorType"] == "SoNotFoundException"
        assert "X-Emulator" not in unknown.headers


def test_known_paths_with_another_verb_are_405_not_501(system_rest: httpx.Client) -> None:
    assert system_rest.post("/User/currentPrincipal").status_code == 405
    assert system_rest.patch("/List/1", json={}).status_code == 405


def test_other_unrouted_paths(emu: Emulator, http: httpx.Client, app: dict[str, Any]) -> None:
    tenant_host = emu.tenant_url("Cust12345")
    soap = http.post(f"{tenant_host}/Remote/Services88/Contact.svc", content=b"<x/>")
    assert_not_emulated(soap, "POST", "/Cust12345/Remote/Services88/Contact.svc")
    assert_not_emulated(http.get("/login/nowhere"), "GET", "/login/nowhere")
    assert_not_emulated(http.get("/nowhere"), "GET", "/nowhere")
    assert http.get("/").status_code == 200  # the landing page (test_emulator_landing.py)
    # The emulated paths still answer as before.
    assert http.get("/login/.well-known/openid-configuration").status_code == 200
    control = http.get("/__emulator__/nowhere")
    assert control.status_code == 404
    assert "X-Emulator" not in control.headers
