"""The Overview's "States over time": tenants per state at the end of each day.

The store works the numbers out from the audit trail's recorded state changes
(``Repository.tenant_states_by_day``, one statement answering a row per day and state); this
module only shapes them for the chart. A change nobody checked for shows on the day it was
observed, and a tenant never checked has no state at all (the Overview counts those as "never
checked").
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from data.core import _guarded, _read_model, workspace
from toolkit.store.repository import utc_now

# The days the chart shows, ending today (UTC).
STATE_HISTORY_DAYS = 30
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
    counts = workspace().repository.tenant_states_by_day(today - timedelta(days=days - 1), today)
    return pd.DataFrame(
        {
            "Day": [count.day.isoformat() for count in counts],
            "State": [count.state for count in counts],
            "Tenants": [count.tenants for count in counts],
        },
        columns=STATE_HISTORY_COLUMNS,
    )
