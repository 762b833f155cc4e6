"""LocalStack (seeding through the real flow, idempotence, clean stop) and `sotk run`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from support.ports import unused_port

from toolkit.config import Settings
from toolkit.errors import ConfigurationError
from toolkit.localstack import (
    DEMO_APPLICATIONS,
    DEMO_INSTALLS,
    NEWCOMER_TENANT,
    LocalStack,
    StackEvent,
    dashboard_command,
)
from toolkit.provisioning import preset_text
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

STANDARD = "Demo Standard App"
CUSTOM = "Demo Custom App"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No SOTK_* variable or .env from the developer's shell reaches the stack."""
    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def open_store(home: Path) -> Workspace:
    settings = Settings(home=home, _env_file=None)  # type: ignore[call-arg]
    return Workspace.open(settings)


def test_demo_world_names_a_standard_and_a_custom_app_and_leaves_the_newcomer_tenant() -> None:
    kinds = {demo.name: (demo.kind, demo.model, demo.tenant) for demo in DEMO_APPLICATIONS}
    assert kinds[STANDARD] == ("standard", "hybrid", None)
    assert kinds[CUSTOM] == ("custom", "external", "Cust23456")
    assert {(i.application, i.tenant) for i in DEMO_INSTALLS} == {
        (STANDARD, "Cust12345"),
        (CUSTOM, "Cust23456"),
    }
    assert NEWCOMER_TENANT not in {i.tenant for i in DEMO_INSTALLS}


def test_dashboard_command_listens_on_loopback_headless() -> None:
    command = dashboard_command(8599)
    # dashboard/serve.py: "streamlit run dashboard/app.py" with the heavy imports done first.
    assert command[1].endswith("dashboard/serve.py")
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options == {
        "--server.address": "127.0.0.1",
        "--server.port": "8599",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
        "--client.toolbarMode": "viewer",  # no Deploy button (issue 15)
    }


@pytest.mark.slow
def test_seeds_through_the_real_flow_once_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    events: list[StackEvent] = []
    # The second run below takes the same ports again: ports the kernel does not hand to other
    # processes in between (tests on other pytest-xdist processes connect and listen meanwhile).
    emulator_port = unused_port()
    stack = LocalStack(
        home,
        emulator_port=emulator_port,
        partner_port=unused_port(besides=(emulator_port,)),
        dashboard=False,
        on_event=events.append,
    )
    with stack:
        urls = stack.urls
        assert urls.dashboard is None
        assert stack.dashboard_process is None
        assert urlsplit(urls.emulator).hostname == "127.0.0.1"
        assert urlsplit(urls.partner).hostname == "127.0.0.1"
        assert httpx.get(urls.partner + "/healthz", timeout=5).json()["status"] == "ok"
        assert stack.registered == [STANDARD, CUSTOM]
        assert stack.installed == [(STANDARD, "Cust12345"), (CUSTOM, "Cust23456")]
        assert stack.emulator is not None
        emulator_world = stack.emulator.world
        # Each demo application has its model's preset as manifest, stored after the installs:
        # planning a seeded tenant finds work to do on day one.
        assert stack.workspace is not None
        for name, model in ((STANDARD, "hybrid"), (CUSTOM, "external")):
            app_id = stack.workspace.applications.get(name).id
            assert stack.workspace.repository.get_application_manifest(app_id) == preset_text(model)
        assert not stack.workspace.provisioning.plan(STANDARD, "Cust12345").is_empty
        assert stack.workspace.provisioning.runs() == []  # nothing applied by the seed
        ports = (port_of(urls.emulator), port_of(urls.partner))
        # As a world saved before applications had a state-change URL: the next run sets it.
        assert stack.workspace is not None
        custom_id = stack.workspace.applications.get(CUSTOM).client_id
        cleared = httpx.patch(
            f"{urls.emulator}/__emulator__/apps/{custom_id}",
            json={"state_change_url": None},
            timeout=10,
        )
        assert cleared.status_code == 200, cleared.text
    assert [e.kind for e in events].count("tenant.installed") == 2
    assert [e.kind for e in events].count("application.manifest") == 2
    assert not any(e.kind == "warning" for e in events)
    for port in ports:
        assert not listening(port), f"port {port} still listens after stop()"
    assert stack.emulator is None
    assert stack.workspace is None
    assert (home / "emulator-world.json").is_file()

    with open_store(home) as ws:
        apps = {app.name: app for app in ws.applications.list()}
        assert set(apps) == {STANDARD, CUSTOM}
        assert (apps[STANDARD].kind, apps[STANDARD].model) == ("standard", "hybrid")
        assert (apps[CUSTOM].kind, apps[CUSTOM].tenant) == ("custom", "Cust23456")
        assert apps[STANDARD].redirect_uri == f"http://127.0.0.1:{ports[1]}/callback"
        records = ws.repository.list_authorizations()
        installed = {(r.application_id, r.context_identifier) for r in records}
        assert installed == {(apps[STANDARD].id, "Cust12345"), (apps[CUSTOM].id, "Cust23456")}
        # The real flow: approved by the tenant's administrator, system user token held.
        for record in records:
            assert record.approved_by is not None
            assert record.approved_by.startswith("admin@")
            assert record.has_system_user_token
        audit_count = len(ws.repository.list_audit(limit=1000))
    # The emulator consented too, for both applications.
    assert emulator_world.active_authorization(apps[STANDARD].client_id, "Cust12345")
    assert emulator_world.active_authorization(apps[CUSTOM].client_id, "Cust23456")

    # Second run on the same home and ports: everything is found, nothing is added.
    events.clear()
    again = LocalStack(
        home,
        emulator_port=ports[0],
        partner_port=ports[1],
        dashboard=False,
        on_event=events.append,
    )
    with again:
        assert again.registered == []
        assert again.installed == []
        # The applications registered in the first run are still known to the emulator.
        assert again.emulator is not None
        for app in apps.values():
            known = again.emulator.world.find_app(app.client_id)
            assert known is not None
            # Both notify this run's partner endpoints (the custom one's URL was set again).
            assert known.state_change_url == (f"{again.urls.partner}/state-change/{app.client_id}")
    kinds = [e.kind for e in events]
    assert kinds.count("application.exists") == 2
    assert kinds.count("tenant.exists") == 2
    assert "warning" not in kinds
    updated = [e.message for e in events if e.kind == "application.updated"]
    assert len(updated) == 1
    assert updated[0].startswith(CUSTOM)
    assert custom_id in updated[0]
    with open_store(home) as ws:
        assert len(ws.applications.list()) == 2
        assert len(ws.repository.list_authorizations()) == 2
        assert len(ws.repository.list_audit(limit=1000)) == audit_count
    for port in ports:
        assert not listening(port)


