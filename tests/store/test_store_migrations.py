"""Migrations: versioned, idempotent, matching the schema module; engine settings."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect
from sqlalchemy.exc import DBAPIError
from support.stores import migrated_home

from toolkit.errors import ConfigurationError
from toolkit.store import (
    create_engine_for,
    database,
    head_version,
    migrate,
    open_store,
    schema_version,
)
from toolkit.store.areas.key_ring import is_sealed
from toolkit.store.areas.state_history import state_history_query
from toolkit.store.database import BUSY_TIMEOUT_MS, read, write
from toolkit.store.schema import metadata

TABLES = {
    "alembic_version",
    "applications",
    "authorizations",
    "pending_sign_ins",
    "user_options",
    "audit_events",
    "store_meta",
    "tickets",
}


def test_migrations_are_versioned_and_idempotent(database_url: str | None, home: Path) -> None:
    engine = create_engine_for(database_url, home=home)
    try:
        assert schema_version(engine) is None
        assert migrate(engine) == head_version() == "0008"
        assert migrate(engine) == head_version()  # again: nothing to do, no error
        assert schema_version(engine) == head_version()
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


# Alembic cannot compare expression indexes on SQLite (it says so); the next test checks them.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrated_schema_matches_the_schema_module(database_url: str | None, home: Path) -> None:
    engine = create_engine_for(database_url, home=home)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_embedded_sqlite_default(tmp_path: Path) -> None:
    home = tmp_path / "nested" / ".toolkit"
    engine = create_engine_for(None, home=home)
    try:
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert Path(str(engine.url.database)) == (home / "toolkit.db").resolve()
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "mysql://x@localhost/db", "postgresql+psycopg2://x/y"],
)
def test_unsupported_databases_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        create_engine_for(url, home=tmp_path)


def test_plain_postgresql_urls_mean_psycopg_3(tmp_path: Path) -> None:
    engine = create_engine_for("postgresql://u@127.0.0.1/db", home=tmp_path)
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_the_tests_migrated_template_is_a_freshly_migrated_store(tmp_path: Path) -> None:
    """support.stores copies one migrated store into many tests' homes: it must hold what a
    first start's migration makes, and open as a first start does (key file, canary)."""

    def schema(database: Path) -> list[tuple[str, str, list[str]]]:
        with closing(sqlite3.connect(database)) as connection:
            rows = connection.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            return [(kind, name, definition(sql or "")) for kind, name, sql in rows]

    def definition(sql: str) -> list[str]:
        # A table that a migration rebuilt (Alembic's batch mode on SQLite) lists its named
        # constraints in an order that changes from process to process: the columns keep their
        # order, the constraints are compared as a set.
        lines = [line.strip().rstrip(",").rstrip() for line in sql.splitlines()]
        constraints = sorted(line for line in lines if line.startswith("CONSTRAINT "))
        return [line for line in lines if not line.startswith("CONSTRAINT ")] + constraints

    fresh = create_engine_for(None, home=tmp_path / "fresh")
    migrate(fresh)
    fresh.dispose()
    copied = migrated_home(tmp_path / "copied")

    assert schema(copied / "toolkit.db") == schema(tmp_path / "fresh" / "toolkit.db")
    assert stat.S_IMODE(copied.stat().st_mode) == 0o700
    assert sorted(path.name for path in copied.iterdir()) == ["toolkit.db"]
    store = open_store(None, copied, None)
    try:
        assert schema_version(store.engine) == head_version()
        assert is_sealed(store.engine)
        assert (copied / "secret.key").exists()
    finally:
        store.close()


def test_sqlite_writes_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    engine = create_engine_for(None, home=tmp_path)
    try:
        migrate(engine)
        database = str(engine.url.database)

        def another_writer_can_begin() -> bool:
            other = sqlite3.connect(database, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                return True
            except sqlite3.OperationalError:
                return False
            finally:
                other.close()

        with read(engine) as connection:
            connection.exec_driver_sql("SELECT count(*) FROM applications").scalar()
            assert another_writer_can_begin()  # readers do not hold the write lock
        with write(engine) as connection:
            assert not another_writer_can_begin()  # BEGIN IMMEDIATE took it up front
        assert another_writer_can_begin()
    finally:
        engine.dispose()


def test_writers_of_one_process_take_turns_before_sqlite_locks(tmp_path: Path) -> None:
    """A second writer in the process, even through another engine on the file, waits for the
    first's turn to end instead of meeting SQLite's lock: it never needs the busy timeout (0
    here, so it would fail at once)."""
    first_engine = create_engine_for(None, home=tmp_path)
    second_engine = create_engine_for(None, home=tmp_path)
    for engine in (first_engine, second_engine):
        event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute(_NO_BUSY_WAIT))
    migrate(first_engine)
    file = os.path.realpath(str(second_engine.url.database))
    turn = database.writer_turn(file)
    second_waits = threading.Event()

    class WatchedTurn:
        def acquire(self, timeout: float = -1) -> bool:
            if threading.current_thread().name == "second-writer":
                second_waits.set()
            return turn.acquire(timeout=timeout)

        def release(self) -> None:
            turn.release()

    database._TURNS.by_path[file] = WatchedTurn()  # type: ignore[assignment]
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with write(second_engine) as connection:
                connection.exec_driver_sql("UPDATE store_meta SET value = value")
        except BaseException as exc:
            errors.append(exc)

    try:
        with write(first_engine) as connection:
            connection.exec_driver_sql("UPDATE store_meta SET value = value")
            second = threading.Thread(target=second_writer, name="second-writer")
            second.start()
            assert second_waits.wait(10)
        second.join(10)
        assert not second.is_alive()
        assert errors == []
    finally:
        first_engine.dispose()
        second_engine.dispose()


