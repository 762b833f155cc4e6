"""The store's copy of the list definitions an application's plans depend on in a tenant.

A plan finds the manifest's lists by name in every list definition (``GET v1/List``). SuperOffice
advises caching lists (protocol §5, best practice); kept here with the time they were read, a
plan within the configured age reads each list's items by the id kept here instead
(``toolkit.provisioning.plan.read_snapshot``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from toolkit.store.areas.base import ApplicationRef, RepositoryBase, upsert_insert
from toolkit.store.records import RememberedLists
from toolkit.store.schema import list_definitions

__all__ = ["ListDefinitions"]


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
        self,
        application: ApplicationRef,
        context_identifier: str,
        lists: Sequence[Mapping[str, Any]],
        *,
        read_at: datetime,
    ) -> None:
        """Keep ``lists`` (ListEntity wire JSON), read from the tenant at ``read_at``, in place
        of what was kept."""
        text = json.dumps([dict(entity) for entity in lists], separators=(",", ":"))
        with self._write_for(application) as (connection, app_id):
            insert_ = upsert_insert(connection, list_definitions)
            connection.execute(
                insert_.values(
                    application_id=app_id,
                    context_identifier=context_identifier,
                    lists=text,
                    read_at=read_at,
                ).on_conflict_do_update(
                    index_elements=["application_id", "context_identifier"],
                    set_={"lists": insert_.excluded.lists, "read_at": insert_.excluded.read_at},
                )
            )

    def forget_lists(self, application: ApplicationRef, context_identifier: str) -> None:
        """Drop the kept list definitions: the next plan reads them all from the tenant."""
        with self._write_for(application) as (connection, app_id):
            connection.execute(
                delete(list_definitions).where(
                    self._in_tenant(list_definitions, app_id, context_identifier)
                )
            )
