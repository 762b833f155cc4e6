"""Waiting for state-change notifications the endpoints accepted: with a job engine in the
process a notification's 200 means *enqueued*; its workflow processes it after the answer."""

from __future__ import annotations

import time

from dbos import DBOS

# A hang guard, not a timing expectation: the wait ends as soon as the workflows have.
SETTLE_SECONDS = 120.0
UNFINISHED = ["ENQUEUED", "PENDING"]


def settle_notifications(seconds: float = SETTLE_SECONDS) -> None:
    """Return once no notification workflow is queued or running (read from the engine's
    tables every 50 ms); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while unfinished := DBOS.list_workflows(
        name="sotk.state_change", status=UNFINISHED, load_input=False
    ):
        states = sorted({found.status for found in unfinished})
        assert time.monotonic() < deadline, f"{len(unfinished)} notifications still {states}"
        time.sleep(0.05)
