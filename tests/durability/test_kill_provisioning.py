"""SIGKILL a process applying a provisioning plan, at random points, over and over.

Runs on each backend of the ``databases`` fixture. The emulator and the store outlive every kill
(the emulator runs in this test's process; the store is the SQLite file of a local stack's home,
or a fresh PostgreSQL schema the stack reaches through ``SOTK_DATABASE_URL``). After each kill
the store holds no half-written run: every run is either still ``running`` (the killed one: its
steps are a contiguous prefix of its plan) or finished with a finish time, and on SQLite the
integrity check says ok. A last, unkilled re-run then brings the tenant to exactly the manifest:
every list and item once, nothing duplicated, and a new plan is empty.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from durability_support import (
    Databases,
    Target,
    complete_lines,
    run_and_kill,
    sqlite_integrity,
    start_forked,
)
from durability_support import wait_for_line as wait_for

from toolkit.localstack import LocalStack
from toolkit.store.schema import RUN_OUTCOMES

# Kills and restarts applies many times: a hang guard, not a speed limit.
pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.timeout(300)]

ROUNDS = 20  # at least 20 kills per backend (issue 7)
SEED = 11
APP = "Demo Standard App"  # hybrid, installed in Cust12345 by the local stack's seed
CTX = "Cust12345"
LISTS = {
    "Durability status": [f"Status {n:02d}" for n in range(12)],
    "Durability region": [f"Region {n:02d}" for n in range(10)],
}
# Each tenant request is delayed, so that an apply takes a few tenths of a second (2 list
# creates, each new list's items in one request, and the reads) and the kills land inside.
LATENCY_MS = 30
# The kill comes this long (seconds, uniformly drawn) after the child planned, as its apply
# begins: most land inside the apply, some after it (then the tenant is uninstalled again).
KILL_AFTER = (0.0, 0.6)
# A killed child's apply lock expires after this; the next child waits up to LOCK_WAIT for it.
LOCK_TTL = 1.0
LOCK_WAIT = 10.0


def manifest() -> str:
    lines = ['model = "hybrid"']
    for name, items in LISTS.items():
        lines += ["", "[[lists]]", f'name = "{name}"']
        for rank, item in enumerate(items, start=1):
            lines += ["", "[[lists.items]]", f'name = "{item}"', f"rank = {rank}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def target(databases: Databases) -> Target:
    """The store of the stack: its home's SQLite file, or a fresh PostgreSQL schema."""
    return databases.new()


