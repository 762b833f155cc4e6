"""Shared helpers of the durability tests (a plain module: conftest is not importable).

:func:`run_and_kill` starts :mod:`durability_child` in a fresh process forked by a multiprocessing
fork server (started once with ``sys.executable``, the toolkit already imported, no connection
open), with its output going to a file (every line flushed, so what the child printed survives its
death), waits until it says ``ready``, lets it work for a random while and SIGKILLs it.
:func:`start_process` starts the same child as an independent interpreter instead.
:func:`check_authorizations` then proves that every acknowledged write is in the store, complete
and decryptable.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import durability_child
from durability_child import APPLICATION, expected_columns, issued_at
from sqlalchemy import select
from support.postgres import PostgresServer

from toolkit.store import Repository, generate_key_text, open_store
from toolkit.store.schema import audit_events

CHILD = Path(__file__).resolve().parent / "durability_child.py"
KEY_OLD = generate_key_text("old")
KEY_NEW = generate_key_text("new")
# How long a child may take to import the toolkit and open the store before the test gives up.
READY_TIMEOUT = 60.0
# Children are forked from a server that imported the toolkit once (about a second per start
# saved); the server itself never opens the store, so no child inherits a connection.
_FORK_SERVER = multiprocessing.get_context("forkserver")
_FORK_SERVER.set_forkserver_preload(["toolkit.store", "durability_child"])


@dataclass(frozen=True)
class Target:
    """One database: ``url`` None is the embedded SQLite file ``{home}/toolkit.db``."""

    backend: str
    url: str | None
    home: Path

    @property
    def sqlite_file(self) -> Path:
        return self.home / "toolkit.db"

    def env(self, secret_keys: str) -> dict[str, str]:
        """The environment of a ``sotk`` process using this database."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("SOTK_") and key != "PYTEST_CURRENT_TEST"
        }
        env.update(
            {"SOTK_HOME": str(self.home), "SOTK_SECRET_KEYS": secret_keys, "PYTHONUNBUFFERED": "1"}
        )
        if self.url is not None:
            env["SOTK_DATABASE_URL"] = self.url
        return env


@dataclass
class Databases:
    """Makes fresh, empty databases on one backend."""

    backend: str
    root: Path
    server: PostgresServer | None = None
    made: int = field(default=0)

    def new(self) -> Target:
        self.made += 1
        home = self.root / f"db{self.made}"
        home.mkdir(parents=True)
        if self.backend == "sqlite":
            return Target("sqlite", None, home)
        assert self.server is not None
        _, url = self.server.new_schema()  # dropped with the session's schemas
        return Target("postgresql", url, home)


@dataclass(frozen=True)
class Killed:
    """What a killed child printed (complete lines only) and how long it ran after ``ready``."""

    lines: list[str]
    ran_for: float
    finished: bool

    def acks(self) -> list[tuple[str, int]]:
        found = []
        for line in self.lines:
            if line.startswith("ack "):
                _, ctx, iat = line.split()
                found.append((ctx, int(iat)))
        return found


