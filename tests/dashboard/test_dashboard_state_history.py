"""The Overview's "States over time": the chart on the page, from the store's tenants per
state per day (worked out by the database: tests/store/test_store_state_history.py)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from dashboard_support import APP, STANDARD_APP, TENANT, open_page, rendered_text, seed

from toolkit.store import Repository
from toolkit.store.schema import audit_events

sys.path.insert(0, str(APP.parent))
from data.state_history import states_over_time  # the dashboard folder is on sys.path here

OVERVIEW_PAGE = "views/overview.py"


def test_the_overview_charts_states_over_time(repository: Repository) -> None:
    seed(repository)
    repository.put_tenant_state(
        STANDARD_APP, TENANT, state="Running", endpoint=None, api=None, actor="test"
    )
    repository.put_tenant_state(
        STANDARD_APP, TENANT, state="Suspended", endpoint=None, api=None, actor="test"
    )
    with repository.engine.begin() as connection:  # the first check was two days ago
        first = min(event.id for event in repository.list_audit(action="tenant.state_recorded"))
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
    history = states_over_time()
    by_day = {
        day: dict(zip(rows["State"], rows["Tenants"], strict=True))
        for day, rows in history.groupby("Day")
    }
    today = datetime.now(UTC).date()
    assert by_day == {
        (today - timedelta(days=2)).isoformat(): {"Running": 1},
        (today - timedelta(days=1)).isoformat(): {"Running": 1},
        today.isoformat(): {"Suspended": 1},
    }
