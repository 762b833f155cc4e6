"""``sotk secrets``: rotate and verify the secrets at rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from toolkit.cli.common import CLI_ACTOR, fail, workspace
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    pass

secrets_app = typer.Typer(help="Secrets at rest: rotate and verify.", no_args_is_help=True)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the current key (safe to run again)."""
    with workspace() as ws:

        def progress(table: str, count: int) -> None:
            typer.echo(f"  {table}: {count} value(s) re-encrypted")

        try:
            report = ws.repository.rotate_secrets(on_batch=progress, actor=CLI_ACTOR)
        except ToolkitError as error:
            raise fail(error) from None
        typer.echo(
            f"rotated {report.rotated} value(s) to key {report.current_kid!r} "
            f"in {report.batches} batch(es); {report.unreadable} unreadable"
        )
        if report.unreadable:
            typer.echo("run `sotk secrets verify` to list the unreadable values", err=True)
            raise typer.Exit(code=1)


@secrets_app.command("verify")
def secrets_verify() -> None:
    """Check that every stored secret decrypts; list those that do not (exit 1)."""
    with workspace() as ws:
        try:
            unreadable = ws.repository.verify_secrets()
        except ToolkitError as error:
            raise fail(error) from None
        if not unreadable:
            typer.echo("every stored secret is readable")
            return
        typer.echo(f"{len(unreadable)} stored secret(s) cannot be read:", err=True)
        for item in unreadable:
            typer.echo(
                f"  {item.table}.{item.column} row {item.row_id} (key {item.kid or '-'}): "
                f"{item.reason}",
                err=True,
            )
        raise typer.Exit(code=1)
