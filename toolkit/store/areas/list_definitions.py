"""The store's copy of the list definitions an application's plans depend on in a tenant.

A plan finds the manifest's lists by name in every list definition (``GET v1/List``). SuperOffice
advises caching lists (protocol §5, best practice); kept here with the time they were read, a
plan within the configured age reads each list's items by the id kept here instead
(``toolkit.provisioning.plan.read_snapshot``).
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, delete, select

from toolkit.store.areas.base import ApplicationRef, RepositoryBase, upsert_insert
from toolkit.store.records import ListDefinitionsWrite, RememberedLists
from toolkit.store.schema import list_definitions

__all__ = ["ListDefinitions", "upsert_list_definitions"]


def upsert_list_definitions(
    connection: Connection,
    application_id: str,
    context_identifier: str,
    write: ListDefinitionsWrite,
) -> None:
    """Keep ``write`` as the application x tenant's copy, in the caller's transaction."""
    insert_ = upsert_insert(connection, list_definitions)
    connection.execute(
        insert_.values(
            application_id=application_id,
            context_identifier=context_identifier,
            lists=json.dumps(write.lists, separators=(",", ":")),
            read_at=write.read_at,
        ).on_conflict_do_update(
            index_elements=["application_id", "context_identifier"],
            set_={"lists": insert_.excluded.lists, "read_at": insert_.excluded.read_at},
        )
    )


class ListDefinitions(RepositoryBase):
    def remembered_lists(
        self, application: ApplicationRef, context_identifier: str
    ) -> RememberedLists | None:
        """The kept list definitions of the application x tenant (None: none kept)."""
        with self._read_for(application) as (connection, app_id):
            row = (
                connection.execute(
                    select(list_definitions.c.lists, list_definitions.c.read_at).where(
                        self._in_tenant(list_definitions, app_id, context_identifier)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return RememberedLists(
            application_id=app_id,
            context_identifier=context_identifier,
            lists=tuple(json.loads(row["lists"])),
            read_at=row["read_at"],
        )

    def remember_lists(
        self, application: ApplicationRef, context_identifier: str, write: ListDefinitionsWrite
    ) -> None:
        """Keep ``write``'s list definitions in place of what was kept."""
        with self._write_for(application) as (connection, app_id):
            upsert_list_definitions(connection, app_id, context_identifier, write)

    def forget_lists(self, application: ApplicationRef, context_identifier: str) -> None:
        """Drop the kept list definitions: the next plan reads them all from the tenant."""
        with self._write_for(application) as (connection, app_id):
            connection.execute(
                delete(list_definitions).where(
                    self._in_tenant(list_definitions, app_id, context_identifier)
                )
            )
