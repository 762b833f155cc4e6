"""Set-based reads over every tenant (issue 17): a page of authorization records with search and
filters in SQL, counts by status and state, and the tickets and tenant states of many
authorizations in one query. A front end showing 10,000 tenants runs a fixed number of
statements, whatever the number of tenants."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from toolkit.errors import ConfigurationError
from toolkit.store.areas.authorizations import Authorizations
from toolkit.store.areas.base import from_row
from toolkit.store.areas.tenant_states import TenantStates
from toolkit.store.areas.tickets import Tickets
from toolkit.store.records import (
    AuditFacets,
    AuthorizationKey,
    AuthorizationPage,
    StoredTicket,
    TenantStateRecord,
    TicketCounts,
)
from toolkit.store.schema import (
    applications,
    audit_events,
    authorizations,
    tenant_states,
    tickets,
)

__all__ = ["ID_BATCH", "PAGE_LIMIT", "FleetReads"]

# Authorization ids per IN (...) list: well under every backend's bound-parameter limit, and a
# page of a table is far smaller, so a page's reads are one statement each.
ID_BATCH = 500
# The most records one page may ask for.
PAGE_LIMIT = 1000


def _batches(ids: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), ID_BATCH):
        yield ordered[start : start + ID_BATCH]


class FleetReads(Authorizations, Tickets, TenantStates):
    def _filtered(
        self,
        query: Select[Any],
        *,
        search: str | None,
        status: str | None,
        checked: bool | None = None,
    ) -> Select[Any]:
        if status is not None:
            query = query.where(authorizations.c.status == status)
        if checked is not None:
            # Whether a tenant state was ever recorded (a Check state or a webhook).
            known = (
                select(tenant_states.c.authorization_id)
                .where(tenant_states.c.authorization_id == authorizations.c.id)
                .exists()
            )
            query = query.where(known if checked else ~known)
        term = (search or "").strip().lower()
        if term:
            # Case-insensitive substring of the tenant, the company or who approved.
            query = query.where(
                or_(
                    *(
                        func.lower(column).contains(term, autoescape=True)
                        for column in (
                            authorizations.c.context_identifier,
                            authorizations.c.company_name,
                            authorizations.c.approved_by,
                        )
                    )
                )
            )
        return query

    def authorization_page(
        self,
        application: str | None = None,
        *,
        search: str | None = None,
        status: str | None = None,
        checked: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> AuthorizationPage:
        """The records (all, or one application's; name or id) whose tenant, company or
        approver contains ``search`` (any case), with ``status``, whose tenant state was ever
        recorded (``checked`` True) or never (False), by application name and tenant:
        ``limit`` from ``offset``, and how many match in all. Two statements."""
        if not 0 < limit <= PAGE_LIMIT or offset < 0:
            raise ConfigurationError(f"a page holds 1 to {PAGE_LIMIT} records from offset >= 0")
        joined = authorizations.join(
            applications, applications.c.id == authorizations.c.application_id
        )
        rows_query = self._filtered(
            select(authorizations).select_from(joined),
            search=search,
            status=status,
            checked=checked,
        )
        count_query = self._filtered(
            select(func.count()).select_from(joined), search=search, status=status, checked=checked
        )
        with self._read() as connection:
            if application is not None:
                app = self._require_application(connection, application)
                rows_query = rows_query.where(authorizations.c.application_id == app["id"])
                count_query = count_query.where(authorizations.c.application_id == app["id"])
            total = int(connection.execute(count_query).scalar_one())
            rows = (
                connection.execute(
                    rows_query.order_by(applications.c.name, authorizations.c.context_identifier)
                    .limit(limit)
                    .offset(offset)
                )
                .mappings()
                .all()
            )
        return AuthorizationPage(tuple(self._authorization(row) for row in rows), total)

    def authorization_keys(
        self, application: str | None = None, *, status: str | None = None
    ) -> list[AuthorizationKey]:
        """Id, application, tenant and status of every record (or one application's), by
        application name and tenant: one statement, no claims or sealed columns read."""
        query = (
            select(
                authorizations.c.id,
                authorizations.c.application_id,
                authorizations.c.context_identifier,
                authorizations.c.status,
            )
            .join(applications, applications.c.id == authorizations.c.application_id)
            .order_by(applications.c.name, authorizations.c.context_identifier)
        )
        if status is not None:
            query = query.where(authorizations.c.status == status)
        rows = self._rows_of(query, authorizations.c.application_id, application)
        return [from_row(AuthorizationKey, row) for row in rows]

    def authorization_counts(self) -> dict[tuple[str, str], int]:
        """How many records each application (by id) has in each status."""
        query = select(
            authorizations.c.application_id, authorizations.c.status, func.count()
        ).group_by(authorizations.c.application_id, authorizations.c.status)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return {(app_id, status): int(count) for app_id, status, count in rows}

    def tickets_of(
        self,
        authorization_ids: Collection[str] | None = None,
        *,
        application: str | None = None,
        status: str | None = None,
    ) -> dict[str, StoredTicket]:
        """The stored tickets (sealed, not decrypted) by authorization id: of ``authorization_ids``
        (one statement per :data:`ID_BATCH` ids), or of every record (one application's, with
        ``status``) in one statement."""
        base = select(tickets).where(tickets.c.ticket.is_not(None))
        if authorization_ids is not None:
            found: list[Any] = []
            with self._read() as connection:
                for batch in _batches(authorization_ids):
                    query = base.where(tickets.c.authorization_id.in_(batch))
                    found.extend(connection.execute(query).mappings().all())
            rows: Sequence[Any] = found
        else:
            query = base.join(authorizations, authorizations.c.id == tickets.c.authorization_id)
            if status is not None:
                query = query.where(authorizations.c.status == status)
            rows = self._rows_of(query, authorizations.c.application_id, application)
        # Built field by field (no dataclass introspection per row): the Overview reads 10,000.
        return {
            row["authorization_id"]: StoredTicket(
                authorization_id=row["authorization_id"],
                ticket=self._required_secret(
                    tickets, row["authorization_id"], "ticket", row["ticket"]
                ),
                serial=row["serial"],
                webapi_url=row["webapi_url"],
                netserver_url=row["netserver_url"],
                obtained_at=row["obtained_at"],
                last_used_at=row["last_used_at"],
                expires_at=row["expires_at"],
            )
            for row in rows
        }

    def ticket_counts(
        self,
        *,
        now: datetime,
        window: timedelta,
        margin: timedelta,
        status: str | None = "active",
        named: int = 0,
    ) -> TicketCounts:
        """Records (with ``status``) whose stored ticket is valid at ``now`` (its last use, or
        when it was obtained, plus ``window`` is later), split at ``margin`` before the end into
        valid and expiring, counted in SQL; and the first ``named`` expiring records, soonest
        first. One statement for the counts, one for the names (when asked for)."""
        base = func.coalesce(tickets.c.last_used_at, tickets.c.obtained_at)
        ends = now - window  # a ticket last used before this has closed
        fresh = now + margin - window  # used after this: outside the refresh margin
        query = (
            select(tickets.c.authorization_id)
            .join(authorizations, authorizations.c.id == tickets.c.authorization_id)
            .where(tickets.c.ticket.is_not(None), base > ends)
        )
        if status is not None:
            query = query.where(authorizations.c.status == status)
        counted = query.with_only_columns(
            func.count(case((base > fresh, 1))), func.count(case((base <= fresh, 1)))
        )
        with self._read() as connection:
            valid, expiring = connection.execute(counted).one()
            first: list[Any] = []
            if named > 0 and expiring:
                names = (
                    query.with_only_columns(
                        authorizations.c.id,
                        authorizations.c.application_id,
                        authorizations.c.context_identifier,
                        authorizations.c.status,
                    )
                    .where(base <= fresh)
                    .order_by(base, authorizations.c.context_identifier)
                    .limit(named)
                )
                first = list(connection.execute(names).mappings())
        return TicketCounts(
            valid=int(valid),
            expiring=int(expiring),
            expiring_first=tuple(from_row(AuthorizationKey, row) for row in first),
        )

    def tenant_states_of(self, authorization_ids: Collection[str]) -> dict[str, TenantStateRecord]:
        """The last known tenant states of ``authorization_ids`` (those that have one), by
        authorization id; one statement per :data:`ID_BATCH` ids."""
        query = select(
            tenant_states, authorizations.c.application_id, authorizations.c.context_identifier
        ).join(authorizations, authorizations.c.id == tenant_states.c.authorization_id)
        found: dict[str, TenantStateRecord] = {}
        with self._read() as connection:
            for batch in _batches(authorization_ids):
                batch_query = query.where(tenant_states.c.authorization_id.in_(batch))
                for row in connection.execute(batch_query).mappings():
                    found[row["authorization_id"]] = self._tenant_state(row, row)
        return found

    def tenant_state_counts(self) -> dict[str | None, int]:
        """How many authorizations have each last known state (None: a state without a name);
        authorizations never checked are not counted."""
        query = select(tenant_states.c.state, func.count()).group_by(tenant_states.c.state)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return {state: int(count) for state, count in rows}

    def audit_facets(self) -> AuditFacets:
        """The distinct applications, actors and actions of the audit trail, sorted."""
        with self._read() as connection:

            def values(column: Any) -> tuple[str, ...]:
                query = select(column).distinct().where(column.is_not(None)).order_by(column)
                return tuple(str(value) for value in connection.execute(query).scalars())

            return AuditFacets(
                applications=values(audit_events.c.application),
                actors=values(audit_events.c.actor),
                actions=values(audit_events.c.action),
            )
