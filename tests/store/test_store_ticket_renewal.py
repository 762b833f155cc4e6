"""The store's side of a ticket renewal, on SQLite and PostgreSQL: the records in one read, the
lease taken with the records read again under it, and the lease released by the ticket's put."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_support import Clock, contend

from toolkit.errors import NotInstalledError, UnknownApplicationError
from toolkit.store import Authorization, Repository

TICKET = "7T:VABJAEMASwBFAFQALQBQAEwAQQBJAE4A"
WINDOW = timedelta(hours=6)
TTL = timedelta(seconds=90)


def authorize(store: Repository) -> Authorization:
    store.add_application("demo", environment="sod", client_id="cid-demo", client_secret="s")
    record, _ = store.put_authorization(
        "demo", "Cust12345", token_issued_at=Clock().current, system_user_token="Demo-abcdefghij"
    )
    return record


def put(store: Repository, record: Authorization, clock: Clock, owner: str | None) -> None:
    store.put_ticket(
        record.id,
        ticket=TICKET,
        obtained_at=clock(),
        expires_at=clock() + WINDOW,
        lease_owner=owner,
    )


def test_the_view_holds_application_authorization_and_ticket(
    store: Repository, clock: Clock
) -> None:
    record = authorize(store)
    view = store.ticket_renewal_view(record.application_id, "cust12345")  # any case
    assert (view.application.name, view.authorization.id, view.ticket) == ("demo", record.id, None)
    assert view.application.client_secret.reveal() == "s"
    assert view.authorization.system_user_token is not None
    assert view.authorization.system_user_token.reveal() == "Demo-abcdefghij"
    put(store, record, clock, owner=None)
    stored = store.ticket_renewal_view(record.application_id, "Cust12345").ticket
    assert stored is not None
    assert stored.ticket.reveal() == TICKET
    with pytest.raises(NotInstalledError):
        store.ticket_renewal_view(record.application_id, "Cust99999")
    with pytest.raises(UnknownApplicationError):
        store.ticket_renewal_view("00000000-0000-0000-0000-000000000000", "Cust12345")


def test_the_lease_is_taken_once_and_the_view_read_under_it(
    store: Repository, clock: Clock
) -> None:
    record = authorize(store)
    seen = store.ticket_renewal_view(record.application_id, "Cust12345")
    view, taken = store.take_ticket_renewal(seen, "a", ttl=TTL)
    assert taken
    assert view.ticket is None
    assert not store.take_ticket_renewal(seen, "b", ttl=TTL)[1]
    assert store.take_ticket_renewal(seen, "a", ttl=TTL)[1]  # the holder may extend it
    # A put by someone who does not hold the lease keeps it; the holder's put releases it.
    put(store, record, clock, owner="b")
    lease = store.get_ticket_lease(record.id)
    assert lease is not None
    assert lease.owner == "a"
    put(store, record, clock, owner="a")
    assert store.get_ticket_lease(record.id) is None
    # b, which read before a stored, sees a's ticket under the lease it now takes.
    view, taken = store.take_ticket_renewal(seen, "b", ttl=TTL)
    assert taken
    assert view.ticket is not None
    assert view.ticket.ticket.reveal() == TICKET
    clock.advance(seconds=91)  # b crashed: its lease expires and c takes it over
    assert store.take_ticket_renewal(seen, "c", ttl=TTL)[1]


def test_the_view_under_the_lease_shows_a_revoked_authorization(store: Repository) -> None:
    record = authorize(store)
    seen = store.ticket_renewal_view(record.application_id, "Cust12345")
    store.set_authorization_status("demo", "Cust12345", "revoked", actor="test")
    view, _ = store.take_ticket_renewal(seen, "a", ttl=TTL)
    assert view.authorization.status == "revoked"


def test_exactly_one_of_many_concurrent_renewals_takes_the_lease(store: Repository) -> None:
    record = authorize(store)
    seen = store.ticket_renewal_view(record.application_id, "Cust12345")
    winners = contend(lambda owner: store.take_ticket_renewal(seen, owner, ttl=TTL)[1])
    assert len(winners) == 1
