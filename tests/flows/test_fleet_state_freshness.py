"""Two workers on one store: a tenant job acts on the newest state the fleet knows.

Each worker caches the state API's answers in its own process until their ValidUntil (§6). A
"check now" (``check_states``) on one worker records the tenant's new state in the store; a
worker that cached an older answer ("in maintenance") must act on the recorded one when it
next works the tenant, not keep skipping it until its own answer expires (found running
notebook 06 beside ``make run``'s worker). The second worker's clock stands still, so its
cached answer never expires by itself during the test: only the record can change its mind.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from toolkit.auth.oidc import callback_params_from_url
from toolkit.auth.tickets import environment_of
from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import TenantNotRunningError
from toolkit.http import create_client
from toolkit.jobs.engine import ServiceSet, running_engine, start_engine
from toolkit.provisioning import check_states, fleet_targets, plan_fleet
from toolkit.tenant_events import record_tenant_status
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
CTX = "Cust12345"
APP = "Acme Sync"
REDIRECT = "http://127.0.0.1:8000/callback"
MANIFEST = """\
model = "hybrid"

[[lists]]
name = "Acme status"

[[lists.items]]
name = "Synced"
"""


def open_worker(home: Path, now: datetime | None = None) -> Iterator[Workspace]:
    settings = Settings(home=home, _env_file=None)  # type: ignore[call-arg]
    clock = None if now is None else (lambda: now)
    with create_client() as http, Workspace.open(settings, http=http, now=clock) as workspace:
        yield workspace


@pytest.fixture
def worker_a(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_worker(tmp_path / "home")


@pytest.fixture
def worker_b(tmp_path: Path, worker_a: Workspace) -> Iterator[Workspace]:
    """The same store, another process's caches, a clock that stands still."""
    yield from open_worker(tmp_path / "home", now=datetime.now(UTC))
    engine = running_engine()
    if engine is not None:  # never leak a launched engine into other tests
        engine.close()


@pytest.fixture
def installed(worker_a: Workspace, emu: Emulator) -> None:
    worker_a.applications.register_with_emulator(
        name=APP, emulator_url=emu.base_url, redirect_uri=REDIRECT, model="hybrid", actor="test"
    )
    url = worker_a.installations.begin(APP, tenant=CTX, response_mode="query")
    result = sign_in(url, username=ADMIN, password="superid-demo", tenant=CTX)
    assert result.redirect_url is not None
    worker_a.installations.complete(callback_params_from_url(result.redirect_url))
    worker_a.provisioning.set_manifest(APP, MANIFEST, actor="test")


@pytest.mark.parametrize(
    "a_serves",
    ["workspace", "provisioning alone"],  # the second: a notebook's apply_fleet(ws.provisioning)
)
def test_a_worker_acts_on_the_state_another_worker_checked_later(
    installed: None, emu: Emulator, worker_a: Workspace, worker_b: Workspace, a_serves: str
) -> None:
    targets = fleet_targets(worker_b.repository, APP)
    state_api = worker_b.tenants.status_client(environment_of(targets[0][0]))

    # Worker B plans while the tenant is in maintenance: skipped, and the answer cached.
    emu.set_tenant_state(CTX, "OfflineMaintenance")
    engine = start_engine(worker_b, executor_id="worker-b")
    first = plan_fleet(worker_b.provisioning, targets)
    engine.close()
    assert first.counts["skipped"] == 1, first.rows()
    assert first.skipped[0].state == "OfflineMaintenance"
    asked = state_api.fetch_count
    assert asked >= 1

    # The maintenance ends; worker A's "check now" asks afresh and records it in the store.
    emu.set_tenant_state(CTX, "Running")
    services = worker_a if a_serves == "workspace" else ServiceSet(worker_a.provisioning)
    engine = start_engine(services, executor_id="worker-a")
    checked = check_states(worker_a.provisioning, targets)
    engine.close()
    assert checked.counts["succeeded"] == 1, checked.rows()
    recorded = worker_a.repository.get_tenant_state(APP, CTX)
    assert recorded is not None
    assert recorded.state == "Running"

    # Worker B still holds "in maintenance" (its clock stands still), yet plans the tenant now,
    # from the record: without asking the state API again.
    assert state_api.cached(CTX) is not None
    assert state_api.cached(CTX).state_name == "OfflineMaintenance"  # type: ignore[union-attr]
    engine = start_engine(worker_b, executor_id="worker-b")
    second = plan_fleet(worker_b.provisioning, targets)
    engine.close()
    assert second.counts["succeeded"] == 1, second.rows()
    (planned,) = second.succeeded
    assert planned.state == "Running"
    assert planned.value is not None
    assert not planned.value.is_empty  # the manifest's list is still to be created
    assert state_api.fetch_count == asked


def test_a_direct_call_acts_on_the_state_another_process_recorded_later(
    installed: None, emu: Emulator, worker_a: Workspace, worker_b: Workspace
) -> None:
    """Not only a fleet's tenant job: a direct plan or client in a process that cached "in
    maintenance" (a dashboard's Apply, ``sotk provision apply --tenant``, a notebook's own
    call) takes the state another process recorded later, read with the installation in the
    same statement, without asking the state API again."""
    targets = fleet_targets(worker_b.repository, APP)
    state_api = worker_b.tenants.status_client(environment_of(targets[0][0]))

    emu.set_tenant_state(CTX, "OfflineMaintenance")
    with pytest.raises(TenantNotRunningError):
        worker_b.provisioning.plan(APP, CTX)
    asked = state_api.fetch_count
    assert state_api.cached(CTX).state_name == "OfflineMaintenance"  # type: ignore[union-attr]

    emu.set_tenant_state(CTX, "Running")
    checked = worker_a.tenants.status(APP, CTX, refresh=True)
    record_tenant_status(worker_a.repository, APP, checked, observed_at=datetime.now(UTC))

    plan = worker_b.provisioning.plan(APP, CTX)
    assert not plan.is_empty  # the manifest's list is still to be created
    assert state_api.cached(CTX).state_name == "Running"  # type: ignore[union-attr]
    assert state_api.fetch_count == asked
    principal = worker_b.tenants.system_user_api(APP, CTX).current_principal()
    assert principal  # the REST client built the same way reaches the tenant
    assert state_api.fetch_count == asked
