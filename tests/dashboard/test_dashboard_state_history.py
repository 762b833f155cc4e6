"""The Overview's "States over time", derived from the audit trail's recorded state changes
(the store keeps only each tenant's last state): the replay by day, the store's paged read of
those events, and the chart on the page."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

from dashboard_support import APP, STANDARD_APP, TENANT, open_page, rendered_text, seed

from toolkit.store import Repository
from toolkit.store.records import AuditEvent
from toolkit.store.schema import audit_events

sys.path.insert(0, str(APP.parent))
from data.state_history import replay  # the dashboard folder is on sys.path only from here

OVERVIEW_PAGE = "views/overview.py"
OTHER_TENANT = "Cust54321"
DAY = date(2026, 11, 10)


def change(event_id: int, day: date, tenant: str, to_state: str) -> AuditEvent:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return AuditEvent(
        event_id, at, "test", "tenant.state_recorded", STANDARD_APP, tenant, {"to_state": to_state}
    )


def test_each_day_counts_every_tenant_in_its_last_recorded_state() -> None:
    events = [
        change(1, DAY - timedelta(days=5), TENANT, "Running"),  # before the window
        change(2, DAY + timedelta(days=1), OTHER_TENANT, "Running"),
        change(3, DAY + timedelta(days=2), TENANT.upper(), "Suspended"),  # the same tenant
    ]

    table = replay(events, DAY, DAY + timedelta(days=3))

    by_day = {
        day: dict(zip(rows["State"], rows["Tenants"], strict=True))
        for day, rows in table.groupby("Day")
    }
    assert by_day == {
        "2026-11-10": {"Running": 1},  # the state the window starts from
        "2026-11-11": {"Running": 2},
        "2026-11-12": {"Running": 1, "Suspended": 1},
        "2026-11-13": {"Running": 1, "Suspended": 1},  # no event: the day before's counts
    }


def test_without_a_recorded_state_there_is_no_history() -> None:
    assert replay([], DAY, DAY + timedelta(days=3)).empty


def test_the_store_pages_through_state_changes_only_oldest_first(repository: Repository) -> None:
    for n, action in enumerate(
        ["tenant.state_recorded", "ticket.renewed", "tenant.state_changed", "tenant.state_recorded"]
    ):
        repository.record_audit("test", action, summary={"to_state": f"S{n}"})

    first = repository.state_changes_page(limit=2)
    rest = repository.state_changes_page(after_id=first[-1].id, limit=2)

    assert [event.summary["to_state"] for event in first] == ["S0", "S2"]
    assert [event.summary["to_state"] for event in rest] == ["S3"]


def test_the_overview_charts_states_over_time(repository: Repository) -> None:
    seed(repository)
    repository.put_tenant_state(
        STANDARD_APP, TENANT, state="Running", endpoint=None, api=None, actor="test"
    )
    repository.put_tenant_state(
        STANDARD_APP, TENANT, state="Suspended", endpoint=None, api=None, actor="test"
    )
    with repository.engine.begin() as connection:  # the first check was two days ago
        first = min(event.id for event in repository.state_changes_page(limit=10))
        connection.execute(
            audit_events.update()
            .where(audit_events.c.id == first)
            .values(at=datetime.now(UTC) - timedelta(days=2))
        )

    at = open_page(OVERVIEW_PAGE)

    assert not at.exception, at.exception
    specs = " ".join(str(chart.proto.spec) for chart in at.get("vega_lite_chart"))
    assert "Tenants by state over the last 30 days" in specs
    assert "state check or a notification reported it" in rendered_text(at)
