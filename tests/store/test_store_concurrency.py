"""Concurrent writers: one authorization row per application x tenant, never "database is locked".

Threads share one store (both backends); processes each open their own store on one SQLite file
(started with ``spawn`` so no connection is inherited), including its first start: migration,
key file creation and key ring canary race too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from store_support import KEY_A

from toolkit.errors import ConflictError
from toolkit.store import PutOutcome, Repository, open_store
from toolkit.store.schema import authorizations

ISSUED = datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
WORKERS = 6
PUTS_PER_WORKER = 10


def put_many(store: Repository, worker: int) -> list[PutOutcome]:
    """Each worker puts the same tenant with its own sequence of issue times."""
    outcomes = []
    for step in range(PUTS_PER_WORKER):
        issued = ISSUED + timedelta(seconds=step * WORKERS + worker)
        _, outcome = store.put_authorization(
            "demo",
            "Cust12345",
            token_issued_at=issued,
            system_user_token=f"DemoApp-token-{issued.timestamp():.0f}",
            approved_by=f"admin-{worker}@example",
            actor=f"worker-{worker}",
        )
        outcomes.append(outcome)
    return outcomes


def newest_issue_time() -> datetime:
    return ISSUED + timedelta(seconds=(PUTS_PER_WORKER - 1) * WORKERS + WORKERS - 1)


def count_rows(store: Repository) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(authorizations)).scalar())


def test_threads_putting_the_same_authorization_leave_one_row(store: Repository) -> None:
    store.add_application(
        "demo", environment="sod", client_id="cid", client_secret="s", redirect_uri=None
    )
    barrier = threading.Barrier(WORKERS)
    results: dict[int, list[PutOutcome]] = {}
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait()
            results[worker] = put_many(store, worker)
        except BaseException as exc:  # reported below, with the worker's traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    outcomes = [outcome for worker in results.values() for outcome in worker]
    assert outcomes.count(PutOutcome.CREATED) == 1
    assert count_rows(store) == 1
    record = store.get_authorization("demo", "Cust12345")
    assert record.token_issued_at == newest_issue_time()
    assert record.system_user_token is not None
    assert record.system_user_token.reveal() == (
        f"DemoApp-token-{newest_issue_time().timestamp():.0f}"
    )
    changes = outcomes.count(PutOutcome.CREATED) + outcomes.count(PutOutcome.UPDATED)
    assert len(store.list_audit(limit=1000)) == changes  # one event per change, none lost


def process_worker(
    home: str, worker: int, barrier: Any, failures: Any, key_text: str | None
) -> None:
    try:
        store = open_store(None, Path(home), key_text)
        try:
            with contextlib.suppress(ConflictError):  # another process registered it first
                store.add_application("demo", environment="sod", client_id="cid", client_secret="s")
            barrier.wait(timeout=60)
            put_many(store, worker)
        finally:
            store.close()
    except BaseException:
        failures.put(f"worker {worker}: {traceback.format_exc()}")


@pytest.mark.timeout(300)  # many processes at once: a hang guard, not a speed limit
@pytest.mark.parametrize("key_text", [KEY_A, None], ids=["secret-keys", "key-file"])
@pytest.mark.slow
def test_processes_starting_and_putting_at_once_on_sqlite(
    tmp_path: Path, key_text: str | None
) -> None:
    home = tmp_path / "home"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    failures = context.Queue()
    processes = [
        context.Process(
            target=process_worker, args=(str(home), worker, barrier, failures, key_text)
        )
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=90)
    reports = []
    while not failures.empty():
        reports.append(failures.get())
    assert reports == [], "\n".join(reports)
    assert [process.exitcode for process in processes] == [0] * WORKERS
    store = open_store(None, home, key_text)
    try:
        assert count_rows(store) == 1
        assert store.get_authorization("demo", "Cust12345").token_issued_at == (newest_issue_time())
        assert store.verify_secrets() == []
        assert len(store.list_applications()) == 1
    finally:
        store.close()
