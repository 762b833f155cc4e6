"""State-change webhooks (protocol §6) and fault injection (emulator control plane)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from support.ports import unused_port

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

CONTROL = "/__emulator__"
CLAIM = "http://schemes.superoffice.net/identity/"


class Receiver:
    """A tiny partner endpoint that records what SuperOffice POSTs to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/state-change"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def installed(emu: Emulator, name: str, url: str | None, ctx: str = "Cust12345") -> str:
    creds = emu.register_app(
        name=name,
        redirect_urls=["http://127.0.0.1:8000/callback"],
        state_change_url=url,
        grant_system_token=False,
    )
    emu.activate_app(creds["client_id"], ctx, "admin@cust12345.test")
    return str(creds["client_id"])


def verify(http: httpx.Client, token: str, **options: Any) -> dict[str, Any]:
    """Validate as SuperOffice's sample does (SuperOfficeDocs docs/apps/tenant-status/includes/
    api-controller.md): a SuperID token, SuperID's issuer and keys (the JWKS), no audience."""
    discovery = http.get("/login/.well-known/openid-configuration").json()
    jwks = jwt.PyJWKSet.from_dict(http.get("/login/.well-known/jwks").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(  # type: ignore[no-any-return]
        token,
        key.key,
        algorithms=["RS256"],
        issuer=discovery["issuer"],
        options={"require": ["iss", "exp"], **options},
    )


def test_state_change_webhooks(emu: Emulator, http: httpx.Client, receiver: Receiver) -> None:
    client_id = installed(emu, "Hooked", receiver.url)
    broken = installed(emu, "Broken", f"http://127.0.0.1:{unused_port()}/hook")  # nothing listens
    installed(emu, "Silent", None)  # no state-change URL: nothing to send
    installed(emu, "Elsewhere", receiver.url, ctx="Cust23456")  # another tenant
    moved = http.post(f"{CONTROL}/tenants/Cust12345/move", json={"host": "sod3"})
    assert moved.status_code == 200, moved.text
    for action in ("suspend", "resume", "upgrade", "backup-restored", "delete"):
        assert http.post(f"{CONTROL}/tenants/Cust12345/{action}").status_code == 200
    deliveries = http.get(f"{CONTROL}/webhooks", params={"wait": 10}).json()["deliveries"]
    assert len(deliveries) == 12
    mine = [d for d in deliveries if d["client_id"] == client_id]
    assert [d["status_code"] for d in mine] == [200] * 6
    failed = [d for d in deliveries if d["client_id"] == broken]
    assert all(d["status"] == "failed" and d["error"] for d in failed)
    assert len(receiver.bodies) == 6
    by_type = {b["ChangeType"]: b for b in receiver.bodies}
    assert set(by_type) == {0, 1, 2, 3, 4, 5}
    move = by_type[5]
    assert set(move) == {
        "ChangeType",
        "ContextIdentifier",
        "VersionName",
        "FileVersion",
        "Token",
        "PublicEndpoint",
    }
    assert move["ContextIdentifier"] == "Cust12345"
    assert move["PublicEndpoint"] == emu.host_urls["sod3"].removeprefix("http://")
    assert by_type[2]["PublicEndpoint"] is None
    assert by_type[0]["VersionName"] == "Release_11.10_2026.02.24-03"
    claims = verify(http, move["Token"])
    # The id_token's issuer (the https://{env}.superoffice.com equivalent), not SuperOffice AS;
    # no audience and nothing that binds the token to the body (open question 16).
    assert claims["iss"] == emu.base_url
    assert "aud" not in claims
    assert not [name for name in claims if name.startswith(CLAIM)]
    assert claims["exp"] - claims["iat"] == 300
    assert len({verify(http, b["Token"])["jti"] for b in receiver.bodies}) == 6
    state = http.get("/api/state/Cust12345").json()
    assert (state["State"], state["IsRunning"]) == ("Deleted", False)


def test_the_audience_quirk_names_the_client_id(
    emu: Emulator, http: httpx.Client, receiver: Receiver
) -> None:
    client_id = installed(emu, "Hooked", receiver.url)
    quirks = http.post(f"{CONTROL}/quirks", json={"state_change_audience": True})
    assert quirks.json() == {"iat_as_string": False, "state_change_audience": True}
    assert http.post(f"{CONTROL}/tenants/Cust12345/suspend").status_code == 200
    assert emu.wait_for_webhooks(10)[0]["status_code"] == 200
    [body] = receiver.bodies
    claims = verify(http, body["Token"], verify_aud=False)
    assert claims["aud"] == client_id
    refused = http.post(f"{CONTROL}/quirks", json={"state_change_audience": "yes"})
    assert refused.status_code == 400


def test_python_api_move_and_revoked_apps_get_nothing(
    emu: Emulator, http: httpx.Client, receiver: Receiver
) -> None:
    client_id = installed(emu, "Hooked", receiver.url)
    http.post(f"{CONTROL}/authorizations/{client_id}/Cust12345/revoke")
    emu.move_tenant("Cust12345", "sod3")
    assert emu.wait_for_webhooks(5) == []
    assert emu.tenant_url("Cust12345").startswith(emu.host_urls["sod3"])


# -- faults ------------------------------------------------------------------------------------


def test_503_503_then_200(emu: Emulator, http: httpx.Client) -> None:
    rule = {"kind": "status", "status": 503, "count": 2, "ctx": "Cust12345"}
    assert http.post(f"{CONTROL}/faults", json={"rules": [rule]}).status_code == 200
    url = f"{emu.host_urls['sod2']}/Cust12345/api"
    codes = [http.get(url).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert http.get(f"{emu.host_urls['sod3']}/Cust23456/api").status_code == 200
    described = http.get(f"{CONTROL}/faults").json()
    assert described["rules"][0]["fired"] == 2
    assert http.get("/api/state/Cust12345").status_code == 200  # count used up


def test_429_with_retry_after_seconds_and_http_date(emu: Emulator, http: httpx.Client) -> None:
    rules = [
        {"kind": "status", "status": 429, "retry_after": 7, "count": 1, "host": "sod2"},
        {
            "kind": "status",
            "status": 429,
            "retry_after": 30,
            "retry_after_format": "http-date",
            "count": 1,
            "host": "sod2",
        },
    ]
    emu.set_faults(rules)
    url = f"{emu.host_urls['sod2']}/Cust12345/api"
    first = http.get(url)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert first.json()["Error"] is True  # SuperOffice's error body on tenant paths
    second = http.get(url)
    assert second.status_code == 429
    wait = parsedate_to_datetime(second.headers["Retry-After"]).timestamp() - time.time()
    assert 25 < wait <= 31
    assert http.get(url).status_code == 200
    # Faults also apply to the login host, never to the control plane.
    emu.set_faults([{"kind": "status", "status": 502, "host": "sod"}])
    assert http.get("/login/.well-known/openid-configuration").status_code == 502
    assert http.get(f"{CONTROL}/faults").status_code == 200
    assert http.delete(f"{CONTROL}/faults").json()["rules"] == []
    assert http.get("/login/.well-known/openid-configuration").status_code == 200


def test_stall_times_out_the_client(emu: Emulator, http: httpx.Client) -> None:
    emu.set_faults([{"kind": "stall", "stall_ms": 5000, "path_prefix": "/cust12345/api"}])
    with pytest.raises(httpx.ReadTimeout):  # the 0.3 s timeout, not the 5 s stall, ended it
        http.get(f"{emu.host_urls['sod2']}/Cust12345/api", timeout=0.3)
    emu.set_faults([{"kind": "stall", "stall_ms": 200}])
    slow = http.get(f"{emu.host_urls['sod2']}/Cust12345/api", timeout=5)
    assert slow.status_code == 200  # a short stall is served afterwards


def test_dropped_connection_is_a_transport_error(emu: Emulator, http: httpx.Client) -> None:
    emu.set_faults([{"kind": "drop", "count": 1, "host": "sod2"}])
    url = f"{emu.host_urls['sod2']}/Cust12345/api"
    with pytest.raises(httpx.TransportError):
        http.get(url)
    assert http.get(url).status_code == 200


def test_latency_with_jitter(emu: Emulator, http: httpx.Client) -> None:
    url = f"{emu.host_urls['sod2']}/Cust12345/api"
    http.get(url)  # connect first
    emu.set_faults([{"kind": "latency", "latency_ms": 150, "jitter_ms": 20}])
    started = time.monotonic()
    for _ in range(3):
        assert http.get(url).status_code == 200
    elapsed = (time.monotonic() - started) / 3
    assert elapsed >= 0.12  # the injected latency is a floor; no upper bound (machine speed)


def test_seeded_faults_repeat(emu: Emulator, http: httpx.Client) -> None:
    rules = [{"kind": "status", "status": 500, "probability": 0.5, "host": "sod2"}]
    url = f"{emu.host_urls['sod2']}/Cust12345/api"

    def run() -> list[int]:
        assert http.post(f"{CONTROL}/faults", json={"rules": rules, "seed": 42}).status_code == 200
        return [http.get(url).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert {500, 200} == set(first)


def test_fault_rules_are_validated(http: httpx.Client) -> None:
    for bad in (
        {"kind": "explode"},
        {"kind": "status", "status": 418},
        {"kind": "latency", "latency_ms": -1},
        {"kind": "stall"},
        {"kind": "status", "status": 503, "retry_after": "soon"},
        {"kind": "latency", "colour": "red"},
    ):
        response = http.post(f"{CONTROL}/faults", json={"rules": [bad]})
        assert response.status_code == 400, bad
