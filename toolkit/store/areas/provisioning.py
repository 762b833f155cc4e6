"""Provisioning ownership: the apply lock of each application x tenant and the lists and list
items an application created there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, delete, select, update

from toolkit.errors import ConfigurationError, StoreError
from toolkit.store.areas.base import (
    ApplicationRef,
    RepositoryBase,
    dialect_module,
    first_row,
    from_row,
    upsert_insert,
)
from toolkit.store.areas.common import require_choice
from toolkit.store.areas.provisioning_runs import insert_steps
from toolkit.store.records import (
    OwnershipWrite,
    ProvisionedObject,
    ProvisioningLock,
    ProvisioningStepWrite,
)
from toolkit.store.schema import (
    OWNERSHIP_STATES,
    PROVISIONED_KINDS,
    provisioned_objects,
    provisioning_locks,
)

__all__ = ["ProvisioningOwnership"]

# The columns an ownership record's upsert changes when the record is there already.
_CHANGED = ("name", "list_name", "remote_id", "state", "run_id", "updated_at")
_UPSERTS: dict[str, Any] = {}


def _ownership_upsert(dialect_name: str) -> Any:
    """The upsert of ownership records in ``dialect_name``, built once: its parameters are the
    rows' values, so SQLAlchemy's compiled cache serves every later write."""
    statement = _UPSERTS.get(dialect_name)
    if statement is None:
        insert_ = dialect_module(dialect_name).insert(provisioned_objects)
        statement = insert_.on_conflict_do_update(
            index_elements=["application_id", "context_identifier", "kind", "list_key", "key"],
            set_={column: insert_.excluded[column] for column in _CHANGED},
        )
        _UPSERTS[dialect_name] = statement
    return statement


class ProvisioningOwnership(RepositoryBase):
    def acquire_provisioning_lock(
        self, application: ApplicationRef, context_identifier: str, owner: str, *, ttl: timedelta
    ) -> ProvisioningLock | None:
        """Take (or, for the same ``owner``, extend) the apply lock of an application x tenant.

        Of several processes exactly one gets it (a write transaction, ``FOR UPDATE``). Returns
        the lock held now, or None while another owner's lock has not expired; an expired lock
        (a crashed holder) is taken over.
        """
        if not owner:
            raise StoreError("a lock needs an owner")
        if ttl <= timedelta(0):
            raise ConfigurationError("a lock ttl must be positive")
        with self._write_for(application) as (connection, app_id):
            condition = self._in_tenant(provisioning_locks, app_id, context_identifier)
            row = self._lock_row(connection, app_id, context_identifier, lock=True)
            now = self._now()
            if row is None:
                values: dict[str, Any] = {
                    "application_id": app_id,
                    "context_identifier": context_identifier,
                    "owner": owner,
                    "locked_until": now + ttl,
                    "acquired_at": now,
                }
                # No row to lock yet: of concurrent first takers (PostgreSQL) one inserts, the
                # others' inserts do nothing (no savepoint, no error to recover from).
                taken = connection.execute(
                    upsert_insert(connection, provisioning_locks)
                    .on_conflict_do_nothing()
                    .returning(provisioning_locks.c.owner),
                    values,
                ).first()
                return ProvisioningLock(**values) if taken is not None else None
            if row["owner"] != owner and row["locked_until"] > now:
                return None
            acquired = row["acquired_at"] if row["owner"] == owner else now
            connection.execute(
                update(provisioning_locks)
                .where(condition)
                .values(owner=owner, locked_until=now + ttl, acquired_at=acquired)
            )
            return ProvisioningLock(app_id, context_identifier, owner, now + ttl, acquired)

    def release_provisioning_lock(
        self, application: ApplicationRef, context_identifier: str, owner: str
    ) -> bool:
        """Give the lock back; False when ``owner`` does not hold it (any more)."""
        with self._write_for(application) as (connection, app_id):
            result = connection.execute(
                delete(provisioning_locks).where(
                    self._in_tenant(provisioning_locks, app_id, context_identifier),
                    provisioning_locks.c.owner == owner,
                )
            )
            return result.rowcount > 0

    def get_provisioning_lock(
        self, application: ApplicationRef, context_identifier: str
    ) -> ProvisioningLock | None:
        """The lock in force for an application x tenant, or None (none, or it expired)."""
        with self._read_for(application) as (connection, app_id):
            row = self._lock_row(connection, app_id, context_identifier, lock=False)
        if row is None or row["locked_until"] <= self._now():
            return None
        return ProvisioningLock(**dict(row))

    def _lock_row(
        self, connection: Connection, application_id: str, context_identifier: str, *, lock: bool
    ) -> RowMapping | None:
        query = select(provisioning_locks).where(
            self._in_tenant(provisioning_locks, application_id, context_identifier)
        )
        return first_row(connection, query, lock=lock)

    def put_provisioned_object(
        self,
        application: ApplicationRef,
        context_identifier: str,
        *,
        kind: str,
        name: str,
        list_name: str | None = None,
        state: str = "owned",
        remote_id: int | None = None,
        run_id: str | None = None,
    ) -> ProvisionedObject:
        """Record that the application created (``owned``) or is creating (``pending``) a list
        or list item in the tenant; keyed by casefolded names."""
        write = OwnershipWrite(kind, name, list_name, state, remote_id)
        return self.put_provisioned_objects(
            application, context_identifier, [write], run_id=run_id
        )[0]

    def put_provisioned_objects(
        self,
        application: ApplicationRef,
        context_identifier: str,
        objects: Sequence[OwnershipWrite],
        *,
        run_id: str | None = None,
        steps: Sequence[ProvisioningStepWrite] = (),
    ) -> list[ProvisionedObject]:
        """:meth:`put_provisioned_object` for several records at one moment (the items of a
        list saved in one request): one transaction, one statement for all of them; all or
        none are written. ``steps``: run ``run_id``'s steps that completed before this write,
        recorded in its transaction."""
        for write in objects:
            require_choice("kind", write.kind, PROVISIONED_KINDS)
            require_choice("state", write.state, OWNERSHIP_STATES)
            if write.kind == "list_item" and not write.list_name:
                raise ConfigurationError("a list item needs its list's name")
        if not objects and not steps:
            return []
        with self._write_for(application) as (connection, app_id):
            now = self._now()
            insert_steps(connection, run_id, steps, now)
            if not objects:
                return []
            rows = [
                {
                    "application_id": app_id,
                    "context_identifier": context_identifier,
                    "kind": write.kind,
                    "list_key": (write.list_name or "").casefold()
                    if write.kind == "list_item"
                    else "",
                    "key": write.name.casefold(),
                    "list_name": write.list_name if write.kind == "list_item" else None,
                    "name": write.name,
                    "remote_id": write.remote_id,
                    "state": write.state,
                    "run_id": run_id,
                    "updated_at": now,
                }
                for write in objects
            ]
            # A list of parameter sets: executemany (one round trip on SQLite, psycopg's
            # pipeline on PostgreSQL); the statement is built once per dialect.
            connection.execute(_ownership_upsert(connection.dialect.name), rows)
        return [self._provisioned(row) for row in rows]

    def delete_provisioned_object(
        self,
        application: ApplicationRef,
        context_identifier: str,
        *,
        kind: str,
        name: str,
        list_name: str | None = None,
        run_id: str | None = None,
        steps: Sequence[ProvisioningStepWrite] = (),
    ) -> bool:
        """Forget an owned list (with its items' records) or list item; True if one was there.
        ``steps`` as in :meth:`put_provisioned_objects`."""
        with self._write_for(application) as (connection, app_id):
            insert_steps(connection, run_id, steps, self._now())
            scope = self._in_tenant(provisioned_objects, app_id, context_identifier)
            if kind == "list":
                key = name.casefold()
                connection.execute(
                    delete(provisioned_objects).where(
                        scope,
                        provisioned_objects.c.kind == "list_item",
                        provisioned_objects.c.list_key == key,
                    )
                )
                condition = and_(
                    provisioned_objects.c.kind == "list",
                    provisioned_objects.c.list_key == "",
                    provisioned_objects.c.key == key,
                )
            else:
                condition = and_(
                    provisioned_objects.c.kind == kind,
                    provisioned_objects.c.list_key == (list_name or "").casefold(),
                    provisioned_objects.c.key == name.casefold(),
                )
            result = connection.execute(delete(provisioned_objects).where(scope, condition))
            return result.rowcount > 0

    def list_provisioned_objects(
        self, application: ApplicationRef, context_identifier: str
    ) -> list[ProvisionedObject]:
        """Every list and list item the application created (or is creating) in the tenant."""
        with self._read_for(application) as (connection, app_id):
            rows = (
                connection.execute(
                    select(provisioned_objects)
                    .where(self._in_tenant(provisioned_objects, app_id, context_identifier))
                    .order_by(
                        provisioned_objects.c.kind,
                        provisioned_objects.c.list_key,
                        provisioned_objects.c.key,
                    )
                )
                .mappings()
                .all()
            )
        return [self._provisioned(row) for row in rows]

    @staticmethod
    def _provisioned(row: Mapping[Any, Any]) -> ProvisionedObject:
        return from_row(ProvisionedObject, row)
