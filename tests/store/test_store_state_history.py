"""Tenants per state per day (``Repository.tenant_states_by_day``), worked out by the database
from the audit trail's recorded state changes, on SQLite and PostgreSQL: checked day by day on
a small history, against a plain replay of the events on random ones, and for the size of the
database's answer (a row per day and state, whatever the number of tenants)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from store_support import Clock

from toolkit.store import AuditEvent, Repository, TenantStateCount
from toolkit.store.areas.state_history import state_history_query

APP = "Standard App"
OTHER_APP = "Custom App"
TENANT = "Cust12345"
OTHER_TENANT = "Cust54321"
DAY = date(2025, 3, 10)


def at_noon(clock: Clock, day: date, minutes: int = 0) -> None:
    clock.current = datetime.combine(day, time(12), UTC) + timedelta(minutes=minutes)


def record(
    store: Repository,
    clock: Clock,
    day: date,
    tenant: str,
    to_state: str | None,
    *,
    action: str = "tenant.state_recorded",
    application: str = APP,
    minutes: int = 0,
) -> None:
    at_noon(clock, day, minutes)
    store.record_audit(
        "test",
        action,
        application=application,
        context_identifier=tenant,
        summary={"from_state": "whatever", "to_state": to_state, "endpoint": None},
    )


def by_day(counts: Iterable[TenantStateCount]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for count in counts:
        table.setdefault(count.day.isoformat(), {})[count.state] = count.tenants
    return table


def replay(events: list[AuditEvent], first_day: date, last_day: date) -> dict[str, dict]:
    """The reference, one tenant and one day at a time: each tenant's state at a day's end is
    the ``to_state`` of its last event (in the order written) whose day, or the latest day of
    its earlier events, is not after that day; events before ``first_day`` count the day
    before it. Days from the first with a state on."""
    ordered = sorted(events, key=lambda item: item.id)
    effective: list[tuple[date, tuple[str, str], str]] = []
    latest: dict[tuple[str, str], date] = {}
    for item in ordered:
        key = (item.application or "", (item.context_identifier or "").lower())
        day = max(item.at.date(), first_day - timedelta(days=1), latest.get(key, date.min))
        latest[key] = day
        effective.append((day, key, str(item.summary.get("to_state") or "unknown")))
    if not effective:
        return {}
    table: dict[str, dict[str, int]] = {}
    current = max(first_day, min(day for day, _, _ in effective))
    while current <= last_day:
        state = {key: value for day, key, value in effective if day <= current}
        counts: dict[str, int] = {}
        for value in state.values():
            counts[value] = counts.get(value, 0) + 1
        table[current.isoformat()] = counts
        current += timedelta(days=1)
    return table


def test_each_day_counts_every_tenant_in_its_last_recorded_state(
    store: Repository, clock: Clock
) -> None:
    record(store, clock, DAY - timedelta(days=5), TENANT, "Running")  # before the window
    record(store, clock, DAY + timedelta(days=1), OTHER_TENANT, "Running")
    record(store, clock, DAY + timedelta(days=2), TENANT.upper(), "Suspended")  # same tenant
    record(store, clock, DAY + timedelta(days=2), OTHER_TENANT, "Running", application=OTHER_APP)
    record(store, clock, DAY + timedelta(days=9), TENANT, "Deleted")  # after the window
    at_noon(clock, DAY)
    store.record_audit("test", "ticket.renewed", summary={"to_state": "NotAState"})

    counts = store.tenant_states_by_day(DAY, DAY + timedelta(days=3))

    assert by_day(counts) == {
        "2025-03-10": {"Running": 1},  # the state the window starts from
        "2025-03-11": {"Running": 2},
        "2025-03-12": {"Running": 2, "Suspended": 1},  # another application: another tenant
        "2025-03-13": {"Running": 2, "Suspended": 1},  # no event: the day before's counts
    }


def test_the_last_change_of_a_day_counts_and_a_missing_state_is_unknown(
    store: Repository, clock: Clock
) -> None:
    record(store, clock, DAY, TENANT, "Running")
    record(store, clock, DAY, TENANT, "Suspended", action="tenant.state_changed", minutes=5)
    record(store, clock, DAY, OTHER_TENANT, None)
    record(store, clock, DAY + timedelta(days=1), OTHER_TENANT, "")
    record(store, clock, DAY + timedelta(days=1), TENANT, "Running")

    counts = store.tenant_states_by_day(DAY - timedelta(days=2), DAY + timedelta(days=1))

    assert by_day(counts) == {  # no day before the first recorded state
        "2025-03-10": {"Suspended": 1, "unknown": 1},
        "2025-03-11": {"Running": 1, "unknown": 1},
    }


def test_a_clock_stepped_back_does_not_move_a_later_change_to_an_earlier_day(
    store: Repository, clock: Clock
) -> None:
    record(store, clock, DAY + timedelta(days=1), TENANT, "Running")
    record(store, clock, DAY, TENANT, "Suspended")  # written later, stamped a day earlier

    counts = store.tenant_states_by_day(DAY, DAY + timedelta(days=2))

    assert by_day(counts) == {  # Running never shows at a day's end
        "2025-03-11": {"Suspended": 1},
        "2025-03-12": {"Suspended": 1},
    }


def test_without_a_recorded_state_there_is_no_history(store: Repository, clock: Clock) -> None:
    at_noon(clock, DAY)
    store.record_audit("test", "ticket.renewed", context_identifier=TENANT)

    assert store.tenant_states_by_day(DAY, DAY + timedelta(days=3)) == []
    with pytest.raises(ValueError, match="before"):
        store.tenant_states_by_day(DAY, DAY - timedelta(days=1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_counts_are_those_of_replaying_every_event(
    store: Repository, clock: Clock, seed: int
) -> None:
    chance = random.Random(seed)
    tenants = [(app, f"Cust{n}") for app in (APP, OTHER_APP) for n in range(6)]
    states = ["Running", "Suspended", "OfflineMaintenance", None]
    for _ in range(120):
        app, tenant = chance.choice(tenants)
        record(
            store,
            clock,
            DAY + timedelta(days=chance.randint(-6, 14)),
            chance.choice([tenant, tenant.upper()]),
            chance.choice(states),
            action=chance.choice(["tenant.state_recorded", "tenant.state_changed"]),
            application=app,
            minutes=chance.randint(-700, 700),
        )
    first_day, last_day = DAY, DAY + timedelta(days=9)
    events = [e for e in store.list_audit(limit=1_000) if e.action.startswith("tenant.")]

    counts = store.tenant_states_by_day(first_day, last_day)

    assert by_day(counts) == replay(events, first_day, last_day)


def test_the_answer_has_a_row_per_day_and_state_whatever_the_tenants(
    store: Repository, clock: Clock
) -> None:
    """300 tenants move through three states over five days: the database answers one row
    per day and state moved into or out of, not one per tenant or event."""
    for n in range(300):
        for offset, state in enumerate(["Running", "Suspended", "Running", "Deleted"]):
            if n % 4 >= offset:
                record(store, clock, DAY + timedelta(days=offset), f"Cust{n}", state, minutes=n)
    with store.engine.connect() as connection:
        query = state_history_query(connection.dialect.name, DAY, DAY + timedelta(days=4))
        answer = connection.execute(query).all()
    counts = store.tenant_states_by_day(DAY, DAY + timedelta(days=4))

    assert len(answer) <= 5 * 3
    assert by_day(counts)["2025-03-14"] == {"Deleted": 75, "Running": 150, "Suspended": 75}
    assert by_day(counts)["2025-03-10"] == {"Running": 300}


def test_a_change_stamped_before_the_window_but_written_inside_it_counts_inside(
    store: Repository, clock: Clock
) -> None:
    """The read leaves out the history written before the window's first event except each
    tenant's last: a change written later but stamped earlier still counts where it belongs."""
    record(store, clock, DAY - timedelta(days=9), TENANT, "OfflineMaintenance")
    record(store, clock, DAY - timedelta(days=5), TENANT, "Running")
    record(store, clock, DAY - timedelta(days=5), OTHER_TENANT, "Running")
    record(store, clock, DAY + timedelta(days=1), TENANT, "Running")
    record(store, clock, DAY - timedelta(days=3), TENANT, "Suspended")  # written after it

    counts = store.tenant_states_by_day(DAY, DAY + timedelta(days=1))

    assert by_day(counts) == {
        "2025-03-10": {"Running": 2},
        "2025-03-11": {"Running": 1, "Suspended": 1},
    }
