"""The upkeep schedules' defaults (cron with seconds first), kept free of the engine's import so
settings can name them; :mod:`toolkit.jobs.upkeep` runs them."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_DRIFT_CHECK", "DEFAULT_STATE_REFRESH", "DEFAULT_TICKET_RENEWAL"]

# Every 10 minutes: the state API's ValidUntil is typically minutes to an hour ahead.
DEFAULT_STATE_REFRESH: Final = "0 */10 * * * *"
# Every 30 minutes: a sliding window is 6 hours; a ticket closing within the hour is renewed.
DEFAULT_TICKET_RENEWAL: Final = "0 */30 * * * *"
# Nightly at 03:00 UTC.
DEFAULT_DRIFT_CHECK: Final = "0 0 3 * * *"
