"""System user tickets: the sealed ticket of each authorization and its renewal lease."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from toolkit.errors import (
    ConfigurationError,
    DecryptionError,
    NotFoundError,
    SecretKeyError,
    StoreError,
)
from toolkit.store.areas.base import RepositoryBase, first_row, from_row
from toolkit.store.areas.ticket_statements import lease_upsert, ticket_upsert
from toolkit.store.records import StoredTicket, TicketLease
from toolkit.store.schema import tickets

__all__ = ["Tickets"]


class Tickets(RepositoryBase):
    def _stored_ticket(self, row: Mapping[Any, Any]) -> StoredTicket:
        key = row["authorization_id"]
        return from_row(
            StoredTicket, row, ticket=self._required_secret(tickets, key, "ticket", row["ticket"])
        )

    def _ticket_row(self, connection: Connection, authorization_id: str) -> RowMapping | None:
        query = select(tickets).where(tickets.c.authorization_id == authorization_id)
        return first_row(connection, query, lock=True)

    def _holds(self, row: Mapping[Any, Any], ticket: str) -> bool:
        """Does the row hold exactly ``ticket``? (A value that cannot be opened does not.)"""
        if row["ticket"] is None:
            return False
        try:
            return self._stored_ticket(row).ticket.matches(ticket)
        except (DecryptionError, SecretKeyError):
            return False

    def get_ticket(self, authorization_id: str) -> StoredTicket | None:
        """The stored ticket of an authorization (by id), or None when there is none."""
        with self._read() as connection:
            row = (
                connection.execute(
                    select(tickets).where(
                        tickets.c.authorization_id == authorization_id,
                        tickets.c.ticket.is_not(None),
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else self._stored_ticket(row)

    def put_ticket(
        self,
        authorization_id: str,
        *,
        ticket: str,
        obtained_at: datetime,
        expires_at: datetime,
        serial: str | None = None,
        webapi_url: str | None = None,
        netserver_url: str | None = None,
        last_used_at: datetime | None = None,
        lease_owner: str | None = None,
    ) -> StoredTicket:
        """Keep ``ticket`` (sealed) as the authorization's ticket, replacing any other.

        When ``lease_owner`` holds the renewal lease, it is released in the same transaction,
        so a process waiting for the lease finds the new ticket as soon as it may exchange.
        NotFoundError when the authorization does not exist.
        """
        if not ticket:
            raise StoreError("an empty ticket cannot be stored")
        values: dict[str, Any] = {
            "ticket": self._seal(tickets, authorization_id, "ticket", ticket),
            "serial": serial,
            "webapi_url": webapi_url,
            "netserver_url": netserver_url,
            "obtained_at": obtained_at,
            "last_used_at": last_used_at,
            "expires_at": expires_at,
        }
        parameters = {"authorization_id": authorization_id, "owner": lease_owner, **values}
        with self._write() as connection:
            # One upsert (issue 14: it was an insert, a locked read and an update); the lease
            # is released only where ``lease_owner`` still holds it.
            statement = ticket_upsert(connection, release=lease_owner is not None)
            try:
                connection.execute(statement, parameters)
            except IntegrityError:  # the foreign key: no such authorization
                raise NotFoundError(f"no authorization {authorization_id!r}") from None
        return self._stored_ticket({"authorization_id": authorization_id, **values})

    def touch_ticket(
        self, authorization_id: str, *, ticket: str, used_at: datetime, expires_at: datetime
    ) -> bool:
        """Record a use of ``ticket`` (sliding its window); False if it is no longer stored.

        Only moves forward: an older ``used_at`` than the stored one changes nothing.
        """
        with self._write() as connection:
            row = self._ticket_row(connection, authorization_id)
            if row is None or not self._holds(row, ticket):
                return False
            if row["last_used_at"] is not None and row["last_used_at"] >= used_at:
                return True
            connection.execute(
                update(tickets)
                .where(tickets.c.authorization_id == authorization_id)
                .values(last_used_at=used_at, expires_at=expires_at)
            )
        return True

    def delete_ticket(self, authorization_id: str, *, ticket: str | None = None) -> bool:
        """Forget the authorization's ticket; with ``ticket``, only if it is that very one.

        Returns whether a ticket was removed. A lease in progress is kept.
        """
        with self._write() as connection:
            row = self._ticket_row(connection, authorization_id)
            if row is None or row["ticket"] is None:
                return False
            if ticket is not None and not self._holds(row, ticket):
                try:
                    self._stored_ticket(row).ticket.reveal()
                except (DecryptionError, SecretKeyError):
                    pass  # unreadable: nobody can use it, so it goes
                else:
                    return False
            condition = tickets.c.authorization_id == authorization_id
            leased = row["renewing_until"] is not None and row["renewing_until"] > self._now()
            if leased:
                connection.execute(
                    update(tickets)
                    .where(condition)
                    .values(
                        ticket=None,
                        serial=None,
                        webapi_url=None,
                        netserver_url=None,
                        obtained_at=None,
                        last_used_at=None,
                        expires_at=None,
                    )
                )
            else:
                connection.execute(delete(tickets).where(condition))
        return True

    def _take_lease(
        self, connection: Connection, authorization_id: str, owner: str, ttl: timedelta
    ) -> bool:
        """One conditional upsert (:func:`lease_upsert`): whether ``owner`` holds the lease now.
        NotFoundError when the authorization does not exist."""
        if not owner:
            raise StoreError("a lease needs an owner")
        if ttl <= timedelta(0):
            raise ConfigurationError("a lease ttl must be positive")
        now = self._now()
        parameters = {
            "authorization_id": authorization_id,
            "owner": owner,
            "now": now,
            "until": now + ttl,
        }
        try:
            return connection.execute(lease_upsert(connection), parameters).first() is not None
        except IntegrityError:  # the foreign key: no such authorization
            raise NotFoundError(f"no authorization {authorization_id!r}") from None

    def acquire_ticket_lease(self, authorization_id: str, owner: str, *, ttl: timedelta) -> bool:
        """Take the right to exchange a new ticket for this authorization, for at most ``ttl``.

        Runs in a write transaction (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL the upsert
        locks the row), so of several processes exactly one gets it. True when ``owner`` now
        holds the lease (also when it held it already: the expiry is extended); False while
        another owner's lease has not expired. An expired lease (a crashed holder) is taken
        over. NotFoundError when the authorization does not exist.
        """
        with self._write() as connection:
            return self._take_lease(connection, authorization_id, owner, ttl)

    def release_ticket_lease(self, authorization_id: str, owner: str) -> bool:
        """Give the lease back; False when ``owner`` does not hold it (any more)."""
        with self._write() as connection:
            row = self._ticket_row(connection, authorization_id)
            if row is None or row["lease_owner"] != owner:
                return False
            condition = tickets.c.authorization_id == authorization_id
            if row["ticket"] is None:
                connection.execute(delete(tickets).where(condition))
            else:
                connection.execute(
                    update(tickets).where(condition).values(lease_owner=None, renewing_until=None)
                )
        return True

    def get_ticket_lease(self, authorization_id: str) -> TicketLease | None:
        """The lease in force for this authorization, or None (no lease, or it expired)."""
        with self._read() as connection:
            row = (
                connection.execute(
                    select(tickets.c.lease_owner, tickets.c.renewing_until).where(
                        tickets.c.authorization_id == authorization_id
                    )
                )
                .mappings()
                .first()
            )
        if row is None or row["lease_owner"] is None or row["renewing_until"] is None:
            return None
        if row["renewing_until"] <= self._now():
            return None
        return TicketLease(authorization_id, row["lease_owner"], row["renewing_until"])

    def count_tickets(self) -> int:
        """How many authorizations hold a stored ticket."""
        with self._read() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(tickets).where(tickets.c.ticket.is_not(None))
                ).scalar_one()
            )
