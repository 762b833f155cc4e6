"""The tickets table's hot upserts, built once per SQL dialect with bound parameters: building
an ``INSERT ... ON CONFLICT`` (its ``excluded`` alias copies every column) costs far more client
CPU than the database takes to run it, and a renewal runs two of them (issue 14)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from toolkit.store.schema import authorizations, tickets

__all__ = ["TICKET_COLUMNS", "lease_upsert", "tenant_lease_upsert", "ticket_upsert"]

# The columns a stored ticket sets (``put_ticket``), bound by these names.
TICKET_COLUMNS = (
    "ticket",
    "serial",
    "webapi_url",
    "netserver_url",
    "obtained_at",
    "last_used_at",
    "expires_at",
)


def _insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(tickets)


def _bound(name: str) -> Any:
    return bindparam(name, type_=tickets.c[name].type)


def _lease_rule(statement: Any) -> Any:
    """``statement`` (an insert of a lease) taking over only a lease that is free, ``owner``'s
    or expired, and giving the row back when it did."""
    return statement.on_conflict_do_update(
        index_elements=["authorization_id"],
        set_={
            "lease_owner": statement.excluded.lease_owner,
            "renewing_until": statement.excluded.renewing_until,
        },
        where=or_(
            tickets.c.lease_owner.is_(None),
            tickets.c.lease_owner == bindparam("owner"),
            tickets.c.renewing_until.is_(None),
            tickets.c.renewing_until <= bindparam("now", type_=tickets.c.renewing_until.type),
        ),
    ).returning(tickets.c.authorization_id)


@functools.cache
def _lease(dialect: str) -> Any:
    return _lease_rule(
        _insert(dialect).values(
            authorization_id=bindparam("authorization_id"),
            lease_owner=bindparam("owner"),
            renewing_until=bindparam("until", type_=tickets.c.renewing_until.type),
        )
    )


@functools.cache
def _tenant_lease(dialect: str) -> Any:
    # The authorization comes from the application and the tenant (any case, as the renewal
    # view finds it; one record per tenant however cased): no read of its id first. No such
    # authorization: nothing is inserted, nothing comes back.
    source = select(
        authorizations.c.id,
        bindparam("owner", type_=tickets.c.lease_owner.type),
        bindparam("until", type_=tickets.c.renewing_until.type),
    ).where(
        authorizations.c.application_id == bindparam("application_id"),
        func.lower(authorizations.c.context_identifier) == bindparam("ctx"),
    )
    return _lease_rule(
        _insert(dialect).from_select(["authorization_id", "lease_owner", "renewing_until"], source)
    )


@functools.cache
def _ticket(dialect: str, release: bool) -> Any:
    statement = _insert(dialect).values(
        authorization_id=bindparam("authorization_id"),
        **{name: _bound(name) for name in TICKET_COLUMNS},
    )
    changes: dict[str, Any] = {name: statement.excluded[name] for name in TICKET_COLUMNS}
    if release:
        ours = tickets.c.lease_owner == bindparam("owner")
        changes["lease_owner"] = case((ours, None), else_=tickets.c.lease_owner)
        changes["renewing_until"] = case((ours, None), else_=tickets.c.renewing_until)
    return statement.on_conflict_do_update(index_elements=["authorization_id"], set_=changes)


def lease_upsert(connection: Connection) -> Any:
    """Take a renewal lease (parameters ``authorization_id``, ``owner``, ``now``, ``until``):
    a row inserted (none yet), or updated only where the lease is free, ``owner``'s or expired,
    atomically on both backends; a row comes back when the lease is taken."""
    return _lease(connection.dialect.name)


def tenant_lease_upsert(connection: Connection) -> Any:
    """:func:`lease_upsert` of the authorization of an application in a tenant (parameters
    ``application_id``, ``ctx`` lowercased, ``owner``, ``now``, ``until``), found by the same
    statement: ``INSERT ... SELECT ... ON CONFLICT``."""
    return _tenant_lease(connection.dialect.name)


def ticket_upsert(connection: Connection, *, release: bool) -> Any:
    """Store a ticket (``authorization_id`` and :data:`TICKET_COLUMNS`); with ``release``,
    also release the lease where ``owner`` still holds it, in the same statement."""
    return _ticket(connection.dialect.name, release)
