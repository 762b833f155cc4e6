"""A surviving worker finishes a dead worker's workflows after a timeout.

DBOS recovers an executor's unfinished workflows when an executor *with the same id* starts
again (at launch); without DBOS Conductor nothing hands them to another executor. So each
worker also runs :class:`Takeover`: every ``timeout / 4`` it looks for workflows of ours that
are ``PENDING`` (running) at *another* executor and were not updated for ``timeout`` seconds, and
resumes them: they go back on a queue and any worker continues them from their last
checkpointed step.

[I] The engine keeps no executor heartbeat, so "dead" is "silent for ``timeout``": keep it well
above the longest step (the HTTP retry budget, 30 s) and the apply lock's lease (2 min). A
workflow taken over from a worker that was only slow is still safe: DBOS lets one execution own
it (the other stops at its next step), and an apply takes the tenant's store lock, whose owner
names the executor, so two never change one tenant at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

__all__ = ["DEFAULT_TAKEOVER_SECONDS", "Takeover", "take_over_stalled"]

logger = logging.getLogger("toolkit.jobs")

# Long enough that a live worker's slowest tenant step (30 s HTTP budget, 2 min apply lock)
# never looks dead; short enough that a dead worker's tenants wait minutes, not hours.
DEFAULT_TAKEOVER_SECONDS: Final = 300
WORKFLOWS: Final = ("sotk.fleet_job", "sotk.tenant_job")


def take_over_stalled(own_executor: str, timeout: float, *, now_ms: int | None = None) -> list[str]:
    """Resume the stalled workflows of other executors (see the module doc); their ids."""
    from dbos import DBOS

    now = now_ms if now_ms is not None else int(time.time() * 1000)
    stalled = [
        status.workflow_id
        for status in DBOS.list_workflows(
            status="PENDING", name=list(WORKFLOWS), load_input=False, load_output=False
        )
        if status.executor_id != own_executor and (status.updated_at or 0) < now - timeout * 1000
    ]
    for workflow_id in stalled:
        logger.warning("taking over workflow %s from a silent worker", workflow_id)
        DBOS.resume_workflow(workflow_id)
    return stalled


class Takeover:
    """The background thread of :func:`take_over_stalled` in one worker."""

    def __init__(self, own_executor: str, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("the takeover timeout must be positive")
        self.own_executor = own_executor
        self.timeout = timeout
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
                take_over_stalled(self.own_executor, self.timeout)
            except Exception:  # the next round tries again; a worker must not die of this
                logger.exception("taking over stalled workflows failed")