_NO_BUSY_WAIT = "PRAGMA busy_timeout = 0"


def test_a_forked_child_starts_with_no_turn_held(tmp_path: Path) -> None:
    """A turn another thread of the parent held at the fork would never be given back in the
    child (that thread does not exist there): the child starts with fresh turns."""
    file = str(tmp_path / "toolkit.db")
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with database.writer_turn(file):
            held.set()
            done.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: exit at once, with the answer as its status
            os._exit(0 if database.writer_turn(file).acquire(blocking=False) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        done.set()
        thread.join(10)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_job_engines_connections_take_the_writers_turn(tmp_path: Path) -> None:
    """The engine's SQLite connections (configured as DBOS configures them: a write opens
    ``BEGIN IMMEDIATE``) wait for the store writer's turn before their first write, hold it to
    their commit, and take none for a read. Through ``cursor()``, as SQLAlchemy (DBOS) sends
    every statement; ``Connection.execute`` would bypass it."""
    from toolkit.jobs.engine import SystemDatabaseConnection

    engine = create_engine_for(None, home=tmp_path)
    migrate(engine)
    path = str(engine.url.database)
    turn = database.writer_turn(path)
    system = sqlite3.connect(
        path,
        timeout=0,
        isolation_level="IMMEDIATE",
        check_same_thread=False,
        factory=SystemDatabaseConnection,
    )

    def turn_is_free() -> bool:
        free: list[bool] = []

        def probe() -> None:
            free.append(turn.acquire(blocking=False))
            if free[0]:
                turn.release()

        prober = threading.Thread(target=probe)
        prober.start()
        prober.join()
        return free[0]

    try:
        system.cursor().execute("SELECT count(*) FROM store_meta").fetchall()
        assert turn_is_free()  # a read takes no turn
        system.cursor().execute("UPDATE store_meta SET value = value")
        assert system.in_transaction
        assert not turn_is_free()  # held from the first write...
        system.commit()
        assert turn_is_free()  # ...to the commit

        errors: list[BaseException] = []
        engine_waits = threading.Event()

        class WatchedTurn:
            def acquire(self, timeout: float = -1) -> bool:
                engine_waits.set()
                return turn.acquire(timeout=timeout)

            def release(self) -> None:
                turn.release()

        system._turn = WatchedTurn()  # type: ignore[assignment]

        def engine_writer() -> None:
            try:
                system.cursor().execute("UPDATE store_meta SET value = value")
                system.commit()
            except BaseException as exc:
                errors.append(exc)

        with write(engine) as connection:
            connection.exec_driver_sql("UPDATE store_meta SET value = value")
            writer = threading.Thread(target=engine_writer)
            writer.start()
            assert engine_waits.wait(10)
        writer.join(10)
        assert not writer.is_alive()
        assert errors == []  # it waited for the turn, not in SQLite's busy handler (timeout 0)
        assert turn_is_free()
    finally:
        system.close()
        engine.dispose()


def test_a_failed_migration_leaves_the_old_schema(database_url: str | None, home: Path) -> None:
    engine = create_engine_for(database_url, home=home)
    try:
        # A stray table makes the migration fail at its very last step.
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE store_meta (stray INTEGER)")
        with pytest.raises(DBAPIError):
            migrate(engine)
        assert schema_version(engine) is None
        assert set(inspect(engine).get_table_names()) == {"store_meta"}  # all else rolled back
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE store_meta")
        assert migrate(engine) == head_version()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("table", "index"),
    [
        ("authorizations", "ix_authorizations_application_id_lower_context_identifier"),
        ("state_changes", "ix_state_changes_application_id_lower_context_identifier"),
    ],
)
def test_case_insensitive_tenant_lookups_use_an_index(
    database_url: str | None, home: Path, table: str, index: str
) -> None:
    """Migration 0006: ``lower(context_identifier)`` lookups (issue 17) are served by an index."""
    engine = create_engine_for(database_url, home=home)
    where = "WHERE application_id = 'a' AND lower(context_identifier) = 'cust12345'"
    lookup = f"SELECT * FROM {table} {where}"  # noqa: S608 (a table name from the test's own list)
    try:
        migrate(engine)
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {lookup}").all()
            else:
                # An empty table is scanned whatever its indexes: forbid that to see the index.
                connection.exec_driver_sql("SET enable_seqscan = off")
                plan = connection.exec_driver_sql(f"EXPLAIN {lookup}").all()
        assert index in " ".join(str(value) for row in plan for value in row), plan
    finally:
        engine.dispose()


def test_the_state_history_reads_state_changes_along_the_action_index(
    database_url: str | None, home: Path
) -> None:
    """Migration 0007: the Overview's tenants per state per day (issue 15) reads the recorded
    state changes along the ``(action, id)`` index, not the whole audit trail."""
    engine = create_engine_for(database_url, home=home)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "

    def explained(*args: object) -> tuple[object, object]:
        statement, parameters = args[2], args[3]
        return explain + str(statement), parameters

    try:
        migrate(engine)
        query = state_history_query(engine.dialect.name, date(2026, 11, 1), date(2026, 11, 30))
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                # An empty table is scanned whatever its indexes: forbid that to see the index.
                connection.exec_driver_sql("SET enable_seqscan = off")
            event.listen(connection, "before_cursor_execute", explained, retval=True)
            plan = connection.execute(query).all()
        assert "ix_audit_events_action_id" in " ".join(
            str(value) for row in plan for value in row
        ), plan
    finally:
        engine.dispose()
