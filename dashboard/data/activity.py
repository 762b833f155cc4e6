"""The Activity page: the audit trail, its filters and its CSV export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from data.core import (
    _frame,
    _guarded,
    _read_model,
    _when,
    workspace,
)
from toolkit.audit import audit_csv, describe_event
from toolkit.store.records import (
    AuditEvent,
)

# -- activity (the audit trail) -------------------------------------------------------------------

# Events the Activity page shows and its filters are drawn from: the newest this many.
ACTIVITY_LIMIT = 1000
# Events one CSV export holds at most.
EXPORT_LIMIT = 100_000
ACTIVITY_COLUMNS = ["At", "Actor", "Action", "Application", "Tenant", "Summary"]


@dataclass(frozen=True)
class ActivityFilter:
    """The Activity page's filters; None means any. ``since`` inclusive, ``until`` exclusive."""

    application: str | None = None
    tenant: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ActivityChoices:
    applications: list[str]
    tenants: list[str]
    actors: list[str]
    actions: list[str]


def _events(chosen: ActivityFilter, limit: int) -> list[AuditEvent]:
    return workspace().repository.list_audit(
        application=chosen.application,
        context_identifier=chosen.tenant,
        actor=chosen.actor,
        action=chosen.action,
        since=chosen.since,
        until=chosen.until,
        limit=limit,
    )


@_guarded
def activity_choices() -> ActivityChoices:
    """The values the filters offer: the audit trail's distinct applications, actors and
    actions (tenants are typed: there can be 10,000 of them)."""
    workspace()
    return _activity_choices()


@_read_model
def _activity_choices() -> ActivityChoices:
    facets = workspace().repository.audit_facets()
    return ActivityChoices(
        applications=list(facets.applications),
        tenants=[],
        actors=list(facets.actors),
        actions=list(facets.actions),
    )


@_guarded
def activity(chosen: ActivityFilter, limit: int = ACTIVITY_LIMIT) -> pd.DataFrame:
    """Audit events matching ``chosen``, newest first; summaries as JSON (never a secret:
    the store refuses secret-looking keys in them)."""
    workspace()
    return _activity(chosen, limit)


@_read_model
def _activity(chosen: ActivityFilter, limit: int) -> pd.DataFrame:
    rows = (
        {
            "At": _when(event.at),
            "Actor": event.actor,
            "Action": event.action,
            "Application": event.application or "",
            "Tenant": event.context_identifier or "",
            "Summary": describe_event(event.action, event.summary),
        }
        for event in _events(chosen, limit)
    )
    return _frame(rows, ACTIVITY_COLUMNS)


@_guarded
def activity_csv(chosen: ActivityFilter) -> str:
    """The matching audit events as CSV (toolkit.audit.audit_csv: redacted, formula-safe).
    Built only when asked (the Activity page's Prepare export button): up to
    :data:`EXPORT_LIMIT` events."""
    return audit_csv(_events(chosen, EXPORT_LIMIT))
