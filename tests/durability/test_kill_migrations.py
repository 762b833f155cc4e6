"""SIGKILL a process in the middle of a migration: the schema is entirely old or entirely new.

The child sleeps after every SQL statement inside the one migration transaction, so the kill
lands at a random statement (or, now and then, after the commit). The database must then report
either the version it had before (none, or the oldest migration) or the newest one, and its
tables, columns and indexes must be exactly that version's, compared with a reference database
migrated to that version without interruption. Re-running the migration then completes.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from durability_support import Databases, Target, child_args, run_and_kill, sqlite_integrity
from sqlalchemy import Engine, inspect

from toolkit.store import create_engine_for, head_version, migrate, schema_version
from toolkit.store.database import write
from toolkit.store.migrations import _config

# Each kills and restarts child processes many times: a hang guard, not a speed limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Kills per backend and starting point (fresh database; database at the oldest migration).
ROUNDS = 8
# Seconds the child sleeps after each statement: the whole migration takes about half a second.
STATEMENT_DELAY = {"sqlite": 0.006, "postgresql": 0.012}
# The kill comes this long after the child said ready; some kills come after the commit.
KILL_AFTER = (0.0, 0.7)
SEED = 11


def oldest_version() -> str:
    revisions = list(ScriptDirectory.from_config(_config()).walk_revisions())
    return revisions[-1].revision


def upgrade_to(engine: Engine, version: str) -> None:
    with write(engine) as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, version)


def shape(engine: Engine) -> dict[str, Any]:
    """Tables with their columns (name, type, nullability) and indexes, and the version."""
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = [
            (column["name"], str(column["type"]), column["nullable"])
            for column in inspector.get_columns(table)
        ]
        indexes = sorted(
            (index["name"] or "", tuple(str(c) for c in index["column_names"]))
            for index in inspector.get_indexes(table)
        )
        tables[table] = {"columns": columns, "indexes": indexes}
    return {"version": schema_version(engine), "tables": tables}


def reference_shapes(databases: Databases, versions: list[str | None]) -> dict[str | None, Any]:
    shapes: dict[str | None, Any] = {}
    for version in versions:
        target = databases.new()
        engine = create_engine_for(target.url, home=target.home)
        try:
            if version is not None:
                upgrade_to(engine, version)
            shapes[version] = shape(engine)
        finally:
            engine.dispose()
    return shapes


@pytest.mark.parametrize("start", ["fresh", "oldest"])
def test_a_killed_migration_leaves_the_old_or_the_new_schema(
    databases: Databases, tmp_path: Path, start: str
) -> None:
    before = None if start == "fresh" else oldest_version()
    head = head_version()
    assert before != head
    references = reference_shapes(databases, [before, head])
    rng = random.Random(f"{SEED}-{databases.backend}-{start}")
    outcomes = {"old": 0, "new": 0}
    started = time.monotonic()
    for round_number in range(ROUNDS):
        target: Target = databases.new()
        if before is not None:
            engine = create_engine_for(target.url, home=target.home)
            upgrade_to(engine, before)
            engine.dispose()
        killed = run_and_kill(
            "migrate",
            child_args(target, delay=STATEMENT_DELAY[databases.backend]),
            tmp_path / f"migrate-{start}-{round_number}.out",
            delay=rng.uniform(*KILL_AFTER),
        )
        engine = create_engine_for(target.url, home=target.home)
        try:
            found = shape(engine)
            assert found["version"] in (before, head), found["version"]
            assert found == references[found["version"]]
            outcomes["new" if found["version"] == head else "old"] += 1
            if killed.finished:
                assert found["version"] == head
            if target.backend == "sqlite" and target.sqlite_file.exists():
                assert sqlite_integrity(target.sqlite_file) == (["ok"], [])
            assert migrate(engine) == head  # the interrupted migration can simply run again
            assert shape(engine) == references[head]
        finally:
            engine.dispose()
    elapsed = time.monotonic() - started
    print(f"{databases.backend} from {start}: {ROUNDS} kills, {outcomes} in {elapsed:.1f} s")
    assert outcomes["old"] > 0  # most kills landed inside the migration transaction