def complete_lines(path: Path) -> list[str]:
    """The lines of a child's output; a line without its newline was cut by the kill."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return text.split("\n")[:-1]


def _errors(out: Path) -> str:
    err = Path(f"{out}.err")
    return err.read_text(encoding="utf-8")[-3000:] if err.exists() else "(no traceback)"


def start_process(mode: str, args: Mapping[str, Any], out: Path) -> subprocess.Popen[bytes]:
    """The child as an independent interpreter (``python durability_child.py MODE JSON``)."""
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, json.dumps({**args, "out": str(out)})],
        stderr=Path(f"{out}.stderr").open("wb"),
        cwd=out.parent,
    )


def start_forked(mode: str, args: Mapping[str, Any], out: Path) -> multiprocessing.Process:
    """The child as a process forked by the fork server."""
    process = _FORK_SERVER.Process(
        target=durability_child.run, args=(mode, {**args, "out": str(out)}), daemon=True
    )
    process.start()
    return process


def wait_for_line(exited: Any, out: Path, wanted: str, *, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the child printed ``wanted``; ``exited()`` is its exit code or None."""
    deadline = time.monotonic() + timeout
    while wanted not in complete_lines(out):
        code = exited()
        if code is not None and wanted not in complete_lines(out):
            raise AssertionError(f"child exited ({code}) before {wanted!r}: {_errors(out)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"child never printed {wanted!r}: {_errors(out)}")
        time.sleep(0.002)


def run_and_kill(mode: str, args: Mapping[str, Any], out: Path, delay: float) -> Killed:
    """Start the child, wait for ``ready``, let it work ``delay`` seconds, SIGKILL it."""
    process = start_forked(mode, args, out)
    try:
        wait_for_line(lambda: process.exitcode, out, "ready")
        started = time.monotonic()
        time.sleep(delay)
        finished = process.exitcode is not None
        process.kill()  # SIGKILL
        process.join(timeout=30)
        ran_for = time.monotonic() - started
    finally:
        if process.exitcode is None:
            process.kill()
            process.join()
    if finished and process.exitcode != 0:
        raise AssertionError(_errors(out))
    return Killed(complete_lines(out), ran_for, finished)


def sqlite_integrity(path: Path) -> tuple[list[Any], list[Any]]:
    """``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check`` rows of a SQLite file."""
    connection = sqlite3.connect(path)
    try:
        integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        connection.close()
    return integrity, foreign


def check_authorizations(store: Repository, acked: Mapping[str, int]) -> int:
    """Every acknowledged write present and every row complete; returns the rows checked.

    Complete means: every column agrees with the write its ``token_issued_at`` names, both
    secrets decrypt (with the row's identity as associated data) to that write's values, and the
    write's audit event (same transaction) is there. Present means: every acknowledged tenant
    has a row at least as new as its newest acknowledged write.
    """
    rows = {row.context_identifier: row for row in store.list_authorizations(APPLICATION)}
    missing = sorted(ctx for ctx in acked if ctx not in rows)
    assert not missing, f"acknowledged writes lost: {missing[:5]}"
    with store.engine.connect() as connection:
        events = connection.execute(
            select(audit_events.c.context_identifier, audit_events.c.summary)
            .where(audit_events.c.actor == "durability")
            .order_by(audit_events.c.id)
        ).all()
    audited: dict[str, set[str]] = {}
    for ctx, summary in events:
        audited.setdefault(ctx, set()).add(json.loads(summary)["token_issued_at"])
    for ctx, row in rows.items():
        iat = int((row.token_issued_at - issued_at(0)).total_seconds())
        assert row.token_issued_at == issued_at(iat)
        assert iat >= acked.get(ctx, 0), f"{ctx}: acknowledged write {acked[ctx]} lost"
        expected = expected_columns(ctx, iat)
        assert row.system_user_token is not None
        assert row.refresh_token is not None
        assert row.system_user_token.reveal() == expected["system_user_token"]
        assert row.refresh_token.reveal() == expected["refresh_token"]
        assert row.serial == expected["serial"]
        assert row.company_name == expected["company_name"]
        assert row.approved_by == expected["approved_by"]
        assert dict(row.claims) == expected["claims"]
        assert row.status == "active"
        assert row.approved_at == row.token_issued_at
        assert row.updated_at >= row.created_at
        assert row.token_issued_at.isoformat() in audited.get(ctx, set()), (
            f"{ctx}: the row's write has no audit event"
        )
    assert not store.verify_secrets()
    return len(rows)


def open_target(target: Target, secret_keys: str = KEY_OLD) -> Repository:
    return open_store(target.url, target.home, secret_keys)


def child_args(target: Target, secret_keys: str = KEY_OLD, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": target.url,
        "home": str(target.home),
        "secret_keys": secret_keys,
        **extra,
    }
