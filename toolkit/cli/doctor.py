"""``sotk doctor``: check the setup and say what to fix (exit 1 when a check fails)."""

from __future__ import annotations

import typer

from toolkit.cli.common import configure_logging

# How each status is shown, and in which colour.
_LABELS = {
    "ok": ("  ok", typer.colors.GREEN),
    "warn": ("warn", typer.colors.YELLOW),
    "fail": ("FAIL", typer.colors.RED),
    "skip": ("skip", None),
}


def doctor() -> None:
    """Check configuration, keys, database, key ring and the SuperOffice environment."""
    from toolkit.doctor import CheckStatus, run_checks

    configure_logging()
    checks = run_checks()
    for check in checks:
        label, colour = _LABELS[check.status.value]
        typer.secho(f"[{label}] {check.name}: {check.detail}", fg=colour)
        if check.fix and check.status is not CheckStatus.OK:
            typer.echo(f"       fix: {check.fix}")
    failed = sum(check.status is CheckStatus.FAIL for check in checks)
    warned = sum(check.status is CheckStatus.WARN for check in checks)
    typer.echo(f"{len(checks)} checks: {failed} failed, {warned} warning(s)")
    if failed:
        raise typer.Exit(code=1)
