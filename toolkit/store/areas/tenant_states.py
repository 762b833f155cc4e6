"""Tenant states (protocol §6): what the state API or a webhook says about each tenant, and
the history of state-change webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from toolkit.store.areas.base import RepositoryBase, first_row, from_row
from toolkit.store.areas.common import DEFAULT_AUDIT_LIMIT, require_choice
from toolkit.store.records import StateChange, StateChangeOutcome, TenantStateRecord
from toolkit.store.schema import (
    AUTHORIZATION_STATUSES,
    TENANT_STATE_SOURCES,
    applications,
    authorizations,
    state_changes,
    tenant_states,
)

__all__ = ["TenantStates", "joined_state"]


# A notification without a state API answer is ordered by its token's iat, whole seconds on
# SuperOffice's clock. A state pulled from the state API carries our own clock (to the
# microsecond), so against a pulled state only such a notification clearly older than the
# clocks' skew counts as stale. A notification confirmed with the state API is ordered by when
# that answer came (our clock on both sides): no margin.
PULL_PUSH_SKEW = timedelta(seconds=60)


def _stale_margin(existing: Mapping[Any, Any] | None) -> timedelta:
    return timedelta(0) if existing is None or existing["source"] == "webhook" else PULL_PUSH_SKEW


def joined_state(
    row: Mapping[Any, Any], prefix: str, application_id: str, context_identifier: str
) -> TenantStateRecord | None:
    """The tenant state in a joined row's ``prefix``-labelled columns of ``tenant_states``
    (None when the outer join found none)."""
    if row[prefix + "authorization_id"] is None:
        return None
    return from_row(
        TenantStateRecord,
        {column.name: row[prefix + column.name] for column in tenant_states.c},
        application_id=application_id,
        context_identifier=context_identifier,
    )


class TenantStates(RepositoryBase):
    @staticmethod
    def _tenant_state(
        row: Mapping[Any, Any], authorization: Mapping[Any, Any]
    ) -> TenantStateRecord:
        return from_row(
            TenantStateRecord,
            row,
            application_id=authorization["application_id"],
            context_identifier=authorization["context_identifier"],
        )

    def get_tenant_state(
        self, application: str, context_identifier: str
    ) -> TenantStateRecord | None:
        """The tenant's last known state for this application (name or id), None if never known.

        NotFoundError when the application has no authorization in the tenant.
        """
        with self._read() as connection:
            _, auth = self._require_authorization(
                connection, application, context_identifier, lock=False, any_case=True
            )
            row = self._tenant_state_row(connection, auth["id"])
        return None if row is None else self._tenant_state(row, auth)

    def list_tenant_states(self, application: str | None = None) -> list[TenantStateRecord]:
        """Every known tenant state (or one application's), by application and tenant."""
        query = (
            select(
                tenant_states,
                authorizations.c.application_id,
                authorizations.c.context_identifier,
            )
            .join(authorizations, authorizations.c.id == tenant_states.c.authorization_id)
            .join(applications, applications.c.id == authorizations.c.application_id)
            .order_by(applications.c.name, authorizations.c.context_identifier)
        )
        rows = self._rows_of(query, authorizations.c.application_id, application)
        return [self._tenant_state(row, row) for row in rows]

    def put_tenant_state(
        self,
        application: str,
        context_identifier: str,
        *,
        state: str | None,
        endpoint: str | None,
        api: str | None,
        version: str | None = None,
        valid_until: datetime | None = None,
        observed_at: datetime | None = None,
        source: str = "state-api",
        actor: str | None = None,
    ) -> tuple[TenantStateRecord, bool]:
        """Store what the state API (or another source) says about the tenant.

        ``observed_at`` (default now) is when the answer is from; an answer older than the one
        stored changes nothing. Returns the record now stored and whether it changed. A change
        of state or endpoint is audited when ``actor`` is given.
        """
        require_choice("source", source, TENANT_STATE_SOURCES)
        now = self._now()
        observed = observed_at or now
        with self._write() as connection:
            app, auth = self._require_authorization(
                connection, application, context_identifier, lock=True, any_case=True
            )
            existing = self._tenant_state_row(connection, auth["id"])
            if existing is not None and existing["observed_at"] > observed:
                return self._tenant_state(existing, auth), False
            values = {
                "state": state,
                "endpoint": endpoint,
                "api": api,
                "version": version,
                "valid_until": valid_until,
                "observed_at": observed,
                "checked_at": now,
                "source": source,
            }
            self._upsert_tenant_state(connection, auth["id"], existing, values)
            moved = existing is None or (
                existing["state"] != state or existing["endpoint"] != endpoint
            )
            if actor is not None and moved:
                self._audit(
                    connection,
                    actor,
                    "tenant.state_recorded",
                    application=app["name"],
                    context_identifier=auth["context_identifier"],
                    summary={
                        "source": source,
                        "from_state": None if existing is None else existing["state"],
                        "to_state": state,
                        "endpoint": endpoint,
                    },
                )
        return self._tenant_state({"authorization_id": auth["id"], **values}, auth), True

    @staticmethod
    def _tenant_state_row(connection: Connection, authorization_id: str) -> RowMapping | None:
        query = select(tenant_states).where(tenant_states.c.authorization_id == authorization_id)
        return first_row(connection, query, lock=False)

    @staticmethod
    def _upsert_tenant_state(
        connection: Connection,
        authorization_id: str,
        existing: Mapping[Any, Any] | None,
        values: Mapping[str, Any],
    ) -> None:
        if existing is None:
            connection.execute(
                insert(tenant_states).values(authorization_id=authorization_id, **values)
            )
        else:
            connection.execute(
                update(tenant_states)
                .where(tenant_states.c.authorization_id == authorization_id)
                .values(**values)
            )

    def has_state_change(self, application: str, fingerprint: str) -> bool:
        """Whether a notification with this fingerprint was received before and not rejected
        (a redelivery: nothing needs asking or doing)."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            return self._seen(connection, app["id"], fingerprint)

    @staticmethod
    def _seen(connection: Connection, application_id: str, fingerprint: str) -> bool:
        query = (
            select(state_changes.c.id)
            .where(
                state_changes.c.application_id == application_id,
                state_changes.c.fingerprint == fingerprint,
                state_changes.c.outcome != StateChangeOutcome.REJECTED.value,
            )
            .limit(1)
        )
        return connection.execute(query).first() is not None

    def apply_state_change(
        self,
        application: str,
        context_identifier: str,
        *,
        change_type: str,
        issued_at: datetime | None,
        fingerprint: str | None,
        version_name: str | None = None,
        file_version: str | None = None,
        public_endpoint: str | None = None,
        state: str | None = None,
        endpoint: str | None = None,
        api: str | None = None,
        version: str | None = None,
        valid_until: datetime | None = None,
        observed_at: datetime | None = None,
        status: str | None = None,
        status_from: frozenset[str] = frozenset(),
        confirmed: bool = True,
        reason: str | None = None,
        actor: str = "webhook",
    ) -> StateChange:
        """Apply one validated state-change webhook to the tenant's record, idempotently.

        In one transaction: a notification whose ``fingerprint`` was applied before is a
        ``duplicate`` (nothing changes); one older than the state known is ``stale`` (ordered
        by ``observed_at``, when the state API answered, else by the token's ``issued_at``);
        otherwise ``state`` / ``endpoint`` / ``api`` / ``version`` (or ``version_name``) /
        ``valid_until`` (those given: normally the state API's answer) become the tenant's
        state (source ``webhook``). When ``confirmed`` (the state API confirmed the change),
        ``status`` is given and the authorization's status is one of ``status_from``, the
        authorization takes ``status`` (leaving ``active`` drops its ticket); a confirmed
        notification that changes nothing is a ``duplicate`` too. One not ``confirmed`` is
        ``unconfirmed`` (``reason``): the answer is kept, no status changes. Every outcome is
        recorded in the history; a change or an unconfirmed notification is audited.
        NotFoundError when the application has no authorization in the tenant.
        """
        if status is not None:
            require_choice("status", status, AUTHORIZATION_STATUSES)
        now = self._now()
        history: dict[str, Any] = {
            "received_at": now,
            "change_type": change_type,
            "version_name": version_name,
            "file_version": file_version,
            "public_endpoint": public_endpoint,
            "issued_at": issued_at,
            "fingerprint": fingerprint,
        }
        with self._write() as connection:
            app, auth = self._require_authorization(
                connection, application, context_identifier, lock=True, any_case=True
            )
            history["application_id"] = app["id"]
            history["context_identifier"] = auth["context_identifier"]
            existing = self._tenant_state_row(connection, auth["id"])
            if fingerprint is not None and self._seen(connection, app["id"], fingerprint):
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.DUPLICATE, "redelivered"
                )
            observed = observed_at or issued_at
            margin = timedelta(0) if observed_at is not None else _stale_margin(existing)
            if (
                existing is not None
                and observed is not None
                and existing["observed_at"] > observed + margin
            ):
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.STALE, "older"
                )
            current: dict[str, Any] = dict(existing) if existing is not None else {}
            # The message's VersionName only stands in for an answer without a Version.
            new_version = version if version is not None or not confirmed else version_name
            values = {
                "state": state if state is not None else current.get("state"),
                "endpoint": endpoint if endpoint is not None else current.get("endpoint"),
                "api": api if api is not None else current.get("api"),
                "version": new_version if new_version is not None else current.get("version"),
            }
            new_status = auth["status"]
            if confirmed and status is not None and auth["status"] in status_from:
                new_status = status
            changed = new_status != auth["status"] or any(
                current.get(name) != value for name, value in values.items()
            )
            if changed or observed_at is not None:  # a fresh state API answer is always kept
                self._upsert_tenant_state(
                    connection,
                    auth["id"],
                    existing,
                    {
                        **values,
                        # Without a state API answer, a pushed change makes a pulled
                        # ValidUntil meaningless.
                        "valid_until": valid_until,
                        "observed_at": observed or now,
                        "checked_at": now,
                        "source": "webhook",
                    },
                )
            if not confirmed:
                self._audit(
                    connection,
                    actor,
                    "tenant.state_change_unconfirmed",
                    application=app["name"],
                    context_identifier=auth["context_identifier"],
                    summary={
                        "change_type": change_type,
                        "reason": reason,
                        "state": values["state"],
                        "endpoint": values["endpoint"],
                    },
                )
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.UNCONFIRMED, reason
                )
            if not changed:
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.DUPLICATE, "no_change"
                )
            ticket_dropped = False
            if new_status != auth["status"]:
                connection.execute(
                    update(authorizations)
                    .where(authorizations.c.id == auth["id"])
                    .values(status=new_status, updated_at=now)
                )
                ticket_dropped = new_status != "active" and self._drop_ticket(
                    connection, auth["id"]
                )
            self._audit(
                connection,
                actor,
                "tenant.state_changed",
                application=app["name"],
                context_identifier=auth["context_identifier"],
                summary={
                    "change_type": change_type,
                    "from_state": current.get("state"),
                    "to_state": values["state"],
                    "endpoint": values["endpoint"],
                    "version": values["version"],
                    "from_status": auth["status"],
                    "to_status": new_status,
                    **({"ticket_dropped": True} if ticket_dropped else {}),
                },
            )
            return self._insert_state_change(
                connection, app["name"], history, StateChangeOutcome.APPLIED, None
            )

    def record_state_change(
        self,
        application: str,
        *,
        outcome: StateChangeOutcome | str,
        reason: str | None,
        context_identifier: str | None = None,
        change_type: str | None = None,
        version_name: str | None = None,
        file_version: str | None = None,
        public_endpoint: str | None = None,
        issued_at: datetime | None = None,
        fingerprint: str | None = None,
        actor: str = "webhook",
    ) -> StateChange:
        """Record a webhook that changed nothing: ``rejected`` (with its reason), or
        ``unconfirmed`` when the state API could not be asked; both are audited."""
        outcome = StateChangeOutcome(outcome)
        with self._write() as connection:
            app = self._require_application(connection, application)
            history = {
                "received_at": self._now(),
                "application_id": app["id"],
                "context_identifier": context_identifier,
                "change_type": change_type,
                "version_name": version_name,
                "file_version": file_version,
                "public_endpoint": public_endpoint,
                "issued_at": issued_at,
                "fingerprint": fingerprint,
            }
            if outcome in (StateChangeOutcome.REJECTED, StateChangeOutcome.UNCONFIRMED):
                self._audit(
                    connection,
                    actor,
                    f"tenant.state_change_{outcome.value}",
                    application=app["name"],
                    context_identifier=context_identifier,
                    summary={"change_type": change_type, "reason": reason},
                )
            return self._insert_state_change(connection, app["name"], history, outcome, reason)

    def _insert_state_change(
        self,
        connection: Connection,
        application_name: str,
        history: Mapping[str, Any],
        outcome: StateChangeOutcome,
        reason: str | None,
    ) -> StateChange:
        values = {**history, "outcome": outcome.value, "reason": reason}
        row_id = connection.execute(
            insert(state_changes).values(values).returning(state_changes.c.id)
        ).scalar_one()
        return self._state_change({**values, "id": row_id}, application_name)

    @staticmethod
    def _state_change(row: Mapping[Any, Any], application_name: str | None) -> StateChange:
        return from_row(
            StateChange,
            row,
            application=application_name,
            outcome=StateChangeOutcome(row["outcome"]),
        )

    def list_state_changes(
        self,
        *,
        application: str | None = None,
        context_identifier: str | None = None,
        limit: int = DEFAULT_AUDIT_LIMIT,
    ) -> list[StateChange]:
        """The webhook history, newest first; ``application`` is a name or id."""
        query = (
            select(state_changes, applications.c.name.label("application_name"))
            .join(applications, applications.c.id == state_changes.c.application_id)
            .order_by(state_changes.c.received_at.desc(), state_changes.c.id.desc())
        )
        if context_identifier is not None:
            query = query.where(
                func.lower(state_changes.c.context_identifier) == context_identifier.lower()
            )
        rows = self._rows_of(query, state_changes.c.application_id, application, limit=limit)
        return [self._state_change(row, row["application_name"]) for row in rows]