@pytest.fixture
def stack(target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        monkeypatch.delenv(name)
    if target.url is not None:
        # The stack builds Settings(home=...); the database comes from the environment.
        monkeypatch.setenv("SOTK_DATABASE_URL", target.url)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    with LocalStack(target.home, emulator_port=0, partner_port=0, dashboard=False) as running:
        assert running.workspace is not None
        assert running.workspace.settings.database_url == target.url
        running.workspace.provisioning.set_manifest(APP, manifest(), actor="test")
        yield running


def tenant_lists(stack: LocalStack) -> dict[str, list[str]]:
    emulator = stack.emulator
    assert emulator is not None
    tenant = emulator.world.find_tenant(CTX)
    assert tenant is not None
    data = emulator.world.data_of(tenant)
    return {
        definition.name: [item.name for item in definition.items if not item.deleted]
        for definition in data.lists
        if definition.name in LISTS
    } | {"__all_list_names__": [definition.name for definition in data.lists]}


def check_runs(stack: LocalStack) -> dict[str, int]:
    """No half-written run; returns the runs per outcome."""
    assert stack.workspace is not None
    repository = stack.workspace.repository
    counts: dict[str, int] = {}
    for summary in stack.workspace.provisioning.runs(APP, limit=1000):
        run = repository.get_provisioning_run(summary.id)
        assert run.outcome in RUN_OUTCOMES
        counts[run.outcome] = counts.get(run.outcome, 0) + 1
        positions = [step.position for step in run.steps]
        assert positions == list(range(len(positions))), f"run {run.id}: steps {positions}"
        assert len(positions) <= run.steps_total
        assert json.loads(json.dumps(run.plan, default=str))  # the plan was stored whole
        if run.outcome == "running":
            assert run.finished_at is None
            assert all(step.outcome in ("done", "adopted") for step in run.steps)
        else:
            assert run.finished_at is not None
            if run.outcome == "succeeded":
                assert len(positions) == run.steps_total
    return counts


def finished_run_ids(lines: list[str]) -> set[str]:
    """The run ids in a child's ``finished {run id} {outcome}`` lines (``-``: nothing to do)."""
    return {
        line.split()[1] for line in lines if line.startswith("finished ") and line.split()[1] != "-"
    }


def child_args(stack: LocalStack, target: Target) -> dict[str, Any]:
    urls = stack.urls
    return {
        "home": str(stack.home),
        "database_url": target.url,  # the child's own Settings, not the fork server's environment
        "emulator_url": urls.emulator,
        "public_url": urls.partner,
        "application": APP,
        "tenant": CTX,
        "lock_ttl": LOCK_TTL,
        "lock_wait": LOCK_WAIT,
    }


def test_killed_applies_leave_whole_runs_and_a_re_run_completes_without_duplicates(
    stack: LocalStack, target: Target, tmp_path: Path
) -> None:
    assert stack.emulator is not None
    assert stack.workspace is not None
    stack.emulator.set_faults([{"kind": "latency", "latency_ms": LATENCY_MS, "ctx": CTX}])
    rng = random.Random(SEED)
    kills = interrupted = completed = 0
    finished_runs: set[str] = set()  # the ids of the runs children reported finished
    started = time.monotonic()
    for round_number in range(ROUNDS):
        killed = run_and_kill(
            "provision",
            child_args(stack, target),
            tmp_path / f"provision-{round_number}.out",
            delay=rng.uniform(*KILL_AFTER),
        )
        kills += 1
        lines = killed.lines
        if any(line.startswith("finished") for line in lines):
            completed += 1
            finished_runs |= finished_run_ids(lines)
            # Start over, so that the next rounds have work to be killed in.
            stack.workspace.provisioning.uninstall(APP, CTX, actor="test", lock_wait=LOCK_WAIT)
        elif any(line.startswith("planned") for line in lines):
            interrupted += 1
        if target.backend == "sqlite":
            assert sqlite_integrity(target.sqlite_file) == (["ok"], [])
        check_runs(stack)

    # The re-run, not killed: it resumes from wherever the last kill left the tenant.
    out = tmp_path / "provision-final.out"
    process = start_forked("provision", child_args(stack, target), out)
    wait_for(lambda: process.exitcode, out, "ready")
    deadline = time.monotonic() + 60
    while not any(line.startswith("finished") for line in complete_lines(out)):
        assert process.exitcode in (None, 0), (Path(f"{out}.err").read_text(), complete_lines(out))
        assert time.monotonic() < deadline, complete_lines(out)
        time.sleep(0.05)
    process.join(timeout=30)
    assert process.exitcode == 0
    final = next(line for line in complete_lines(out) if line.startswith("finished"))
    finished_runs |= finished_run_ids(complete_lines(out))
    assert final.endswith(("succeeded", "up-to-date")), final

    found = tenant_lists(stack)
    names = found.pop("__all_list_names__")
    for name, items in LISTS.items():
        assert names.count(name) == 1, f"list {name!r} duplicated or missing: {names}"
        assert sorted(found[name]) == sorted(items), f"{name}: {found[name]}"
    assert stack.workspace.provisioning.plan(APP, CTX).is_empty
    counts = check_runs(stack)
    elapsed = time.monotonic() - started
    # The children applied to the stack's store, not to one of their own.
    stored = {summary.id for summary in stack.workspace.provisioning.runs(APP, limit=1000)}
    assert finished_runs <= stored, f"runs missing from the stack's store: {finished_runs - stored}"
    if target.backend == "postgresql":
        assert not target.sqlite_file.exists(), "a child fell back to SQLite"
    print(
        f"{target.backend}: {kills} kills ({interrupted} inside an apply, {completed} completed "
        f"first) in {elapsed:.1f} s; runs {counts}"
    )
    assert kills >= ROUNDS
    assert interrupted >= ROUNDS // 4  # most kills must land inside applies, not before them
