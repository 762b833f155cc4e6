"""Set-based reads over every tenant (issue 17), on SQLite and PostgreSQL: a page with search
and filters in SQL, counts, and the tickets and states of many authorizations in one statement
each (counted with a SQLAlchemy event listener)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from store_support import Clock

from toolkit.errors import ConfigurationError, NotFoundError
from toolkit.store import Repository

WINDOW = timedelta(hours=6)


@contextmanager
def statements(store: Repository) -> Iterator[list[str]]:
    """The SQL statements ``store`` runs inside the block (BEGIN and COMMIT are not among them)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        text = str(args[2])
        if text.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(text)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def seed(store: Repository, clock: Clock, tenants: int) -> dict[str, str]:
    """Two applications, ``tenants`` records each: ids by "app/ctx"; every third record has a
    ticket, every fourth a state, every fifth is revoked."""
    ids: dict[str, str] = {}
    for app in ("Bravo", "Alpha"):
        store.add_application(app, environment="sod", client_id=f"cid-{app}", client_secret="s")
        for i in range(tenants):
            ctx = f"Cust{i:05d}"
            record, _ = store.put_authorization(
                app,
                ctx,
                token_issued_at=clock(),
                company_name=f"Company {i} {'Industries' if i % 2 else 'Trading'}",
                approved_by=f"admin{i}@example.com",
            )
            ids[f"{app}/{ctx}"] = record.id
            if i % 3 == 0:
                store.put_ticket(
                    record.id,
                    ticket=f"7T:ticket{i}",
                    obtained_at=clock(),
                    expires_at=clock() + WINDOW,
                )
            if i % 4 == 0:
                store.put_tenant_state(
                    app, ctx, state="Running" if i % 8 else "Suspended", endpoint=None, api=None
                )
            if i % 5 == 0:
                store.set_authorization_status(app, ctx, "revoked")
    return ids


def test_a_page_searches_and_filters_in_sql(store: Repository, clock: Clock) -> None:
    seed(store, clock, 12)
    page = store.authorization_page(limit=5)
    assert page.total == 24
    assert [(r.application_id, r.context_identifier) for r in page.records] == [
        (store.get_application("Alpha").id, f"Cust{i:05d}") for i in range(5)
    ]  # by application name, then tenant
    second = store.authorization_page(limit=5, offset=10)
    assert [r.context_identifier for r in second.records] == [
        "Cust00010",
        "Cust00011",
        "Cust00000",
        "Cust00001",
        "Cust00002",
    ]
    bravo = store.authorization_page("Bravo", limit=100)
    assert bravo.total == 12
    assert {r.application_id for r in bravo.records} == {store.get_application("Bravo").id}
    # Any case, in the tenant, the company or the approver; LIKE's wildcards are literal.
    assert store.authorization_page("Alpha", search="cust0000", limit=100).total == 10
    assert store.authorization_page("Alpha", search="INDUSTRIES", limit=100).total == 6
    assert store.authorization_page("Alpha", search="ADMIN7@", limit=100).total == 1
    assert store.authorization_page(search="%", limit=100).total == 0
    assert store.authorization_page(search="_", limit=100).total == 0
    revoked = store.authorization_page(status="revoked", limit=100)
    assert revoked.total == 6
    assert {r.status for r in revoked.records} == {"revoked"}
    assert store.authorization_page(search="  ", limit=1).total == 24  # blank: no search


def test_a_page_filters_on_whether_the_tenant_state_was_ever_checked(
    store: Repository, clock: Clock
) -> None:
    seed(store, clock, 12)  # a state for tenants 0, 4 and 8 of each application
    checked = store.authorization_page(checked=True, limit=100)
    assert checked.total == 6
    assert {r.context_identifier for r in checked.records} == {
        "Cust00000",
        "Cust00004",
        "Cust00008",
    }
    never = store.authorization_page("Alpha", checked=False, limit=100)
    assert never.total == 9
    assert "Cust00004" not in {r.context_identifier for r in never.records}
    assert store.authorization_page(checked=False, status="revoked", limit=100).total == 4


def test_the_latest_run_of_each_tenant_of_a_page(store: Repository, clock: Clock) -> None:
    seed(store, clock, 3)
    alpha = store.get_application("Alpha").id

    def run(ctx: str, outcome: str) -> str:
        started = store.start_provisioning_run(
            "Alpha", ctx, operation="apply", actor="t", plan={}, fingerprint=None, steps_total=0
        )
        store.finish_provisioning_run(started.id, outcome)
        clock.advance(minutes=1)
        return started.id

    run("Cust00000", "failed")
    newest = run("Cust00000", "succeeded")
    other = run("Cust00002", "partial")
    with statements(store) as seen:
        latest = store.latest_runs_of([(alpha, "CUST00000"), (alpha, "Cust00001")])
    assert len(seen) == 1
    assert {key: found.id for key, found in latest.items()} == {(alpha, "cust00000"): newest}
    assert latest[(alpha, "cust00000")].outcome == "succeeded"
    assert store.latest_runs_of([(alpha, "Cust00002")])[(alpha, "cust00002")].id == other
    assert store.latest_runs_of([]) == {}


