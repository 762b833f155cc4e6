"""Engines for the store: embedded SQLite by default, PostgreSQL through psycopg for teams.

SQLite runs in WAL mode (readers never block the writer), with foreign keys on and a busy
timeout, and every transaction is opened by us rather than by pysqlite (the SQLAlchemy pysqlite
"serializable isolation / savepoints / transactional DDL" recipe): the connection is put in
autocommit mode on connect and the ``begin`` event emits ``BEGIN`` or, for :func:`write`
transactions, ``BEGIN IMMEDIATE``. A writer therefore takes the write lock at the start of its
transaction and waits for it (up to the busy timeout) instead of failing with "database is
locked" when a deferred read transaction tries to upgrade.

Writers of one process take turns on a lock of their own before ``BEGIN IMMEDIATE`` (one per
database file, :func:`write`): SQLite's busy handler waits by sleeping, 1, 2, 5, 10 ms and
longer, so of 16 fleet threads the ones that found the file locked slept well past the moment
it was free (issue 14: in an uninstall and first apply of 500 tenants, 93 ms per tenant in
``BEGIN IMMEDIATE``, p99 85 ms, while each write holds the lock for well under a millisecond). A
thread waiting on the lock is woken as the writer before it finishes. The job engine's
connections to the file in this process take the same turn (:mod:`toolkit.jobs.engine`);
writers in other processes (another worker, the dashboard) still meet at SQLite's lock and its
busy timeout.

A database that cannot be reached, opened or written (read-only file, folder or server, full
disk, I/O error, connection refused) raises :class:`~toolkit.errors.StoreUnavailableError` naming
the database (never its password) and the cause, at open or at write, instead of a raw driver
error: see :func:`unavailable_error`, installed on every engine as a ``handle_error`` hook.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url

from toolkit.errors import ConfigurationError, StoreUnavailableError, UnstorableTextError
from toolkit.text import unstorable_character

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DATABASE_FILE_NAME",
    "create_engine_for",
    "default_database_url",
    "is_sqlite",
    "read",
    "unavailable_error",
    "write",
    "writer_turn",
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
# SQLite primary result codes meaning "this database cannot be used here", with what to say.
_SQLITE_UNAVAILABLE = {
    sqlite3.SQLITE_READONLY: ("read_only", "the database file or its folder is read-only"),
    sqlite3.SQLITE_FULL: ("disk_full", "the disk (or the file size limit) is full"),
    sqlite3.SQLITE_CANTOPEN: ("cannot_open", "the database file cannot be opened or created"),
    sqlite3.SQLITE_IOERR: ("io_error", "the disk reported an I/O error"),
    sqlite3.SQLITE_PERM: ("permission", "access to the database file was denied"),
    sqlite3.SQLITE_CORRUPT: ("corrupt", "the database file is damaged"),
    sqlite3.SQLITE_NOTADB: ("corrupt", "the file is not a SQLite database"),
}
# PostgreSQL SQLSTATEs (exact, then by class) meaning the same, with what to say.
_POSTGRES_UNAVAILABLE = {
    "25006": ("read_only", "the server accepts only read-only transactions"),
    "53100": ("disk_full", "the server's disk is full"),
    "53": ("resources", "the server is out of resources"),
    "08": ("unreachable", "the connection to the server failed"),
    "57P": ("unreachable", "the server is shutting down or not accepting connections"),
}


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
        _make_folder(home)
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
        _make_folder(Path(database).parent)
        if parsed.query.get("mode") == "ro":
            # ``?mode=ro``: open the file read-only (SQLITE_OPEN_READONLY) through a file: URI,
            # for inspection (``sotk doctor``) or a read-only copy; writes fail with
            # StoreUnavailableError. Any other query option would be taken as part of the name.
            parsed = parsed.set(
                database=f"file:{quote(str(Path(database).resolve()))}",
                query={"mode": "ro", "uri": "true"},
            )
        elif parsed.query:
            raise ConfigurationError("a SQLite store URL takes no options other than ?mode=ro")
        engine = create_engine(
            parsed,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        _install_sqlite_hooks(engine)
        _TURN_FILES[engine] = os.path.realpath(database)
        _install_error_mapping(engine, database)
        _install_text_guard(engine)
        return engine
    if backend in ("postgresql", "postgres"):
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise ConfigurationError(
                "PostgreSQL is supported through psycopg 3 (postgresql+psycopg://...)"
            )
        engine = create_engine(
            parsed,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        _install_error_mapping(engine, describe_url(parsed))
        _install_text_guard(engine)
        return engine
    raise ConfigurationError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///path or postgresql+psycopg://"
    )


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def describe_url(url: str | URL) -> str:
    """The database URL fit for messages: no password, no query options."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(query={}).render_as_string(hide_password=True)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailableError(
            f"the store folder {folder} cannot be created: {exc.strerror or exc}",
            location=str(folder),
            cause="cannot_open",
        ) from exc


