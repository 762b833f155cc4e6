"""Alembic migrations shipped inside the package, run in code (no alembic.ini at runtime)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from toolkit.store.database import write

__all__ = ["MIGRATIONS_FOLDER", "head_version", "migrate", "schema_version"]

MIGRATIONS_FOLDER = Path(__file__).resolve().parent
# PostgreSQL advisory lock key serializing concurrent starters' migrations ("sotk" in ASCII).
MIGRATION_LOCK_KEY = 0x736F746B


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
    return config


def head_version() -> str:
    """The newest migration shipped with this toolkit."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no store migrations found")
    return head


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest version; a no-op when it is already there.

    Everything pending runs in one transaction that first takes a lock (``BEGIN IMMEDIATE`` on
    SQLite, an advisory lock on PostgreSQL), so concurrent starters migrate once and an
    interrupted migration leaves the old schema. Returns the version now in place.
    """
    with write(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        version = MigrationContext.configure(connection).get_current_revision()
    if version is None:  # pragma: no cover - upgrade always stamps a version
        raise RuntimeError("the store migration left no version behind")
    return version


def schema_version(engine: Engine) -> str | None:
    """The schema version in the database, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
