"""``sotk worker``: run the job engine's executor until stopped (Ctrl-C or SIGTERM).

Any number of workers, on any machines sharing the database (PostgreSQL for several machines),
share the queues. A worker restarted with the same ``--executor-id`` resumes the workflows it
was running when it died (DBOS recovers an executor's own pending workflows at launch).
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from toolkit.cli.common import fail, workspace
from toolkit.errors import ToolkitError


def worker(
    executor_id: Annotated[
        str | None,
        typer.Option(
            "--executor-id",
            help="This worker's identity; restart under the same one to resume its work "
            "(default: host name and process id).",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Tenant workflows run at once by this worker."),
    ] = None,
) -> None:
    """Run background work (fleet jobs, install-time provisioning) until stopped."""
    from dataclasses import replace

    from toolkit.jobs.engine import start_engine
    from toolkit.jobs.queues import QueueLimits

    stop = threading.Event()
    with workspace() as ws:
        limits = QueueLimits.from_settings(ws.settings)
        if concurrency is not None:
            limits = replace(
                limits,
                worker_concurrency=concurrency,
                global_concurrency=max(limits.global_concurrency, concurrency),
            )
        try:
            chosen = executor_id or ws.settings.worker_id
            engine = start_engine(
                ws,
                executor_id=chosen,
                limits=limits,
                takeover_seconds=ws.settings.jobs_takeover_seconds or None,
                upkeep=(
                    ws.settings.upkeep_state_refresh,
                    ws.settings.upkeep_ticket_renewal,
                    ws.settings.upkeep_drift_check,
                ),
            )
        except (ToolkitError, ValueError) as error:
            raise fail(error) from None
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        typer.echo(f"worker {engine.executor_id} running; Ctrl-C stops it", err=True)
        try:
            stop.wait()
        finally:
            engine.close()
        typer.echo(f"worker {engine.executor_id} stopped", err=True)
