"""Authorizations: one record per application x tenant, put idempotently by id_token age."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from toolkit.errors import ConfigurationError, ConflictError, DecryptionError, SecretKeyError
from toolkit.store.areas.base import RepositoryBase, from_row
from toolkit.store.areas.common import refuse_secrets, require_choice, to_json
from toolkit.store.records import Authorization, PutOutcome
from toolkit.store.schema import AUTHORIZATION_STATUSES, applications, authorizations

__all__ = ["Authorizations"]


class Authorizations(RepositoryBase):
    def put_authorization(
        self,
        application_id: str,
        context_identifier: str,
        *,
        token_issued_at: datetime,
        system_user_token: str | None = None,
        refresh_token: str | None = None,
        approved_by: str | None = None,
        approved_by_associate_id: int | None = None,
        approved_at: datetime | None = None,
        company_name: str | None = None,
        serial: str | None = None,
        webapi_url: str | None = None,
        netserver_url: str | None = None,
        claims: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> tuple[Authorization, PutOutcome]:
        """Create or update the record for one application x tenant, idempotently.

        ``token_issued_at`` is the validated id_token's ``iat``. The same token again is
        ``unchanged``; an older one is ``stale`` and changes nothing; a newer one is ``updated``
        (and makes the record active again). ``claims`` are the non-secret claims only.
        ``application_id`` may also be the application's name.
        """
        if token_issued_at.tzinfo is None:
            raise ConfigurationError("token_issued_at must be timezone-aware")
        refuse_secrets(dict(claims or {}), what="claims")
        fields: dict[str, Any] = {
            "company_name": company_name,
            "serial": serial,
            "webapi_url": webapi_url,
            "netserver_url": netserver_url,
            "approved_by": approved_by,
            "approved_by_associate_id": approved_by_associate_id,
            "approved_at": approved_at or token_issued_at,
            "claims": to_json(dict(claims or {})),
        }
        for attempt in (1, 2):
            try:
                return self._put_authorization_once(
                    application_id,
                    context_identifier,
                    token_issued_at=token_issued_at,
                    fields=fields,
                    system_user_token=system_user_token,
                    refresh_token=refresh_token,
                    actor=actor,
                )
            except IntegrityError:
                # A concurrent put inserted the same application x tenant first (PostgreSQL
                # reports it at our insert): run again, which now finds and compares it.
                if attempt == 2:
                    raise ConflictError(
                        f"authorization for {context_identifier!r} keeps conflicting"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_authorization_once(
        self,
        application: str,
        context_identifier: str,
        *,
        token_issued_at: datetime,
        fields: dict[str, Any],
        system_user_token: str | None,
        refresh_token: str | None,
        actor: str | None,
    ) -> tuple[Authorization, PutOutcome]:
        with self._write() as connection:
            app = self._require_application(connection, application)
            # One record per tenant however the ctx is cased (protocol §1) [I]; it keeps the
            # spelling it was created with.
            existing = self._authorization_row(
                connection, app["id"], context_identifier, lock=True, any_case=True
            )
            now = self._now()
            if existing is None:
                row_id = str(uuid.uuid4())
                values = {
                    "id": row_id,
                    "application_id": app["id"],
                    "context_identifier": context_identifier,
                    **fields,
                    "token_issued_at": token_issued_at,
                    "status": "active",
                    "system_user_token": self._seal(
                        authorizations, row_id, "system_user_token", system_user_token
                    ),
                    "refresh_token": self._seal(
                        authorizations, row_id, "refresh_token", refresh_token
                    ),
                    "created_at": now,
                    "updated_at": now,
                }
                connection.execute(insert(authorizations).values(values))
                outcome = PutOutcome.CREATED
            elif token_issued_at < existing["token_issued_at"]:
                return self._authorization(existing), PutOutcome.STALE
            elif token_issued_at == existing["token_issued_at"] and self._same_authorization(
                existing, fields, system_user_token, refresh_token
            ):
                return self._authorization(existing), PutOutcome.UNCHANGED
            else:
                row_id = existing["id"]
                changes = {
                    **fields,
                    "token_issued_at": token_issued_at,
                    "status": "active",
                    "system_user_token": self._seal(
                        authorizations, row_id, "system_user_token", system_user_token
                    ),
                    "refresh_token": self._seal(
                        authorizations, row_id, "refresh_token", refresh_token
                    ),
                    "updated_at": now,
                }
                connection.execute(
                    update(authorizations).where(authorizations.c.id == row_id).values(changes)
                )
                values = {**existing, **changes}
                outcome = PutOutcome.UPDATED
            if actor is not None:
                self._audit(
                    connection,
                    actor,
                    f"authorization.{outcome.value}",
                    application=app["name"],
                    context_identifier=context_identifier,
                    summary={
                        "approved_by": fields["approved_by"],
                        "token_issued_at": token_issued_at.isoformat(),
                        "company_name": fields["company_name"],
                        "holds_system_user": system_user_token is not None,
                    },
                )
        return self._authorization(values), outcome

    def _same_authorization(
        self,
        row: Mapping[Any, Any],
        fields: Mapping[str, Any],
        system_user_token: str | None,
        refresh_token: str | None,
    ) -> bool:
        if any(row[name] != value for name, value in fields.items()):
            return False
        for column, incoming in (
            ("system_user_token", system_user_token),
            ("refresh_token", refresh_token),
        ):
            stored = self._secret(authorizations, row["id"], column, row[column])
            if (stored is None) != (incoming is None):
                return False
            try:
                if stored is not None and incoming is not None and not stored.matches(incoming):
                    return False
            except (DecryptionError, SecretKeyError):
                return False  # unreadable: the new token replaces it
        return True

    def _authorization(self, row: Mapping[Any, Any]) -> Authorization:
        row_id = row["id"]
        return from_row(
            Authorization,
            row,
            system_user_token=self._secret(
                authorizations, row_id, "system_user_token", row["system_user_token"]
            ),
            refresh_token=self._secret(
                authorizations, row_id, "refresh_token", row["refresh_token"]
            ),
            claims=json.loads(row["claims"]),
        )

    def get_authorization(self, application: str, context_identifier: str) -> Authorization:
        """The record for an application (name or id) in a tenant (context identifier in any
        case); NotInstalledError (a NotFoundError) if none."""
        with self._read() as connection:
            _, row = self._require_authorization(
                connection, application, context_identifier, lock=False, any_case=True
            )
        return self._authorization(row)

    def list_authorizations(
        self, application: str | None = None, *, status: str | None = None
    ) -> list[Authorization]:
        """Every record, or one application's (name or id), optionally with one status."""
        query = (
            select(authorizations)
            .join(applications, applications.c.id == authorizations.c.application_id)
            .order_by(applications.c.name, authorizations.c.context_identifier)
        )
        if status is not None:
            query = query.where(authorizations.c.status == status)
        rows = self._rows_of(query, authorizations.c.application_id, application)
        return [self._authorization(row) for row in rows]

    def set_authorization_status(
        self,
        application: str,
        context_identifier: str,
        status: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Authorization:
        """Mark a record active, revoked, needs_reconsent, suspended or deleted."""
        require_choice("status", status, AUTHORIZATION_STATUSES)
        with self._write() as connection:
            app, row = self._require_authorization(
                connection, application, context_identifier, lock=True, any_case=True
            )
            if row["status"] == status:
                return self._authorization(row)
            context_identifier = row["context_identifier"]  # as stored
            changes = {"status": status, "updated_at": self._now()}
            connection.execute(
                update(authorizations).where(authorizations.c.id == row["id"]).values(changes)
            )
            # A ticket of an authorization that no longer holds must not be used again.
            dropped = status != "active" and self._drop_ticket(connection, row["id"])
            if actor is not None:
                self._audit(
                    connection,
                    actor,
                    "authorization.status_changed",
                    application=app["name"],
                    context_identifier=context_identifier,
                    summary={
                        "from": row["status"],
                        "to": status,
                        "reason": reason,
                        **({"ticket_dropped": True} if dropped else {}),
                    },
                )
        return self._authorization({**row, **changes})
