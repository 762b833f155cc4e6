"""Secrets maintenance: re-encrypting with the current key (rotation) and finding stored secrets
the key ring cannot open (verification)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Table,
    and_,
    func,
    or_,
    select,
    true,
    update,
)

from toolkit.errors import DecryptionError, SecretKeyError
from toolkit.store.areas.base import RepositoryBase
from toolkit.store.areas.key_ring import ENCRYPTED_META_KEYS
from toolkit.store.crypto import FORMAT_VERSION, associated_data, kid_of
from toolkit.store.records import RotationReport, UnreadableSecret
from toolkit.store.schema import ENCRYPTED_COLUMNS, store_meta

__all__ = ["ROTATION_BATCH_SIZE", "VERIFY_BATCH_SIZE", "SecretsMaintenance"]

# Rows re-encrypted per rotation transaction: small enough to keep SQLite's write lock brief.
ROTATION_BATCH_SIZE = 100
# Rows read per verification batch.
VERIFY_BATCH_SIZE = 500


@dataclass(frozen=True)
class _Target:
    """One table's encrypted columns, for rotation and verification."""

    table: Table
    key: str
    columns: tuple[str, ...]
    where: ColumnElement[bool]

    def batch(
        self,
        connection: Connection,
        *conditions: ColumnElement[bool],
        after: str,
        size: int,
        lock: bool = False,
    ) -> Sequence[RowMapping]:
        """The next ``size`` rows (key and sealed columns) with a key above ``after``."""
        key_column = self.table.c[self.key]
        query = (
            select(key_column, *(self.table.c[name] for name in self.columns))
            .where(self.where, *conditions, key_column > after)
            .order_by(key_column)
            .limit(size)
        )
        if lock:
            query = query.with_for_update()
        return connection.execute(query).mappings().all()


_TARGETS = (
    *(_Target(table, key, columns, true()) for table, key, columns in ENCRYPTED_COLUMNS),
    _Target(store_meta, "key", ("value",), store_meta.c.key.in_(ENCRYPTED_META_KEYS)),
)


class SecretsMaintenance(RepositoryBase):
    def rotate_secrets(
        self,
        *,
        batch_size: int = ROTATION_BATCH_SIZE,
        on_batch: Callable[[str, int], None] | None = None,
        actor: str | None = None,
    ) -> RotationReport:
        """Re-encrypt every stored secret not sealed with the current key.

        Works in batches of ``batch_size`` rows, each its own transaction, so it can be
        interrupted and run again: already rotated values are skipped. ``on_batch(table, n)``
        is called after each committed batch. Values that cannot be decrypted are left as they
        are and counted as unreadable (see :meth:`verify_secrets`).
        """
        current = self._box.keyring.current_kid
        prefix = f"{FORMAT_VERSION}:{current}:"
        rotated = unreadable = batches = 0
        for target in _TARGETS:
            table = target.table
            key_column = table.c[target.key]
            stale = or_(
                *(
                    and_(
                        table.c[name].is_not(None),
                        func.substr(table.c[name], 1, len(prefix)) != prefix,
                    )
                    for name in target.columns
                )
            )
            after = ""
            while True:
                count = 0
                with self._write() as connection:
                    rows = target.batch(connection, stale, after=after, size=batch_size, lock=True)
                    if not rows:
                        break
                    for row in rows:
                        row_id = row[target.key]
                        changes: dict[str, str] = {}
                        for name in target.columns:
                            value = row[name]
                            if value is None or value.startswith(prefix):
                                continue
                            aad = associated_data(table.name, row_id, name)
                            try:
                                plaintext = self._box.decrypt(value, aad=aad)
                            except (DecryptionError, SecretKeyError):
                                unreadable += 1
                                continue
                            changes[name] = self._box.encrypt(plaintext, aad=aad)
                        if changes:
                            connection.execute(
                                update(table).where(key_column == row_id).values(changes)
                            )
                            count += len(changes)
                    after = rows[-1][target.key]
                rotated += count
                batches += 1
                if on_batch is not None:
                    on_batch(table.name, count)
        report = RotationReport(
            current_kid=current, rotated=rotated, unreadable=unreadable, batches=batches
        )
        if actor is not None:
            # Key ids and counts only: which key the store is sealed with now, never a key.
            with self._write() as connection:
                self._audit(
                    connection,
                    actor,
                    "secrets.rotated",
                    application=None,
                    context_identifier=None,
                    summary={
                        "current_kid": current,
                        "rotated": rotated,
                        "unreadable": unreadable,
                        "batches": batches,
                    },
                )
        return report

    def verify_secrets(self, *, batch_size: int = VERIFY_BATCH_SIZE) -> list[UnreadableSecret]:
        """Every stored secret the key ring cannot decrypt, with the reason (never the value)."""
        found: list[UnreadableSecret] = []
        for target in _TARGETS:
            table = target.table
            after = ""
            while True:
                with self._read() as connection:
                    rows = target.batch(connection, after=after, size=batch_size)
                if not rows:
                    break
                for row in rows:
                    found.extend(self._check_row(table, row[target.key], row, target.columns))
                after = rows[-1][target.key]
        return found

    def _check_row(
        self, table: Table, row_id: str, row: Mapping[Any, Any], columns: Sequence[str]
    ) -> Iterator[UnreadableSecret]:
        for name in columns:
            value = row[name]
            if value is None:
                continue
            kid: str | None = None
            try:
                kid = kid_of(value)
                self._box.decrypt(value, aad=associated_data(table.name, row_id, name))
            except SecretKeyError:
                yield UnreadableSecret(table.name, row_id, name, kid, "key not in the key ring")
            except DecryptionError:
                reason = "not a sealed value" if kid is None else "authentication failed"
                yield UnreadableSecret(table.name, row_id, name, kid, reason)
