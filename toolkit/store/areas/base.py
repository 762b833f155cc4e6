"""The plumbing every area of the repository stands on: transactions, sealing, audit, lookups.

:class:`RepositoryBase` holds the engine, the :class:`SecretBox` and the clock; the area mixins in
this package derive from it, so each of them type-checks on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from toolkit.errors import (
    ConflictError,
    DecryptionError,
    NotInstalledError,
    UnknownApplicationError,
)
from toolkit.store.areas.common import refuse_secrets, to_json, utc_now
from toolkit.store.crypto import SecretBox, associated_data
from toolkit.store.database import read, write
from toolkit.store.records import Application, AuditEvent, Secret
from toolkit.store.schema import applications, audit_events, authorizations, tickets

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "APPLICATION_BY_NAME_OR_ID",
    "ApplicationRef",
    "RepositoryBase",
    "audit_event",
    "dialect_module",
    "first_row",
    "from_row",
    "insert_new",
    "matched_application",
    "unknown_application",
    "upsert_insert",
]

_Record = TypeVar("_Record", bound="DataclassInstance")
_Row = TypeVar("_Row", bound=Mapping[Any, Any])

# An application as a caller names it to the store: its name or id, looked up in the call's
# transaction, or the record the caller read from the store, whose id is taken as it is (issue
# 14: an apply named its application in nine transactions, and the nine lookups were a fifth of
# its statements). The foreign keys still refuse a row of an application deleted meanwhile.
ApplicationRef: TypeAlias = str | Application


def from_row(record: type[_Record], row: Mapping[Any, Any], **overrides: Any) -> _Record:
    """A ``record`` whose fields come from the row's same-named columns, or from ``overrides``."""
    values = {
        field.name: overrides[field.name] if field.name in overrides else row[field.name]
        for field in fields(record)
    }
    return record(**values)


# An application by its id or its name, bound as ``application``. Statements built on it once
# are served from SQLAlchemy's compiled cache (building a SELECT costs more client CPU than
# SQLite takes to run it, and every store call looks its application up).
APPLICATION_BY_NAME_OR_ID = or_(
    applications.c.id == bindparam("application"),
    applications.c.name == bindparam("application"),
)
_APPLICATIONS = select(applications).where(APPLICATION_BY_NAME_OR_ID)
_APPLICATION_IDS = select(applications.c.id).where(APPLICATION_BY_NAME_OR_ID)


def matched_application(rows: Sequence[_Row], name_or_id: str, id_key: str = "id") -> _Row:
    """Of the rows a lookup by :data:`APPLICATION_BY_NAME_OR_ID` found, the application's: an id
    match wins over a name match (ids are UUIDs; names are free text). UnknownApplicationError
    when it found none."""
    if not rows:
        raise unknown_application(name_or_id)
    return min(rows, key=lambda row: row[id_key] != name_or_id)


def dialect_module(name: str) -> Any:
    """The SQLAlchemy dialect module (``insert`` with ``on_conflict_do_*``) of ``name``."""
    return postgresql if name == "postgresql" else sqlite


def upsert_insert(connection: Connection, table: Table) -> Any:
    """An INSERT of ``table`` in the connection's dialect, with ``on_conflict_do_*``."""
    return dialect_module(connection.dialect.name).insert(table)


def audit_event(row: Mapping[Any, Any], summary: Mapping[str, Any] | None = None) -> AuditEvent:
    """An :class:`AuditEvent` from its row (``summary`` decoded already, or JSON in the row)."""
    return from_row(
        AuditEvent,
        row,
        summary=dict(summary) if summary is not None else json.loads(row["summary"]),
    )


def first_row(connection: Connection, query: Select[Any], *, lock: bool) -> RowMapping | None:
    """The first row ``query`` finds (locked ``FOR UPDATE`` with ``lock``), or None."""
    if lock:
        query = query.with_for_update()
    return connection.execute(query).mappings().first()


def insert_new(
    connection: Connection, table: Table, values: Mapping[str, Any], *, conflict: str
) -> None:
    """Insert a row that must be new: ConflictError(``conflict``) when its key is taken."""
    try:
        connection.execute(insert(table).values(values))
    except IntegrityError:
        raise ConflictError(conflict) from None


