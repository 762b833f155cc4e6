"""Scheduled upkeep (toolkit.jobs.upkeep): schedules from settings, and what each run picks:
tenants whose known state ends soon, tenants with a ticket about to close, drifted tenants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from test_jobs import FakeProvisioning, FakeTenants, Services

from toolkit.config import Settings
from toolkit.jobs.client import Jobs
from toolkit.jobs.engine import running_engine, start_engine
from toolkit.jobs.upkeep import drifted_tenants
from toolkit.jobs.upkeep_schedules import (
    DEFAULT_DRIFT_CHECK,
    DEFAULT_STATE_REFRESH,
    DEFAULT_TICKET_RENEWAL,
)
from toolkit.store import Repository, open_store

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
MANIFEST = '[[lists]]\nname = "Upkeep"\n'


@dataclass
class FakeTickets:
    statuses: list[Any] = field(default_factory=list)

    def ticket_statuses(self, *, status: str | None = None) -> list[Any]:
        return self.statuses


@dataclass
class Plan:
    pending: list[str]

    @property
    def is_empty(self) -> bool:
        return not self.pending


class UpkeepTenants(FakeTenants):
    tickets = FakeTickets()


class UpkeepProvisioning(FakeProvisioning):
    def plan(self, application: str, ctx: str, manifest: Any = None) -> Plan:
        return Plan(["create list Upkeep"] if ctx == "Cust2" else [])


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[Repository]:
    store = open_store(None, tmp_path, None)
    yield store
    store.close()


@pytest.fixture
def services(repository: Repository) -> Iterator[Services]:
    yield Services(UpkeepProvisioning(repository, tenants=UpkeepTenants()))
    engine = running_engine()
    if engine is not None:
        engine.close()


def authorize(repository: Repository, *tenants: str) -> str:
    app = repository.add_application(
        "Upkeep App", environment="sod", client_id="cid", client_secret="secret"
    )
    for ctx in tenants:
        repository.put_authorization(app.id, ctx, token_issued_at=ISSUED, actor="test")
    return app.id


# How often the test looks whether a triggered schedule's workflow has finished: DBOS's default
# (1 s) made each trigger wait a second for a run that takes a fraction of it.
RESULT_POLL_SECONDS = 0.05


def run_schedule(name: str) -> None:
    DBOS.trigger_schedule(name).get_result(polling_interval_sec=RESULT_POLL_SECONDS)


def test_settings_choose_the_schedules_and_check_their_cron() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (
        settings.upkeep_state_refresh,
        settings.upkeep_ticket_renewal,
        settings.upkeep_drift_check,
    ) == (DEFAULT_STATE_REFRESH, DEFAULT_TICKET_RENEWAL, DEFAULT_DRIFT_CHECK)
    assert Settings(_env_file=None, upkeep_drift_check="").upkeep_drift_check == ""  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="cron expression"):
        Settings(_env_file=None, upkeep_state_refresh="every minute")  # type: ignore[call-arg]


def test_the_schedules_are_applied_and_one_can_be_turned_off(services: Services) -> None:
    start_engine(services, upkeep=(DEFAULT_STATE_REFRESH, DEFAULT_TICKET_RENEWAL, ""))
    names = sorted(schedule["schedule_name"] for schedule in DBOS.list_schedules())
    assert names == ["sotk-state-refresh", "sotk-ticket-renewal"]
    crons = {s["schedule_name"]: s["schedule"] for s in DBOS.list_schedules()}
    assert crons["sotk-state-refresh"] == DEFAULT_STATE_REFRESH


def test_the_state_refresh_asks_only_tenants_whose_state_ends_soon(services: Services) -> None:
    repository = services.repository
    app_id = authorize(repository, "Cust1", "Cust2", "Cust4")
    now = datetime.now(UTC)
    for ctx, valid_until in (("Cust1", now + timedelta(days=1)), ("Cust2", now)):
        repository.put_tenant_state(
            app_id, ctx, state="Running", endpoint=None, api=None, valid_until=valid_until
        )
    start_engine(services, upkeep=(DEFAULT_STATE_REFRESH, "", ""))
    run_schedule("sotk-state-refresh")
    with Jobs(repository) as jobs:
        (job,) = jobs.list()
        assert job.job_id.startswith("upkeep-states-")
        done = jobs.follow(job.job_id)
        asked = sorted(row.context_identifier for row in jobs.tenants(job.job_id))
    assert done.status == "succeeded"
    assert asked == ["Cust2", "Cust4"]  # Cust1's state holds for a day; Cust4's is unknown


def test_the_ticket_renewal_picks_held_tickets_closing_within_the_hour(
    services: Services,
) -> None:
    @dataclass
    class Status:
        application_id: str
        context_identifier: str
        held: str | None
        valid_until: datetime | None

    repository = services.repository
    app_id = authorize(repository, "Cust1", "Cust2", "Cust4")
    now = datetime.now(UTC)
    UpkeepTenants.tickets.statuses = [
        Status(app_id, "Cust1", "store", now + timedelta(minutes=20)),
        Status(app_id, "Cust2", "store", now + timedelta(hours=5)),
        Status(app_id, "Cust4", None, None),  # no background work: no ticket to keep
    ]
    start_engine(services, upkeep=("", DEFAULT_TICKET_RENEWAL, ""))
    run_schedule("sotk-ticket-renewal")
    with Jobs(repository) as jobs:
        (job,) = jobs.list()
        assert job.job_id.startswith("upkeep-tickets-")
        (found,) = jobs.client.list_workflows(workflow_ids=[job.job_id])
        assert found.input is not None
        assert found.input["args"][0].targets == ((app_id, "Cust1"),)
        jobs.cancel(job.job_id)  # the fake has no ticket manager to renew with


def test_the_drift_check_records_drifted_tenants_for_the_overview(services: Services) -> None:
    repository = services.repository
    app_id = authorize(repository, "Cust1", "Cust2")
    repository.set_application_manifest(app_id, MANIFEST, actor="test")
    start_engine(services, upkeep=("", "", DEFAULT_DRIFT_CHECK))
    with Jobs(repository) as jobs:
        assert drifted_tenants(jobs) == []
        run_schedule("sotk-drift-check")
        (job,) = jobs.list()
        assert job.job_id.startswith("upkeep-drift-")
        assert jobs.follow(job.job_id).status == "succeeded"
        assert drifted_tenants(jobs) == [("Upkeep App", "Cust2", 1)]