def test_a_page_refuses_a_bad_size_and_an_unknown_application(store: Repository) -> None:
    for limit, offset in ((0, 0), (1001, 0), (10, -1)):
        with pytest.raises(ConfigurationError):
            store.authorization_page(limit=limit, offset=offset)
    with pytest.raises(NotFoundError):
        store.authorization_page("nope")


def test_counts_and_keys(store: Repository, clock: Clock) -> None:
    seed(store, clock, 10)
    alpha, bravo = store.get_application("Alpha").id, store.get_application("Bravo").id
    assert store.authorization_counts() == {
        (alpha, "active"): 8,
        (alpha, "revoked"): 2,
        (bravo, "active"): 8,
        (bravo, "revoked"): 2,
    }
    # Cust0, 4, 8 of each application; 0 and 8 are Suspended (i % 8 == 0).
    assert store.tenant_state_counts() == {"Running": 2, "Suspended": 4}
    keys = store.authorization_keys("Bravo", status="active")
    assert [k.context_identifier for k in keys] == [f"Cust{i:05d}" for i in range(10) if i % 5]
    assert {k.application_id for k in keys} == {bravo}
    assert {k.status for k in keys} == {"active"}


def test_tickets_and_states_of_many_records_in_one_statement_each(
    store: Repository, clock: Clock
) -> None:
    ids = seed(store, clock, 30)
    wanted = [ids[f"Alpha/Cust{i:05d}"] for i in range(30)]
    with statements(store) as seen:
        held = store.tickets_of(wanted)
        states = store.tenant_states_of(wanted)
    assert len(seen) == 2
    # Revoking dropped the tickets of Cust0, 15 (i % 5 == 0 and i % 3 == 0).
    assert sorted(held) == sorted(
        ids[f"Alpha/Cust{i:05d}"] for i in range(30) if i % 3 == 0 and i % 5
    )
    assert held[ids["Alpha/Cust00003"]].ticket.reveal() == "7T:ticket3"  # sealed, opens
    assert sorted(states) == sorted(ids[f"Alpha/Cust{i:05d}"] for i in range(30) if i % 4 == 0)
    assert states[ids["Alpha/Cust00004"]].state == "Running"
    assert states[ids["Alpha/Cust00004"]].context_identifier == "Cust00004"
    # Every record's tickets (one application's, active only) in one statement too.
    with statements(store) as seen:
        active = store.tickets_of(application="Alpha", status="active")
    assert len(seen) == 2  # the application's lookup, then the tickets
    assert set(active) == set(held)
    assert store.tickets_of([]) == {}


def test_audit_facets(store: Repository, clock: Clock) -> None:
    store.record_audit("cli:ops", "provisioning.apply", application="Alpha")
    store.record_audit("webhook", "tenant.state_changed", application="Bravo")
    store.record_audit("cli:ops", "key.rotated")
    facets = store.audit_facets()
    assert facets.applications == ("Alpha", "Bravo")
    assert facets.actors == ("cli:ops", "webhook")
    assert facets.actions == ("key.rotated", "provisioning.apply", "tenant.state_changed")


def test_ticket_counts_split_valid_from_expiring_in_sql(store: Repository, clock: Clock) -> None:
    """The Overview's ticket numbers: a ticket is valid until its last use (or when it was
    obtained) plus the window, expiring inside the margin before that; revoked records,
    closed tickets and lease-only rows are not counted. Two statements, named or not."""
    margin = timedelta(minutes=30)
    start = clock()
    store.add_application("Alpha", environment="sod", client_id="cid-a", client_secret="s")
    ages = {"Fresh": 1, "Used": 5, "Soon": 5.75, "Sooner": 5.9, "Closed": 7, "Revoked": 5.8}
    for ctx, hours in ages.items():
        record, _ = store.put_authorization("Alpha", ctx, token_issued_at=start)
        store.put_ticket(
            record.id,
            ticket=f"7T:{ctx}",
            obtained_at=start - timedelta(hours=hours),
            expires_at=start - timedelta(hours=hours) + WINDOW,
        )
        if ctx == "Used":  # used an hour ago: valid again for the window
            store.touch_ticket(
                record.id,
                ticket=f"7T:{ctx}",
                used_at=start - timedelta(hours=1),
                expires_at=start - timedelta(hours=1) + WINDOW,
            )
        if ctx == "Revoked":
            store.set_authorization_status("Alpha", ctx, "revoked")
    lease_only, _ = store.put_authorization("Alpha", "Leased", token_issued_at=start)
    store.acquire_ticket_lease(lease_only.id, "w", ttl=timedelta(minutes=1))

    with statements(store) as seen:
        counts = store.ticket_counts(now=start, window=WINDOW, margin=margin, named=1)

    assert (counts.valid, counts.expiring) == (2, 2)
    assert [record.context_identifier for record in counts.expiring_first] == ["Sooner"]
    assert len(seen) == 2
    every = store.ticket_counts(now=start, window=WINDOW, margin=margin, status=None, named=5)
    # Revoking dropped that record's ticket: with any status, the same two expire.
    assert [record.context_identifier for record in every.expiring_first] == ["Sooner", "Soon"]
