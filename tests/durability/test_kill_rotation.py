"""``sotk secrets rotate`` SIGKILLed midway, again and again, then run once more: it completes.

The real command runs as its own interpreter (``sotk secrets rotate`` through ``toolkit.cli``)
with the new key first in ``SOTK_SECRET_KEYS``. It is killed right after it reports a committed
batch (plus a random moment). After each kill every value still decrypts with the key ring and
every row is complete; the final run leaves every value under the new key, readable with the
new key alone.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from durability_child import APPLICATION, expected_columns, issued_at
from durability_support import (
    KEY_NEW,
    KEY_OLD,
    Databases,
    Target,
    check_authorizations,
    complete_lines,
    open_target,
    sqlite_integrity,
)
from sqlalchemy import select

from toolkit.store.schema import ENCRYPTED_COLUMNS

pytestmark = pytest.mark.slow

# Authorizations in the store: several rotation batches (100 rows each) in that table alone.
ROWS = 400
# Kills per backend before the final, uninterrupted run.
ROUNDS = 3
# After the first reported batch, the kill comes this long later (seconds, uniform).
KILL_AFTER = (0.0, 0.08)
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


def rotate(target: Target, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ROTATE,
        stdout=out.open("wb"),
        stderr=Path(f"{out}.err").open("wb"),
        cwd=out.parent,
        env=target.env(f"{KEY_NEW},{KEY_OLD}"),
    )


def test_a_killed_rotation_runs_again_to_completion(databases: Databases, tmp_path: Path) -> None:
    target = databases.new()
    written = fill(target)
    rng = random.Random(f"{SEED}-{databases.backend}")
    midway = 0
    started = time.monotonic()
    for round_number in range(ROUNDS):
        out = tmp_path / f"rotate-{round_number}.out"
        process = rotate(target, out)
        try:
            _wait_for_batch(process, out)
            time.sleep(rng.uniform(*KILL_AFTER))
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=30)
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
    assert midway > 0


def _wait_for_batch(process: subprocess.Popen[bytes], out: Path) -> None:
    """Wait until the command reported its first committed batch."""
    deadline = time.monotonic() + 60
    while not any("re-encrypted" in line for line in complete_lines(out)):
        if process.poll() is not None:
            raise AssertionError(Path(f"{out}.err").read_text(encoding="utf-8")[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError("the rotation never reported a batch")
        time.sleep(0.002)
