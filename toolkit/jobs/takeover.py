"""A surviving worker finishes a dead worker's workflows after a timeout.

DBOS recovers an executor's unfinished workflows when an executor *with the same id* starts
again (at launch); without DBOS Conductor nothing hands them to another executor. So each
worker also runs :class:`Takeover`, a thread that every ``timeout / 4``:

1. **keeps its own running workflows alive**: it sets ``updated_at`` of the workflows that are
   ``PENDING`` at its executor to now. DBOS itself writes that column only when a workflow
   changes status (it is dequeued, resumed or ends), not while it runs, so without this a live
   worker's long workflow looked as silent as a dead worker's;
2. **claims** each workflow of ours that is ``PENDING`` at *another* executor and was not kept
   alive for ``timeout`` seconds, with one conditional write (still that executor, still that
   ``updated_at``): of several surviving workers exactly one claims it, once;
3. **resumes** what it claimed: the workflow goes back on a queue and any worker continues it
   from its last checkpointed step (a tenant workflow, which has none, from its start).

Issue 13's kill test showed why both are needed: before, a live worker's tenant apply slower
than the timeout was resumed while it ran, by two survivors at once, and a resumed copy could
land on the very worker still running it.

[I] The keep-alive and the claim write DBOS's ``workflow_status`` table directly (its
``status``, ``executor_id`` and ``updated_at`` columns): DBOS offers no executor heartbeat and no
conditional resume. Every worker should use the same timeout: the keep-alive runs at a quarter
of the worker's own. A workflow claimed from a worker that was only stalled (its database
unreachable for ``timeout``) may still run twice; DBOS then lets one execution record its steps
and its result (the other stops at its next step, or ends unrecorded), and an apply's store
lock names its execution, so two never change one tenant at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, and_, update

from toolkit.jobs.names import WORKFLOWS

__all__ = [
    "DEFAULT_TAKEOVER_SECONDS",
    "Takeover",
    "claim",
    "keep_alive",
    "stalled",
    "take_over_stalled",
    "workflow_status_table",
]

logger = logging.getLogger("toolkit.jobs")

# Long enough that a briefly unreachable database does not make a live worker look dead;
# short enough that a dead worker's tenants wait minutes, not hours.
DEFAULT_TAKEOVER_SECONDS: Final = 300
RUNNING: Final = "PENDING"


def workflow_status_table(schema: str | None) -> Table:
    """The columns of DBOS's ``workflow_status`` the takeover reads and writes."""
    return Table(
        "workflow_status",
        MetaData(),
        Column("workflow_uuid", String, primary_key=True),
        Column("status", String),
        Column("name", String),
        Column("executor_id", String),
        Column("updated_at", BigInteger),
        schema=schema,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


def keep_alive(database: Engine, table: Table, own_executor: str) -> int:
    """Mark this executor's running workflows as alive now; how many."""
    with database.begin() as connection:
        result = connection.execute(
            update(table)
            .where(table.c.status == RUNNING, table.c.executor_id == own_executor)
            .values(updated_at=_now_ms())
        )
    return result.rowcount


def stalled(
    database: Engine, table: Table, own_executor: str, timeout: float
) -> list[tuple[str, str, int]]:
    """(workflow id, executor, updated_at) of our workflows running at other executors and not
    kept alive for ``timeout`` seconds."""
    cutoff = _now_ms() - int(timeout * 1000)
    with database.connect() as connection:
        rows = connection.execute(
            table.select()
            .with_only_columns(table.c.workflow_uuid, table.c.executor_id, table.c.updated_at)
            .where(
                table.c.status == RUNNING,
                table.c.name.in_(WORKFLOWS),
                table.c.executor_id != own_executor,
                table.c.updated_at < cutoff,
            )
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def claim(database: Engine, table: Table, own_executor: str, seen: tuple[str, str, int]) -> bool:
    """Claim a stalled workflow as listed (``seen``) for this executor; False when another
    worker claimed it first or it moved on since."""
    workflow_id, executor_id, updated_at = seen
    with database.begin() as connection:
        result = connection.execute(
            update(table)
            .where(
                and_(
                    table.c.workflow_uuid == workflow_id,
                    table.c.status == RUNNING,
                    table.c.executor_id == executor_id,
                    table.c.updated_at == updated_at,
                )
            )
            .values(executor_id=own_executor, updated_at=_now_ms())
        )
    return result.rowcount == 1


def take_over_stalled(
    database: Engine, table: Table, own_executor: str, timeout: float
) -> list[str]:
    """Claim and resume the stalled workflows of other executors (see the module doc); the ids
    this worker took over."""
    from dbos import DBOS

    taken: list[str] = []
    for seen in stalled(database, table, own_executor, timeout):
        if not claim(database, table, own_executor, seen):
            continue
        logger.warning("taking over workflow %s from silent worker %s", seen[0], seen[1])
        DBOS.resume_workflow(seen[0])
        taken.append(seen[0])
    return taken


class Takeover:
    """The background thread of :func:`keep_alive` and :func:`take_over_stalled` in one
    worker; ``take_over`` False only keeps this worker's own workflows alive."""

    def __init__(
        self,
        database: Engine,
        schema: str | None,
        own_executor: str,
        timeout: float,
        *,
        take_over: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the takeover timeout must be positive")
        self.database = database
        self.table = workflow_status_table(schema)
        self.own_executor = own_executor
        self.timeout = timeout
        self.take_over = take_over
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sotk-takeover", daemon=True)

    def start(self) -> Takeover:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.timeout / 4):
            try:
                keep_alive(self.database, self.table, self.own_executor)
                if self.take_over:
                    take_over_stalled(self.database, self.table, self.own_executor, self.timeout)
            except Exception:  # the next round tries again; a worker must not die of this
                logger.exception("keeping workflows alive or taking them over failed")
