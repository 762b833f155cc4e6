"""The store's side of a ticket renewal, on SQLite and PostgreSQL: the records in one read, the
lease taken (its authorization found by the lease's own statement) with the records read under
it, rolled back when its taker does not keep it, and released by the ticket's put."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from store_support import Clock, contend

from toolkit.errors import AuthorizationNotActiveError, NotInstalledError, UnknownApplicationError
from toolkit.store import Authorization, Repository
from toolkit.store.records import RenewalView
from toolkit.store.schema import tickets

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


def test_the_installation_view_names_the_application_by_name_or_id(store: Repository) -> None:
    record = authorize(store)
    by_name = store.installation_view("demo", "cust12345")  # any case
    by_id = store.installation_view(record.application_id, "Cust12345")
    assert by_name.authorization.id == by_id.authorization.id == record.id
    assert by_name.application.id == record.application_id
    # An application named like another's id: the id match wins, as in get_application.
    store.add_application(
        record.application_id, environment="sod", client_id="cid-other", client_secret="t"
    )
    assert store.installation_view(record.application_id, "Cust12345").authorization.id == (
        record.id
    )
    with pytest.raises(NotInstalledError):
        store.installation_view("demo", "Cust99999")
    with pytest.raises(UnknownApplicationError):
        store.installation_view("no such app", "Cust12345")


def take(
    store: Repository,
    record: Authorization,
    owner: str,
    ctx: str = "Cust12345",
    keep: Callable[[RenewalView], bool] | None = None,
) -> tuple[RenewalView, bool]:
    return store.take_ticket_renewal(record.application_id, ctx, owner, ttl=TTL, keep=keep)


def test_the_lease_is_taken_once_and_the_view_read_under_it(
    store: Repository, clock: Clock
) -> None:
    record = authorize(store)
    view, taken = take(store, record, "a", ctx="cust12345")  # the tenant in any case
    assert taken
    assert (view.authorization.id, view.ticket) == (record.id, None)
    assert view.application.client_secret.reveal() == "s"
    assert not take(store, record, "b")[1]
    assert take(store, record, "a")[1]  # the holder may extend it
    # A put by someone who does not hold the lease keeps it; the holder's put releases it.
    put(store, record, clock, owner="b")
    lease = store.get_ticket_lease(record.id)
    assert lease is not None
    assert lease.owner == "a"
    put(store, record, clock, owner="a")
    assert store.get_ticket_lease(record.id) is None
    # b, which looked before a stored, sees a's ticket under the lease it now takes.
    view, taken = take(store, record, "b")
    assert taken
    assert view.ticket is not None
    assert view.ticket.ticket.reveal() == TICKET
    clock.advance(seconds=91)  # b crashed: its lease expires and c takes it over
    assert take(store, record, "c")[1]


def test_a_lease_its_taker_does_not_keep_is_rolled_back(store: Repository, clock: Clock) -> None:
    record = authorize(store)
    put(store, record, clock, owner=None)
    seen: list[RenewalView] = []

    def keep(view: RenewalView) -> bool:
        seen.append(view)
        return view.ticket is None  # a stored ticket: no renewal

    view, taken = take(store, record, "a", keep=keep)
    assert not taken
    assert seen == [view]
    assert view.ticket is not None
    assert store.get_ticket_lease(record.id) is None  # nothing was written
    assert take(store, record, "b")[1]  # so another may take it
    # keep is asked only when the lease was taken: b holds it now.
    assert not take(store, record, "a", keep=keep)[1]
    assert len(seen) == 1


def test_a_lease_whose_keep_raises_is_rolled_back_and_the_error_raised(
    store: Repository,
) -> None:
    record = authorize(store)

    def keep(view: RenewalView) -> bool:
        raise AuthorizationNotActiveError("not usable", status=view.authorization.status)

    with pytest.raises(AuthorizationNotActiveError):
        take(store, record, "a", keep=keep)
    assert store.get_ticket_lease(record.id) is None
    with store.engine.connect() as connection:  # not even a row without a lease
        assert connection.execute(select(func.count()).select_from(tickets)).scalar_one() == 0


def test_no_lease_without_the_records(store: Repository) -> None:
    record = authorize(store)
    with pytest.raises(NotInstalledError):
        take(store, record, "a", ctx="Cust99999")
    with pytest.raises(UnknownApplicationError):
        store.take_ticket_renewal("00000000-0000-0000-0000-000000000000", "Cust12345", "a", ttl=TTL)
    assert store.get_ticket_lease(record.id) is None


def test_the_view_under_the_lease_shows_a_revoked_authorization(store: Repository) -> None:
    record = authorize(store)
    store.set_authorization_status("demo", "Cust12345", "revoked", actor="test")
    view, _ = take(store, record, "a")
    assert view.authorization.status == "revoked"


def test_exactly_one_of_many_concurrent_renewals_takes_the_lease(store: Repository) -> None:
    record = authorize(store)
    winners = contend(lambda owner: take(store, record, owner)[1])
    assert len(winners) == 1
