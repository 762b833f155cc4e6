"""``sotk jobs``: list, show, cancel and retry background jobs, from any machine sharing the
database (no worker needed here: the job engine's client reads and writes its tables)."""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.cli.common import CLI_ACTOR, fail, workspace
from toolkit.errors import ToolkitError

jobs_app = typer.Typer(help="Background jobs: list, show, cancel, retry.", no_args_is_help=True)

JobIdArgument = Annotated[str, typer.Argument(help="The job's id (from jobs list).")]


def _counts(counts: dict[str, int]) -> str:
    shown = ("succeeded", "skipped", "failed", "running", "queued", "cancelled")
    parts = [f"{counts[k]} {k}" for k in shown if counts.get(k)]
    return f"{', '.join(parts) or 'nothing yet'} of {counts.get('total', 0)}"


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        str | None,
        typer.Option(help="queued, running, succeeded, failed or cancelled."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Jobs, newest first: id, status, tenants by outcome, duration."""
    from toolkit.jobs.client import Jobs

    with workspace() as ws, Jobs(ws.repository) as jobs:
        try:
            found = jobs.list(status=status, limit=limit)
        except (ToolkitError, ValueError) as error:
            raise fail(error) from None
        if not found:
            typer.echo("no jobs")
        for job in found:
            took = "" if job.seconds is None else f" in {job.seconds:.1f}s"
            typer.echo(f"{job.job_id}  {job.status}{took}  {_counts(job.counts)}")


@jobs_app.command("show")
def show(job_id: JobIdArgument) -> None:
    """One job: its status and every tenant's outcome, error and duration."""
    from toolkit.jobs.client import Jobs

    with workspace() as ws, Jobs(ws.repository) as jobs:
        try:
            job = jobs.show(job_id)
            tenants = jobs.tenants(job_id)
        except ToolkitError as error:
            raise fail(error) from None
        typer.echo(f"{job.job_id}: {job.status} ({_counts(job.counts)})")
        if job.actor:
            typer.echo(f"  {job.operation} by {job.actor}")
        if job.error:
            typer.echo(f"  error: {job.error}")
        for row in tenants:
            took = "" if row.seconds is None else f" {row.seconds:.2f}s"
            why = f"  {row.error}" if row.error else ""
            typer.echo(
                f"  {row.context_identifier}  {row.application}  "
                f"{row.outcome or row.status}{took}{why}"
            )


@jobs_app.command("cancel")
def cancel(job_id: JobIdArgument) -> None:
    """Cancel a job and its unfinished tenants (a step under way finishes first)."""
    from toolkit.jobs.client import Jobs

    with workspace() as ws, Jobs(ws.repository) as jobs:
        try:
            job = jobs.cancel(job_id)
        except ToolkitError as error:
            raise fail(error) from None
        typer.echo(f"{job.job_id}: {job.status}")


@jobs_app.command("retry")
def retry(job_id: JobIdArgument) -> None:
    """Run again what did not succeed: a cancelled job resumes; a finished job's failed
    tenants become a new job (its id is printed)."""
    from toolkit.jobs.client import Jobs

    with workspace() as ws, Jobs(ws.repository) as jobs:
        try:
            new_id = jobs.retry(job_id, actor=CLI_ACTOR)
        except ToolkitError as error:
            raise fail(error) from None
        typer.echo(new_id)
