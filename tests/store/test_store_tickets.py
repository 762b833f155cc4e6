"""Tickets in the store, on SQLite and PostgreSQL: sealed, compare-and-delete, leases, rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from store_support import KEY_A, KEY_B, Clock, contend

from toolkit.errors import DecryptionError, NotFoundError
from toolkit.store import Authorization, Repository, open_store
from toolkit.store.schema import tickets

TICKET = "7T:VABJAEMASwBFAFQALQBQAEwAQQBJAE4A"
WINDOW = timedelta(hours=6)


def authorize(store: Repository, app: str = "demo", ctx: str = "Cust12345") -> Authorization:
    store.add_application(app, environment="sod", client_id=f"cid-{app}", client_secret="s")
    record, _ = store.put_authorization(
        app, ctx, token_issued_at=Clock().current, system_user_token="Demo-abcdefghij"
    )
    return record


def put(store: Repository, authorization_id: str, clock: Clock, value: str = TICKET) -> None:
    store.put_ticket(
        authorization_id,
        ticket=value,
        obtained_at=clock(),
        expires_at=clock() + WINDOW,
        serial="42",
        webapi_url="https://sod.superoffice.com/Cust12345/api/",
    )


def test_a_ticket_round_trips_sealed(store: Repository, clock: Clock) -> None:
    record = authorize(store)
    assert store.get_ticket(record.id) is None
    put(store, record.id, clock)
    stored = store.get_ticket(record.id)
    assert stored is not None
    assert stored.ticket.reveal() == TICKET
    assert TICKET not in repr(stored)
    assert (stored.serial, stored.obtained_at, stored.expires_at) == (
        "42",
        clock(),
        clock() + WINDOW,
    )
    assert store.count_tickets() == 1
    with store.engine.connect() as connection:
        raw = connection.execute(select(tickets.c.ticket)).scalar_one()
    assert raw.startswith("v1:alpha:")
    assert TICKET not in raw


def test_a_ticket_copied_to_another_row_does_not_open(store: Repository, clock: Clock) -> None:
    first = authorize(store, "one")
    second = authorize(store, "two")
    put(store, first.id, clock)
    put(store, second.id, clock, "7T:other")
    with store.engine.begin() as connection:
        raw = connection.execute(
            select(tickets.c.ticket).where(tickets.c.authorization_id == first.id)
        ).scalar_one()
        connection.execute(
            update(tickets).where(tickets.c.authorization_id == second.id).values(ticket=raw)
        )
    stored = store.get_ticket(second.id)
    assert stored is not None
    with pytest.raises(DecryptionError):
        stored.ticket.reveal()
    assert [(u.table, u.row_id) for u in store.verify_secrets()] == [("tickets", second.id)]


def test_touch_moves_forward_for_that_ticket_only(store: Repository, clock: Clock) -> None:
    record = authorize(store)
    put(store, record.id, clock)
    later = clock() + timedelta(hours=2)
    assert not store.touch_ticket(record.id, ticket="7T:other", used_at=later, expires_at=later)
    assert store.touch_ticket(record.id, ticket=TICKET, used_at=later, expires_at=later + WINDOW)
    earlier = clock() + timedelta(hours=1)
    assert store.touch_ticket(record.id, ticket=TICKET, used_at=earlier, expires_at=earlier)
    stored = store.get_ticket(record.id)
    assert stored is not None
    assert (stored.last_used_at, stored.expires_at) == (later, later + WINDOW)


def test_delete_only_that_ticket(store: Repository, clock: Clock) -> None:
    record = authorize(store)
    put(store, record.id, clock)
    assert not store.delete_ticket(record.id, ticket="7T:other")
    assert store.get_ticket(record.id) is not None
    assert store.delete_ticket(record.id, ticket=TICKET)
    assert store.get_ticket(record.id) is None
    assert not store.delete_ticket(record.id)


def test_leases(store: Repository, clock: Clock) -> None:
    record = authorize(store)
    ttl = timedelta(seconds=90)
    assert store.acquire_ticket_lease(record.id, "a", ttl=ttl)
    assert not store.acquire_ticket_lease(record.id, "b", ttl=ttl)
    assert store.acquire_ticket_lease(record.id, "a", ttl=ttl)  # the holder may extend it
    lease = store.get_ticket_lease(record.id)
    assert lease is not None
    assert (lease.owner, lease.renewing_until) == ("a", clock() + ttl)
    assert store.get_ticket(record.id) is None  # a lease alone is no ticket
    assert not store.release_ticket_lease(record.id, "b")
    assert store.release_ticket_lease(record.id, "a")
    assert store.get_ticket_lease(record.id) is None
    assert store.acquire_ticket_lease(record.id, "b", ttl=ttl)
    clock.advance(seconds=91)  # b crashed: its lease expires
    assert store.get_ticket_lease(record.id) is None
    assert store.acquire_ticket_lease(record.id, "c", ttl=ttl)
    # Storing the ticket releases the holder's lease in the same transaction.
    store.put_ticket(
        record.id,
        ticket=TICKET,
        obtained_at=clock(),
        expires_at=clock() + WINDOW,
        lease_owner="c",
    )
    assert store.get_ticket_lease(record.id) is None
    stored = store.get_ticket(record.id)
    assert stored is not None
    assert stored.ticket.reveal() == TICKET


def test_a_lease_needs_an_authorization(store: Repository) -> None:
    with pytest.raises(NotFoundError):
        store.acquire_ticket_lease("00000000-0000-0000-0000-000000000000", "a", ttl=WINDOW)


def test_exactly_one_of_many_concurrent_owners_gets_the_lease(store: Repository) -> None:
    record = authorize(store)
    winners = contend(
        lambda owner: store.acquire_ticket_lease(record.id, owner, ttl=timedelta(minutes=1))
    )
    assert len(winners) == 1


def test_an_authorization_that_stops_being_active_loses_its_ticket(
    store: Repository, clock: Clock
) -> None:
    record = authorize(store)
    put(store, record.id, clock)
    store.set_authorization_status("demo", "Cust12345", "needs_reconsent", actor="ticket-manager")
    assert store.get_ticket(record.id) is None
    assert store.list_audit()[0].summary["ticket_dropped"] is True


def test_rotation_and_verification_include_tickets(
    store: Repository, database_url: str | None, home: Path, clock: Clock
) -> None:
    record = authorize(store)
    put(store, record.id, clock)
    store.close()
    rotating = open_store(database_url, home, f"{KEY_B},{KEY_A}", now=clock)
    try:
        report = rotating.rotate_secrets()
        assert report.rotated == 4  # client secret, system user token, ticket, canary
        assert rotating.verify_secrets() == []
    finally:
        rotating.close()
    only_new = open_store(database_url, home, KEY_B, now=clock)
    try:
        stored = only_new.get_ticket(record.id)
        assert stored is not None
        assert stored.ticket.reveal() == TICKET
    finally:
        only_new.close()