def unavailable_error(error: BaseException, location: str) -> StoreUnavailableError | None:
    """The typed error for a driver error that means the database cannot be used, else None.

    SQLite: read-only, full, cannot open, I/O error, permission, damaged. PostgreSQL: read-only
    transactions, disk full / out of resources, connection failures, or any error while
    connecting. ``location`` is the database file or the password-free URL.
    """
    found: tuple[str, str] | None = None
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int):
            found = _SQLITE_UNAVAILABLE.get(code & 0xFF)
    else:
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            found = next(
                (hit for prefix, hit in _POSTGRES_UNAVAILABLE.items() if state.startswith(prefix)),
                None,
            )
    if found is None:
        return None
    cause, meaning = found
    # The driver's own words (no SQL, no parameters): "attempt to write a readonly database".
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return StoreUnavailableError(
        f"the store at {location} cannot be used: {meaning} ({detail})",
        location=location,
        cause=cause,
    )


def _install_error_mapping(engine: Engine, location: str) -> None:
    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> StoreUnavailableError | None:
        if context.is_pre_ping:
            return None  # the pool reconnects by itself
        error = unavailable_error(context.original_exception, location)
        if error is None and context.connection is None and not is_sqlite(engine):
            # Any failure to connect to the server (refused, unknown host, auth, timeout).
            detail = str(context.original_exception).strip().splitlines()
            error = StoreUnavailableError(
                f"the store at {location} cannot be reached: "
                f"{detail[0] if detail else type(context.original_exception).__name__}",
                location=location,
                cause="unreachable",
            )
        return error


def unstorable_parameter(parameters: Any, names: Sequence[str] = ()) -> str | None:
    """The name of the first text parameter no store can hold, or None.

    ``names`` are the positional parameters' names (SQLite's qmark style passes a tuple).
    """
    batches = parameters if isinstance(parameters, list) else [parameters]
    for batch in batches:
        items = batch.items() if isinstance(batch, Mapping) else enumerate(batch or ())
        for key, value in items:
            if isinstance(value, str) and unstorable_character(value) is not None:
                if isinstance(key, int) and key < len(names):
                    return names[key]
                return str(key)
    return None


def _install_text_guard(engine: Engine) -> None:
    """Refuse NUL and unpaired surrogates in every statement, on every backend, before the
    driver: SQLite cannot encode a surrogate (UnicodeEncodeError) and PostgreSQL refuses NUL,
    each as a raw error that would end a request in a 500 and lose the row being written."""

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(
        _conn: Connection,
        _cursor: Any,
        _statement: str,
        parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        compiled = getattr(context, "compiled", None)
        names = getattr(compiled, "positiontup", None) or ()
        parameter = unstorable_parameter(parameters, names)
        if parameter is not None:
            raise UnstorableTextError(
                f"the store cannot hold {parameter!r}: it contains NUL or an unpaired surrogate",
                parameter=parameter,
            )


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


class _FileTurns:
    """The turn of each SQLite file's writers in this process (see the module doc), shared by
    every engine on that file; re-entrant, so a write opened inside another on the same thread
    meets SQLite's busy timeout as it did before instead of waiting on itself. A forked child
    starts with none (a turn held by a thread of the parent would never be given back there)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.guard = threading.Lock()
        self.by_path: dict[str, threading.RLock] = {}

    def of(self, real_path: str) -> threading.RLock:
        turn = self.by_path.get(real_path)
        if turn is None:
            with self.guard:
                turn = self.by_path.setdefault(real_path, threading.RLock())
        return turn


_TURNS = _FileTurns()
os.register_at_fork(after_in_child=_TURNS.reset)
# Each SQLite engine's file, resolved once.
_TURN_FILES: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def writer_turn(database: str | Path) -> threading.RLock:
    """The turn this process's writers of the SQLite file ``database`` take (see the module
    doc); the job engine's connections to the file take it too."""
    return _TURNS.of(os.path.realpath(database))


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: ``BEGIN IMMEDIATE`` on SQLite, committed on success.

    On SQLite it waits for this process's other writers of the file first (at most the busy
    timeout; past it, SQLite's own wait decides, as without the turn)."""
    real_path = _TURN_FILES.get(engine)
    turn = _TURNS.of(real_path) if real_path is not None else None
    held = turn if turn is not None and turn.acquire(timeout=BUSY_TIMEOUT_MS / 1000) else None
    try:
        with engine.connect() as connection:
            connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with connection.begin():
                yield connection
    finally:
        if held is not None:
            held.release()


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: a plain ``BEGIN`` (a consistent snapshot in WAL mode)."""
    with engine.connect() as connection, connection.begin():
        yield connection
