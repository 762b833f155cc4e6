"""Tenants per state at the end of each day, from the audit trail's recorded state changes.

The store keeps a tenant's last known state only, but it audits every move to another state
with its time: a state check whose answer differed from the last one (``tenant.state_recorded``)
and a confirmed state-change notification (``tenant.state_changed``), each with its
``to_state``. A tenant's state at the end of a day is the ``to_state`` of its last such event
(in the order written) up to that day. The database does the work: one statement turns those
events into the number of tenants entering and leaving each state per day (a row per day and
state, so at most a few hundred rows for a month), and the running totals are added up here.

What it cannot give: a change nobody checked for shows on the day it was observed, not the day
it happened, and a tenant never checked has no state at all. A tenant is an application name
and a context identifier (any case), as the audit trail records them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)

from toolkit.store.areas.base import RepositoryBase
from toolkit.store.records import TenantStateCount
from toolkit.store.schema import audit_events

__all__ = ["STATE_CHANGE_ACTIONS", "UNKNOWN_STATE", "StateHistory", "state_history_query"]

# The audit events that record a tenant's move to another state, with its "to_state": a state
# API answer that differed from the last one, and a confirmed state-change notification.
STATE_CHANGE_ACTIONS = ("tenant.state_recorded", "tenant.state_changed")
# The state counted for an event whose "to_state" is missing or empty (an answer without one).
UNKNOWN_STATE = "unknown"


def _to_state(dialect: str) -> ColumnElement[Any]:
    """The event's ``to_state`` from its JSON summary (a text column), parsed once."""
    document: ColumnElement[Any]
    if dialect == "postgresql":
        document = cast(audit_events.c.summary, JSON)
    else:  # SQLite's JSON1: json_extract on the text as stored
        document = type_coerce(audit_events.c.summary, JSON)
    value: ColumnElement[Any] = document["to_state"].as_string()
    return value


