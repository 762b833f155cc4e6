"""SIGKILL a process writing authorizations, at random points, over and over; lose nothing.

One database per backend takes every round, so later rounds are killed on a store that earlier
kills left behind. After each kill: the store opens normally (migrations, key ring canary), every
acknowledged write is present and decrypts, no row is half-written, and on SQLite
``PRAGMA integrity_check`` says ``ok`` with no foreign key violations.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from durability_child import APPLICATION
from durability_support import (
    Databases,
    Target,
    check_authorizations,
    child_args,
    complete_lines,
    open_target,
    run_and_kill,
    sqlite_integrity,
    start_process,
    wait_for_line,
)

# Each kills and restarts child processes many times: a hang guard, not a speed limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# At least 20 kills per backend (issue 7).
ROUNDS = 20
# The kill comes this long (seconds, uniformly drawn) after the child's first committed write.
KILL_AFTER = (0.0, 0.35)
SEED = 7


def prepared(databases: Databases) -> Target:
    """A fresh store holding the application the child writes under."""
    target = databases.new()
    with open_target(target) as store:
        store.add_application(
            APPLICATION,
            environment="sod",
            client_id="0123456789abcdef0123456789abcdef",
            client_secret="durability-client-secret",
        )
    return target


def test_killed_writers_lose_no_acknowledged_write(databases: Databases, tmp_path: Path) -> None:
    target = prepared(databases)
    rng = random.Random(f"{SEED}-{databases.backend}")
    acked: dict[str, int] = {}
    kills = acks = 0
    started = time.monotonic()
    for round_number in range(ROUNDS):
        killed = run_and_kill(
            "write",
            child_args(
                target,
                prefix=f"Cust{round_number:02d}",
                first_iat=(round_number + 1) * 1_000_000,
                seed=rng.randrange(2**32),
                ready_after=1,
            ),
            tmp_path / f"write-{round_number}.out",
            delay=rng.uniform(*KILL_AFTER),
        )
        assert not killed.finished
        kills += 1
        for ctx, iat in killed.acks():
            acked[ctx] = max(iat, acked.get(ctx, 0))
            acks += 1
        if target.backend == "sqlite":
            assert sqlite_integrity(target.sqlite_file) == (["ok"], [])
        with open_target(target) as store:
            check_authorizations(store, acked)
    elapsed = time.monotonic() - started
    print(f"{databases.backend}: {kills} kills, {acks} acknowledged writes in {elapsed:.1f} s")
    assert kills >= ROUNDS
    assert acks >= ROUNDS  # every kill came after a committed write (ready_after=1)


def test_two_processes_writing_at_once_never_see_database_is_locked(
    databases: Databases, tmp_path: Path
) -> None:
    target = prepared(databases)
    writes = 150
    outs = [tmp_path / f"writer-{number}.out" for number in range(3)]
    processes = [
        start_process(
            "write",
            child_args(
                target,
                prefix=f"Cust{number}",
                first_iat=(number + 1) * 1_000_000,
                seed=number,
                limit=writes,
            ),
            out,
        )
        for number, out in enumerate(outs)
    ]
    for process, out in zip(processes, outs, strict=True):
        wait_for_line(process.poll, out, "finished")
        assert process.wait(timeout=60) == 0
        errors = Path(f"{out}.stderr").read_text(encoding="utf-8")
        assert "locked" not in errors.lower(), errors
    acked: dict[str, int] = {}
    for out in outs:
        for line in complete_lines(out):
            if line.startswith("ack "):
                _, ctx, iat = line.split()
                acked[ctx] = max(int(iat), acked.get(ctx, 0))
    with open_target(target) as store:
        assert check_authorizations(store, acked) == len(acked)
    if target.backend == "sqlite":
        assert sqlite_integrity(target.sqlite_file) == (["ok"], [])
