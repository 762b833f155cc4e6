"""The store's side of a ticket renewal in as few statements as it can: one write transaction
that takes the renewal lease of the application's authorization in the tenant (found by the
lease's own statement) and reads the application, that authorization and its stored ticket
together under it, and is rolled back when the renewal turns out not to be needed (a fresh
ticket is stored, the authorization cannot be used). A cold exchange went through 22 statements
in 8 transactions, each lookup repeated, then 7 in 3 (a read, then the lease and a read again
under it); now 3 in 1, and the ticket's put (which releases the lease) 2 in 1 (issue 14).

The statements are built once, with bound parameters: building a SELECT costs more client CPU
than SQLite takes to run it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select

from toolkit.errors import (
    ConfigurationError,
    NotInstalledError,
    StoreError,
)
from toolkit.store.areas.applications import Applications
from toolkit.store.areas.authorizations import Authorizations
from toolkit.store.areas.base import APPLICATION_BY_NAME_OR_ID, matched_application
from toolkit.store.areas.tenant_states import joined_state
from toolkit.store.areas.ticket_statements import tenant_lease_upsert
from toolkit.store.areas.tickets import Tickets
from toolkit.store.records import RenewalView
from toolkit.store.schema import applications, authorizations, tenant_states, tickets

__all__ = ["TicketRenewal"]

_PREFIXES = {"a_": applications, "z_": authorizations, "t_": tickets}

# The application, its authorization in the tenant (any case, protocol §1 [I]) and that
# authorization's ticket row, if any: one row per application matched, columns prefixed per
# table. By id (a renewal: the id is known), or by name or id with the tenant's last known
# state too (a tenant client being built: see TenantAccess).
_COLUMNS = [
    column.label(prefix + column.name) for prefix, table in _PREFIXES.items() for column in table.c
]
_JOINED = applications.outerjoin(
    authorizations,
    (authorizations.c.application_id == applications.c.id)
    & (func.lower(authorizations.c.context_identifier) == bindparam("ctx")),
).outerjoin(tickets, tickets.c.authorization_id == authorizations.c.id)
_VIEW = select(*_COLUMNS).select_from(_JOINED).where(applications.c.id == bindparam("application"))
_INSTALLATION_VIEW = (
    select(*_COLUMNS, *(column.label("s_" + column.name) for column in tenant_states.c))
    .select_from(
        _JOINED.outerjoin(tenant_states, tenant_states.c.authorization_id == authorizations.c.id)
    )
    .where(APPLICATION_BY_NAME_OR_ID)
)


def _part(row: Mapping[Any, Any], prefix: str, table: Table) -> dict[str, Any]:
    return {column.name: row[prefix + column.name] for column in table.c}


class TicketRenewal(Applications, Authorizations, Tickets):
    def _renewal_view(
        self,
        connection: Connection,
        application_id: str,
        context_identifier: str,
        *,
        by_name: bool = False,
    ) -> RenewalView:
        rows = (
            connection.execute(
                _INSTALLATION_VIEW if by_name else _VIEW,
                {"application": application_id, "ctx": context_identifier.lower()},
            )
            .mappings()
            .all()
        )
        row = matched_application(rows, application_id, "a_id")
        application = self._application(_part(row, "a_", applications))
        if row["z_id"] is None:
            raise NotInstalledError(
                f"application {application.name!r} has no authorization in {context_identifier!r}",
                application=application.name,
                context_identifier=context_identifier,
            )
        ticket_row = _part(row, "t_", tickets)
        authorization = self._authorization(_part(row, "z_", authorizations))
        state = None
        if by_name:
            state = joined_state(row, "s_", application.id, authorization.context_identifier)
        return RenewalView(
            application=application,
            authorization=authorization,
            ticket=None if ticket_row["ticket"] is None else self._stored_ticket(ticket_row),
            state=state,
        )

    def ticket_renewal_view(self, application_id: str, context_identifier: str) -> RenewalView:
        """The application (by id), its authorization in the tenant (any case) and the stored
        ticket, in one statement. UnknownApplicationError or NotInstalledError (NotFoundErrors)
        when either record is missing."""
        with self._read() as connection:
            return self._renewal_view(connection, application_id, context_identifier)

    def installation_view(self, application: str, context_identifier: str) -> RenewalView:
        """:meth:`ticket_renewal_view` of an application named by its name or id (an id match
        wins over a name match, as in :meth:`get_application`), with the tenant's last known
        state, in one statement: what a tenant client is built from (the application, its
        authorization in the tenant, what any worker last recorded of the tenant's state)."""
        with self._read() as connection:
            return self._renewal_view(connection, application, context_identifier, by_name=True)

    def take_ticket_renewal(
        self,
        application_id: str,
        context_identifier: str,
        owner: str,
        *,
        ttl: timedelta,
        keep: Callable[[RenewalView], bool] | None = None,
    ) -> tuple[RenewalView, bool]:
        """Try to take the renewal lease of the application's (by id) authorization in the
        tenant (any case), then read the :meth:`ticket_renewal_view` under it:
        ``(view, taken)``. One write transaction of two statements.

        The lease is taken when nobody holds it, ``owner`` holds it already (the expiry is
        extended) or another owner's lease has expired (a crashed holder), as in
        :meth:`acquire_ticket_lease`. The view is read after the lease, so it shows what another
        process stored meanwhile (a fresh ticket, a revoked authorization). When the lease was
        taken, ``keep(view)`` (called inside the transaction) says whether the caller still
        wants it: when it returns False the transaction is rolled back and ``taken`` is False,
        so a caller that finds a fresh ticket leaves no lease and writes nothing; when it
        raises, the transaction is rolled back and the error raised. UnknownApplicationError or
        NotInstalledError (NotFoundErrors) when either record is missing.
        """
        if not owner:
            raise StoreError("a lease needs an owner")
        if ttl <= timedelta(0):
            raise ConfigurationError("a lease ttl must be positive")
        try:
            with self._write() as connection:
                now = self._now()
                parameters = {
                    "application_id": application_id,
                    "ctx": context_identifier.lower(),
                    "owner": owner,
                    "now": now,
                    "until": now + ttl,
                }
                taken = (
                    connection.execute(tenant_lease_upsert(connection), parameters).first()
                    is not None
                )
                view = self._renewal_view(connection, application_id, context_identifier)
                if taken and keep is not None and not keep(view):
                    raise _GiveBack(view)
        except _GiveBack as given_back:
            return given_back.view, False
        return view, taken


class _GiveBack(Exception):
    """Rolls the lease's transaction back when its taker does not keep it."""

    def __init__(self, view: RenewalView) -> None:
        super().__init__()
        self.view = view
