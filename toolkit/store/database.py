"""Engines for the store: embedded SQLite by default, PostgreSQL through psycopg for teams.

SQLite runs in WAL mode (readers never block the writer), with foreign keys on and a busy
timeout, and every transaction is opened by us rather than by pysqlite (the SQLAlchemy pysqlite
"serializable isolation / savepoints / transactional DDL" recipe): the connection is put in
autocommit mode on connect and the ``begin`` event emits ``BEGIN`` or, for :func:`write`
transactions, ``BEGIN IMMEDIATE``. A writer therefore takes the write lock at the start of its
transaction and waits for it (up to the busy timeout) instead of failing with "database is
locked" when a deferred read transaction tries to upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from toolkit.errors import ConfigurationError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DATABASE_FILE_NAME",
    "create_engine_for",
    "default_database_url",
    "is_sqlite",
    "read",
    "write",
]

# The embedded database file inside the toolkit home folder.
DATABASE_FILE_NAME = "toolkit.db"
# Owner-only home folder: it holds the database and the secret key file.
HOME_MODE = 0o700
# How long a SQLite writer waits for another writer's lock before giving up. Write transactions
# are short (milliseconds), so 30 s only expires when something is truly stuck.
BUSY_TIMEOUT_MS = 30_000
# Connections kept per process: the dashboard, partner endpoints and fleet workers each use a
# handful at once; more would only queue on SQLite's single writer or a small PostgreSQL.
POOL_SIZE = 5
# Extra connections allowed in bursts (fleet work), closed again when returned.
MAX_OVERFLOW = 10
# Seconds to wait for a pooled connection before failing loudly instead of hanging.
POOL_TIMEOUT_SECONDS = 30
# Recycle PostgreSQL connections before typical proxy / load-balancer idle cut-offs.
POOL_RECYCLE_SECONDS = 1800
# Seconds to wait for the PostgreSQL server to accept a connection.
CONNECT_TIMEOUT_SECONDS = 10
# Execution option naming how a SQLite transaction begins (DEFERRED or IMMEDIATE).
_BEGIN_OPTION = "sotk_sqlite_begin"
_BEGIN_MODES = {"DEFERRED": "BEGIN", "IMMEDIATE": "BEGIN IMMEDIATE"}


def default_database_url(home: Path) -> str:
    """``sqlite:///{home}/toolkit.db``, the embedded default."""
    return f"sqlite:///{(Path(home) / DATABASE_FILE_NAME).resolve()}"


def create_engine_for(url: str | None, *, home: Path) -> Engine:
    """An engine for ``url``, or for the embedded SQLite file ``{home}/toolkit.db`` when None.

    Accepted: ``sqlite:///path`` and ``postgresql+psycopg://...`` (``postgresql://`` and
    ``postgres://`` are taken to mean psycopg 3).
    """
    if not url:
        home = Path(home)
        home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
        url = default_database_url(home)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigurationError(
                "the store needs a SQLite database file (WAL and several connections); "
                "in-memory databases are not supported"
            )
        if parsed.get_driver_name() != "pysqlite":
            raise ConfigurationError("SQLite is supported through the built-in sqlite3 driver")
        Path(database).parent.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        _install_sqlite_hooks(engine)
        return engine
    if backend in ("postgresql", "postgres"):
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise ConfigurationError(
                "PostgreSQL is supported through psycopg 3 (postgresql+psycopg://...)"
            )
        return create_engine(
            parsed,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
    raise ConfigurationError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///path or postgresql+psycopg://"
    )


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" hook below: pysqlite's own implicit
        # BEGIN would be DEFERRED and would not cover DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL is durable against application crashes and keeps commits cheap.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(_BEGIN_MODES[mode])


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: ``BEGIN IMMEDIATE`` on SQLite, committed on success."""
    with engine.connect() as connection:
        connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            yield connection


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: a plain ``BEGIN`` (a consistent snapshot in WAL mode)."""
    with engine.connect() as connection, connection.begin():
        yield connection
