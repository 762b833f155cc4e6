"""Alembic environment for the store, driven in code by :func:`toolkit.store.migrations.migrate`.

The caller passes an open connection (``config.attributes["connection"]``) that is already
inside a transaction holding the migration lock, so every pending migration runs in that one
transaction: SQLite and PostgreSQL both have transactional DDL, so an interrupted upgrade
leaves either the old or the new schema.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from toolkit.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - misuse guard
    raise RuntimeError("run store migrations through toolkit.store.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies and swaps the table.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
    compare_type=True,
)
context.run_migrations()
