"""``sotk secrets rotate`` SIGKILLed midway, again and again, then run once more: it completes.

The real command runs as its own interpreter (``sotk secrets rotate`` through ``toolkit.cli``,
in :mod:`durability_child`'s ``rotate`` mode) with the new key first in ``SOTK_SECRET_KEYS``.
After a committed batch it pauses and waits for the test (a handshake over its stdin, so a fast
machine cannot finish the rotation before the test sees a batch): the first round kills it in
that pause, so a kill after a committed batch and before the last one always happens; later
rounds release it and kill it a random moment later, which may land inside a batch's
transaction or after the command has exited cleanly (also fine). After each kill every value
still decrypts with the key ring and every row is complete; the final run leaves every value
under the new key, readable with the new key alone.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from durability_child import APPLICATION, expected_columns, issued_at
from durability_support import (
    CHILD,
    KEY_NEW,
    KEY_OLD,
    READY_TIMEOUT,
    Databases,
    Target,
    check_authorizations,
    complete_lines,
    open_target,
    sqlite_integrity,
)
from sqlalchemy import select

from toolkit.store.schema import ENCRYPTED_COLUMNS

# Each kills and restarts child processes many times: a hang guard, not a speed limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Authorizations in the store: several rotation batches (100 rows each) in that table alone.
ROWS = 400
# Kills per backend before the final, uninterrupted run.
ROUNDS = 3
# After the pause is released, the kill comes this long later (seconds, uniform).
KILL_AFTER = (0.0, 0.08)
# The committed batch after which the command pauses (uniform): the store has more than three.
PAUSE_AFTER = (1, 3)
SEED = 5
ROTATE = [sys.executable, "-c", "from toolkit.cli import main; main()", "secrets", "rotate"]


def fill(target: Target) -> dict[str, int]:
    written = {}
    with open_target(target, KEY_OLD) as store:
        store.add_application(
            APPLICATION,
            environment="sod",
            client_id="0123456789abcdef0123456789abcdef",
            client_secret="durability-client-secret",
        )
        for number in range(ROWS):
            ctx, iat = f"Cust{number:05d}", 1000 + number
            values = expected_columns(ctx, iat)
            store.put_authorization(
                APPLICATION,
                ctx,
                token_issued_at=issued_at(iat),
                system_user_token=values["system_user_token"],
                refresh_token=values["refresh_token"],
                serial=values["serial"],
                company_name=values["company_name"],
                claims=values["claims"],
                approved_by=values["approved_by"],
                actor="durability",
            )
            written[ctx] = iat
    return written


def kids(target: Target) -> dict[str, int]:
    """How many stored values each key id sealed (read raw, no decryption)."""
    counts: dict[str, int] = {}
    with open_target(target, f"{KEY_NEW},{KEY_OLD}") as store, store.engine.connect() as conn:
        for table, _key, columns in ENCRYPTED_COLUMNS:
            for column in columns:
                for (value,) in conn.execute(select(table.c[column])):
                    if value is not None:
                        kid = value.split(":")[1]
                        counts[kid] = counts.get(kid, 0) + 1
    return counts


def rotate(target: Target, out: Path, pause_after: int) -> subprocess.Popen[bytes]:
    """``sotk secrets rotate`` pausing after its ``pause_after``-th batch (see the module doc)."""
    args = {"out": str(out), "pause_after": pause_after}
    return subprocess.Popen(
        [sys.executable, str(CHILD), "rotate", json.dumps(args)],
        stdin=subprocess.PIPE,
        stderr=Path(f"{out}.stderr").open("wb"),
        cwd=out.parent,
        env=target.env(f"{KEY_NEW},{KEY_OLD}"),
    )


def test_a_killed_rotation_runs_again_to_completion(databases: Databases, tmp_path: Path) -> None:
    target = databases.new()
    written = fill(target)
    rng = random.Random(f"{SEED}-{databases.backend}")
    midway = paused_kills = 0
    started = time.monotonic()
    for round_number in range(ROUNDS):
        out = tmp_path / f"rotate-{round_number}.out"
        process = rotate(target, out, rng.randint(*PAUSE_AFTER))
        assert process.stdin is not None
        try:
            if _wait_for_pause_or_exit(process, out):
                if round_number == 0:
                    paused_kills += 1  # killed between two committed batches, deterministically
                else:
                    process.stdin.write(b"go\n")
                    process.stdin.flush()
                    time.sleep(rng.uniform(*KILL_AFTER))  # where it lands does not matter
            process.kill()  # SIGKILL; a command that already exited is not a failure
        finally:
            process.wait(timeout=30)
            process.stdin.close()
        lines = complete_lines(out)
        if lines and lines[-1].startswith("exit "):
            assert lines[-1] == "exit 0", _output(out)  # a clean exit before the kill is fine
        counts = kids(target)
        if counts.get("new") and counts.get("old"):
            midway += 1
        if target.backend == "sqlite":
            assert sqlite_integrity(target.sqlite_file) == (["ok"], [])
        with open_target(target, f"{KEY_NEW},{KEY_OLD}") as store:
            check_authorizations(store, written)
    final = subprocess.run(
        ROTATE,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=target.env(f"{KEY_NEW},{KEY_OLD}"),
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stderr
    assert "; 0 unreadable" in final.stdout
    assert set(kids(target)) == {"new"}
    with open_target(target, KEY_NEW) as store:  # the old key is no longer needed
        assert check_authorizations(store, written) == ROWS
    elapsed = time.monotonic() - started
    print(f"{databases.backend}: {ROUNDS} kills ({midway} midway) + final run in {elapsed:.1f} s")
    assert paused_kills == 1
    assert midway > 0  # the paused kill left values under both keys


def _output(out: Path) -> str:
    err = Path(f"{out}.stderr")
    errors = err.read_text(encoding="utf-8")[-3000:] if err.exists() else ""
    return "\n".join(complete_lines(out)[-20:]) + "\n" + errors


def _wait_for_pause_or_exit(process: subprocess.Popen[bytes], out: Path) -> bool:
    """True once the command says ``paused``; False when it exited first (nothing left to do).

    Waits for an event (a line in the output, or the process's exit), not for a duration; the
    deadline only turns a hung child into a failure instead of a hung test.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    while "paused" not in complete_lines(out):
        if process.poll() is not None:
            if "paused" in complete_lines(out):
                break
            assert process.returncode == 0, _output(out)
            return False
        if time.monotonic() > deadline:
            raise AssertionError(f"the rotation never paused: {_output(out)}")
        time.sleep(0.002)
    return True