def _day(dialect: str) -> ColumnElement[Any]:
    """The event's day (UTC) as ``YYYY-MM-DD`` text, which orders as the days do."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", audit_events.c.at), "YYYY-MM-DD")
    return func.date(audit_events.c.at)  # SQLite stores UTC without an offset


def state_history_query(dialect: str, first_day: date, last_day: date) -> Select[Any]:
    """Per day (``YYYY-MM-DD``) and state: tenants that entered it minus tenants that left it
    that day. Events before ``first_day`` count as the day before it (the state the window
    starts from); events after ``last_day`` are left out (after the running latest day per
    tenant is taken over every event, which a later day's event may move). Ordered by day and
    state."""
    start = datetime.combine(first_day, time(), UTC)
    before = (first_day - timedelta(days=1)).isoformat()
    is_change = audit_events.c.action.in_(STATE_CHANGE_ACTIONS)
    # Every event written before the first one stamped inside the window is stamped before it,
    # and so are all the events written before that one: of those, only each tenant's last
    # counts (for the state the window starts from). The rest of the history is left out of
    # the windows below, so a long history costs one grouped pass over its ids, not three sorts.
    first_inside = func.coalesce(
        select(func.min(audit_events.c.id)).where(audit_events.c.at >= start).scalar_subquery(),
        select(func.coalesce(func.max(audit_events.c.id), 0) + 1).scalar_subquery(),
    )
    last_before = (
        select(func.max(audit_events.c.id))
        .where(is_change, audit_events.c.id < first_inside)
        .group_by(audit_events.c.application, func.lower(audit_events.c.context_identifier))
    )
    # The state change events, their JSON read once and only the few small columns kept
    # (what the windows below sort). PostgreSQL would otherwise fold this into the first window
    # and sort every event with its whole summary (spilling to disk at 10,000 tenants).
    events = (
        select(
            audit_events.c.id,
            audit_events.c.application,
            func.lower(audit_events.c.context_identifier).label("tenant"),
            _to_state(dialect).label("to_state"),
            case((audit_events.c.at < start, literal(before)), else_=_day(dialect)).label("day"),
        )
        .where(
            is_change,
            or_(audit_events.c.id >= first_inside, audit_events.c.id.in_(last_before)),
        )
        .cte("events")
    )
    if dialect == "postgresql":
        events = events.prefix_with("MATERIALIZED")
    # Each event, its tenant's running latest day in the order written ("ids, not times,
    # order": a clock that stepped back does not move a later event to an earlier day).
    missing = or_(events.c.to_state.is_(None), events.c.to_state == "")
    changes = select(
        events.c.id,
        events.c.application,
        events.c.tenant,
        case((missing, UNKNOWN_STATE), else_=events.c.to_state).label("state"),
        func.max(events.c.day)
        .over(
            partition_by=(events.c.application, events.c.tenant),
            order_by=events.c.id,
            rows=(None, 0),
        )
        .label("day"),
    ).cte("changes")
    who = (changes.c.application, changes.c.tenant)
    # The tenant's last event of each day: its state at the day's end.
    last_of_day = (
        select(
            *who,
            changes.c.day,
            changes.c.state,
            func.row_number()
            .over(partition_by=(*who, changes.c.day), order_by=changes.c.id.desc())
            .label("nth"),
        )
        .where(changes.c.day <= last_day.isoformat())
        .cte("last_of_day")
    )
    ends = (
        select(
            last_of_day.c.day,
            last_of_day.c.state,
            func.lag(last_of_day.c.state)
            .over(
                partition_by=(last_of_day.c.application, last_of_day.c.tenant),
                order_by=last_of_day.c.day,
            )
            .label("previous"),
        )
        .where(last_of_day.c.nth == 1)
        .cte("ends")
    )
    moved = or_(ends.c.previous.is_(None), ends.c.previous != ends.c.state)
    moves = union_all(
        select(ends.c.day, ends.c.state, literal(1).label("delta")).where(moved),
        select(ends.c.day, ends.c.previous.label("state"), literal(-1).label("delta")).where(
            ends.c.previous.is_not(None), ends.c.previous != ends.c.state
        ),
    ).subquery("moves")
    return (
        select(moves.c.day, moves.c.state, func.sum(moves.c.delta).label("delta"))
        .group_by(moves.c.day, moves.c.state)
        .order_by(moves.c.day, moves.c.state)
    )


def running_counts(
    moves: Iterable[Sequence[Any]], first_day: date, last_day: date
) -> list[TenantStateCount]:
    """Each day's tenants per state from ``first_day`` (or the first day with a move, when
    later) to ``last_day``, from the query's (day, state, delta) rows: a day without moves
    keeps the day before's counts; a state with no tenant is left out."""
    by_day: dict[date, list[tuple[str, int]]] = {}
    for day, state, delta in moves:
        by_day.setdefault(date.fromisoformat(str(day)), []).append((str(state), int(delta)))
    if not by_day:
        return []
    counts: dict[str, int] = {}
    found: list[TenantStateCount] = []
    current = min(by_day)
    while current <= last_day:
        for state, delta in by_day.get(current, ()):
            counts[state] = counts.get(state, 0) + delta
        if current >= first_day:
            found += [
                TenantStateCount(current, state, count)
                for state, count in sorted(counts.items())
                if count
            ]
        current += timedelta(days=1)
    return found


class StateHistory(RepositoryBase):
    def tenant_states_by_day(self, first_day: date, last_day: date) -> list[TenantStateCount]:
        """How many tenants were in each state at the end of each day (UTC) from ``first_day``
        to ``last_day``, from the recorded state changes (see the module's docstring); only
        days from the first recorded state on. One statement, whose answer has a row per day
        and state changed that day, however many tenants and events the store holds."""
        if last_day < first_day:
            raise ValueError("last_day is before first_day")
        with self._read() as connection:
            query = state_history_query(connection.dialect.name, first_day, last_day)
            rows = connection.execute(query).all()
        return running_counts(rows, first_day, last_day)