class RepositoryBase:
    """The engine, the secret box and the clock, with the helpers every area uses.

    ``now`` is the clock (timezone-aware UTC); tests inject their own.
    """

    def __init__(
        self, engine: Engine, box: SecretBox, *, now: Callable[[], datetime] = utc_now
    ) -> None:
        self._engine = engine
        self._box = box
        self._now = now

    def __repr__(self) -> str:
        return f"Repository({self._engine.url!r}, {self._box!r})"

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def box(self) -> SecretBox:
        return self._box

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with write(self._engine) as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read(self._engine) as connection:
            yield connection

    @contextmanager
    def _write_for(self, application: ApplicationRef) -> Iterator[tuple[Connection, str]]:
        """A write transaction on one application's rows, with the application's id. Given the
        application's record, its id is not looked up: when the application was deleted since
        the record was read, the write's foreign key (or the cascade that took its run) refuses
        it, and that becomes the UnknownApplicationError a lookup would have raised."""
        try:
            with self._write() as connection:
                yield connection, self._application_id(connection, application)
        except (IntegrityError, ConflictError):
            if isinstance(application, Application) and not self._application_exists(
                application.id
            ):
                raise unknown_application(application.id) from None
            raise

    @contextmanager
    def _read_for(self, application: ApplicationRef) -> Iterator[tuple[Connection, str]]:
        """A read transaction on one application's rows, with its id (as :meth:`_write_for`;
        an application deleted since its record was read simply has no rows)."""
        with self._read() as connection:
            yield connection, self._application_id(connection, application)

    # -- sealed columns -------------------------------------------------------------------------

    def _seal(self, table: Table, row_id: str, column: str, value: str | None) -> str | None:
        if value is None:
            return None
        return self._box.encrypt(value, aad=associated_data(table.name, row_id, column))

    def _secret(self, table: Table, row_id: str, column: str, stored: str | None) -> Secret | None:
        if stored is None:
            return None
        box = self._box
        aad = associated_data(table.name, row_id, column)

        def load() -> str:
            try:
                return box.decrypt(stored, aad=aad)
            except DecryptionError as exc:
                raise DecryptionError(f"{table.name}.{column} of row {row_id}: {exc}") from None

        return Secret(load)

    def _required_secret(self, table: Table, row_id: str, column: str, stored: str) -> Secret:
        secret = self._secret(table, row_id, column, stored)
        assert secret is not None  # noqa: S101 - stored is a str, so a Secret came back
        return secret

    # -- audit ----------------------------------------------------------------------------------

    def _audit(
        self,
        connection: Connection,
        actor: str,
        action: str,
        *,
        application: str | None,
        context_identifier: str | None,
        summary: Mapping[str, Any],
    ) -> AuditEvent:
        refuse_secrets(summary, what="audit summary")
        text = to_json(dict(summary))
        values = {
            "at": self._now(),
            "actor": actor,
            "action": action,
            "application": application,
            "context_identifier": context_identifier,
        }
        event_id = connection.execute(
            insert(audit_events).values(**values, summary=text).returning(audit_events.c.id)
        ).scalar_one()
        return audit_event({**values, "id": event_id}, json.loads(text))

    # -- lookups --------------------------------------------------------------------------------

    @staticmethod
    def _find_application(connection: Connection, name_or_id: str) -> RowMapping | None:
        rows = connection.execute(_APPLICATIONS, {"application": name_or_id}).mappings().all()
        return matched_application(rows, name_or_id) if rows else None

    def _require_application(self, connection: Connection, name_or_id: str) -> RowMapping:
        row = self._find_application(connection, name_or_id)
        if row is None:
            raise unknown_application(name_or_id)
        return row

    @classmethod
    def _application_id(cls, connection: Connection, application: ApplicationRef) -> str:
        if isinstance(application, Application):
            return application.id
        return cls._require_application_id(connection, application)

    def _application_exists(self, application_id: str) -> bool:
        with self._read() as connection:
            found = connection.execute(
                select(applications.c.id).where(applications.c.id == application_id)
            ).first()
        return found is not None

    @staticmethod
    def _require_application_id(connection: Connection, name_or_id: str) -> str:
        """The id alone of :meth:`_require_application`'s application (an id match wins)."""
        ids = connection.execute(_APPLICATION_IDS, {"application": name_or_id}).scalars().all()
        if not ids:
            raise unknown_application(name_or_id)
        return name_or_id if name_or_id in ids else str(ids[0])

    def _rows_of(
        self,
        query: Select[Any],
        application_column: ColumnElement[Any],
        application: str | None,
        *,
        limit: int | None = None,
    ) -> Sequence[RowMapping]:
        """The rows ``query`` finds, only those of ``application`` (name or id) when given."""
        with self._read() as connection:
            if application is not None:
                app = self._require_application(connection, application)
                query = query.where(application_column == app["id"])
            if limit is not None:
                query = query.limit(limit)
            return connection.execute(query).mappings().all()

    @staticmethod
    def _in_tenant(
        table: Table, application_id: str, context_identifier: str
    ) -> ColumnElement[bool]:
        """``table``'s rows of one application x tenant (exact context identifier)."""
        return and_(
            table.c.application_id == application_id,
            table.c.context_identifier == context_identifier,
        )

    @classmethod
    def _authorization_row(
        cls,
        connection: Connection,
        application_id: str,
        context_identifier: str,
        *,
        lock: bool,
        any_case: bool = False,
    ) -> RowMapping | None:
        """The authorizations row of an application (by id) in a tenant, or None.

        ``any_case`` matches the context identifier case-insensitively (protocol §1) [I].
        """
        if any_case:
            condition = and_(
                authorizations.c.application_id == application_id,
                func.lower(authorizations.c.context_identifier) == context_identifier.lower(),
            )
        else:
            condition = cls._in_tenant(authorizations, application_id, context_identifier)
        return first_row(connection, select(authorizations).where(condition), lock=lock)

    def _require_authorization(
        self,
        connection: Connection,
        application: str,
        context_identifier: str,
        *,
        lock: bool,
        any_case: bool = False,
    ) -> tuple[RowMapping, RowMapping]:
        """``(application row, authorization row)``; UnknownApplicationError or
        NotInstalledError (both NotFoundErrors) when either is missing."""
        app = self._require_application(connection, application)
        row = self._authorization_row(
            connection, app["id"], context_identifier, lock=lock, any_case=any_case
        )
        if row is None:
            raise NotInstalledError(
                f"application {app['name']!r} has no authorization in {context_identifier!r}",
                application=app["name"],
                context_identifier=context_identifier,
            )
        return app, row

    @staticmethod
    def _drop_ticket(connection: Connection, authorization_id: str) -> bool:
        """Delete the authorization's ticket row; whether there was one."""
        result = connection.execute(
            delete(tickets).where(tickets.c.authorization_id == authorization_id)
        )
        return result.rowcount > 0


def unknown_application(name_or_id: str) -> UnknownApplicationError:
    """The error of a lookup by name or id that found no application."""
    return UnknownApplicationError(f"no application {name_or_id!r}", application=name_or_id[:40])