# How long the notification may take from the emulator to the partner's store: a bound on a
# wait for an event, never a sleep (delivery runs on the emulator's own threads).
NOTIFICATION_DEADLINE_SECONDS = 30.0


def test_suspending_a_tenant_through_the_emulator_notifies_the_partner_endpoints(
    tmp_path: Path,
) -> None:
    """Issue 11 item 6: the seeded applications carry their state-change URL, so the control
    plane's suspend reaches /state-change/{client_id} and the partner records it."""
    with LocalStack(tmp_path / "home", emulator_port=0, partner_port=0, dashboard=False) as stack:
        assert stack.workspace is not None
        assert stack.emulator is not None
        urls = stack.urls
        standard = stack.workspace.applications.get(STANDARD)
        for app in stack.workspace.applications.list():
            known = stack.emulator.world.find_app(app.client_id)
            assert known is not None
            assert known.state_change_url == f"{urls.partner}/state-change/{app.client_id}"
        with httpx.Client(base_url=urls.emulator, timeout=NOTIFICATION_DEADLINE_SECONDS) as http:
            http.delete("/__emulator__/webhooks")
            suspended = http.post("/__emulator__/tenants/Cust12345/suspend", json={})
            assert suspended.status_code == 200, suspended.text
            # The emulator's webhook log answers once no delivery is pending (an event).
            log = http.get(
                "/__emulator__/webhooks", params={"wait": NOTIFICATION_DEADLINE_SECONDS}
            ).json()["deliveries"]
        assert [(d["client_id"], d["ctx"], d["change"]) for d in log] == [
            (standard.client_id, "Cust12345", "Suspend")
        ]
        assert log[0]["url"] == f"{urls.partner}/state-change/{standard.client_id}"
        assert log[0]["status"] == "delivered"
        assert log[0]["status_code"] in (200, 202), log[0]
        # The partner may process the notification after answering: poll its store until the
        # history row is there, within a deadline.
        deadline = time.monotonic() + NOTIFICATION_DEADLINE_SECONDS
        history = stack.workspace.tenant_events.history(
            application=STANDARD, context_identifier="Cust12345"
        )
        while not history:
            assert time.monotonic() < deadline, "no state-change history row in time"
            time.sleep(0.05)
            history = stack.workspace.tenant_events.history(
                application=STANDARD, context_identifier="Cust12345"
            )
        (row,) = history
        assert row.change_type == "Suspend"
        assert row.outcome.value == "applied", row  # the state API confirms Suspended
        record = stack.workspace.repository.get_authorization(STANDARD, "Cust12345")
        assert record.status == "suspended"


@pytest.mark.slow
def test_applications_only_when_tenants_are_not_seeded(tmp_path: Path) -> None:
    with LocalStack(
        tmp_path / "home", emulator_port=0, partner_port=0, dashboard=False, seed_tenants=False
    ) as stack:
        assert stack.registered == [STANDARD, CUSTOM]
        assert stack.installed == []
        assert stack.workspace is not None
        assert stack.workspace.repository.list_authorizations() == []


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        stack = LocalStack(tmp_path / "home", emulator_port=0, partner_port=port, dashboard=False)
        with pytest.raises(ConfigurationError, match=f"port {port}"):
            stack.start()
    assert stack.emulator is None
    assert stack.workspace is None
    assert not (tmp_path / "home").exists()


def test_urls_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = LocalStack(tmp_path / "home").urls


def sotk(*args: str) -> list[str]:
    return [sys.executable, "-c", "from toolkit.cli import app; app()", *args]


def test_sotk_run_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            sotk("run", "--home", str(tmp_path / "home"), "--emulator-port", str(port)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sotk_run_prints_the_urls_and_stops_all_three(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    command = sotk(
        "run",
        "--home",
        str(tmp_path / "home"),
        "--emulator-port",
        "0",
        "--partner-port",
        "0",
        "--dashboard-port",
        "0",
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops" in line or time.monotonic() > deadline:
                break
        output = "".join(lines)
        assert "Ctrl-C stops all three." in output, output
        assert "sign in as admin@cust34567.test / superid-demo to install into Cust34567" in output
        urls = dict(
            re.findall(r"^  (dashboard|partner endpoints|emulator) +(http\S+)$", output, re.M)
        )
        assert set(urls) == {"dashboard", "partner endpoints", "emulator"}, output
        assert httpx.get(urls["dashboard"] + "/_stcore/health", timeout=5).status_code == 200
        assert httpx.get(urls["partner endpoints"] + "/healthz", timeout=5).status_code == 200
        process.send_signal(stop_signal)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    for url in urls.values():
        assert not listening(port_of(url)), f"{url} still listens"
