"""The Overview's "States over time": tenants per state at the end of each day.

The store keeps a tenant's last known state only, but it audits every move to another state
with its time: a state check whose answer differed from the last one (``tenant.state_recorded``)
and a confirmed state-change notification (``tenant.state_changed``). Replaying those events in
the order written gives each tenant's state on any day. What it cannot give: a change nobody
checked for shows on the day it was observed, not the day it happened, and a tenant never
checked has no state at all (the Overview counts those as "never checked").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import pandas as pd

from data.core import _guarded, _read_model, workspace
from toolkit.store.records import AuditEvent
from toolkit.store.repository import utc_now

# The days the chart shows, ending today (UTC).
STATE_HISTORY_DAYS = 30
# Audit events read per store query while replaying.
STATE_HISTORY_PAGE = 5_000
STATE_HISTORY_COLUMNS = ["Day", "State", "Tenants"]


@_guarded
def states_over_time(days: int = STATE_HISTORY_DAYS) -> pd.DataFrame:
    """One row per day and state: how many tenants were in that state at the day's end (UTC),
    over the last ``days`` days; only days from the first recorded state on."""
    workspace()
    return _states_over_time(days)


@_read_model
def _states_over_time(days: int) -> pd.DataFrame:
    today = utc_now().date()
    return replay(_state_changes(), today - timedelta(days=days - 1), today)


def _state_changes() -> Iterator[AuditEvent]:
    """Every recorded state change, in the order written, a page at a time."""
    repository = workspace().repository
    after = 0
    while True:
        page = repository.state_changes_page(after_id=after, limit=STATE_HISTORY_PAGE)
        yield from page
        if len(page) < STATE_HISTORY_PAGE:
            return
        after = page[-1].id


def replay(events: Iterable[AuditEvent], first_day: date, last_day: date) -> pd.DataFrame:
    """Tenants per state at the end of each day from ``first_day`` (or the first day with a
    recorded state, when later) to ``last_day``, from state-change events in the order written;
    a tenant is an application and a context identifier."""
    state: dict[tuple[str, str], str] = {}
    # Each day's counts once its last event is replayed; events before the window count as
    # the day before it, the state the window starts from.
    ends: dict[date, dict[str, int]] = {}
    day: date | None = None
    for event in events:
        event_day = max(event.at.date(), first_day - timedelta(days=1))
        if day is not None and event_day > day:
            ends[day] = _counts(state)
        day = event_day if day is None else max(day, event_day)  # ids, not times, order
        key = (event.application or "", (event.context_identifier or "").casefold())
        state[key] = str(event.summary.get("to_state") or "unknown")
    if day is None:
        return pd.DataFrame(columns=STATE_HISTORY_COLUMNS)
    ends[day] = _counts(state)
    return _daily(ends, max(first_day, min(ends)), last_day)


def _counts(state: dict[tuple[str, str], str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in state.values():
        counts[name] = counts.get(name, 0) + 1
    return counts


def _daily(ends: dict[date, dict[str, int]], first: date, last: date) -> pd.DataFrame:
    """Every day from ``first`` to ``last``: a day without events keeps the day before's counts."""
    rows = []
    known: dict[str, int] = {}
    for before in sorted(d for d in ends if d < first):
        known = ends[before]
    current = first
    while current <= last:
        known = ends.get(current, known)
        rows += [
            {"Day": current.isoformat(), "State": name, "Tenants": count}
            for name, count in sorted(known.items())
        ]
        current += timedelta(days=1)
    return pd.DataFrame(rows, columns=STATE_HISTORY_COLUMNS)
