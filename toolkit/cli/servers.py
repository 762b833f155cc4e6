"""``sotk serve``, ``sotk dashboard`` and ``sotk run``: the long-running front ends."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.cli.common import configure_logging, fail, workspace
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.localstack import LocalStack


def serve_endpoints(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            help="Also run queued jobs (install-time provisioning, fleet jobs) here; with"
            " --no-worker `sotk worker` processes run them. Notifications run as workflows in"
            " this process either way.",
        ),
    ] = True,
) -> None:
    """Run the partner endpoints (/install, /callback, /healthz) and a job engine until Ctrl-C."""
    from toolkit.web import serve

    with workspace() as ws:
        typer.echo(
            f"partner endpoints on http://{host}:{port} (public URL {ws.settings.public_url})"
        )
        typer.echo("  /install?app=NAME[&tenant=CustNNNNN]   /callback   /healthz")
        typer.echo(f"  job engine in this process ({'a worker' if worker else 'no worker'})")
        try:
            serve(ws, host=host, port=port, work_queues=worker)
        except KeyboardInterrupt:
            # Ctrl-C is how it stops; with the engine launched, the interrupt uvicorn re-raises
            # after its shutdown surfaces here (serve has closed the engine by then).
            pass
        except (OSError, ToolkitError) as error:
            raise fail(error) from None


def dashboard(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    host: Annotated[
        str, typer.Option(help="Address to listen on; not loopback only with operator sign-in.")
    ] = "127.0.0.1",
    secrets: Annotated[
        Path | None,
        typer.Option(
            envvar="SOTK_DASHBOARD_SECRETS",
            help="Streamlit secrets.toml with [auth] for operator sign-in (default: Streamlit's"
            " .streamlit/secrets.toml in the current folder or the home folder).",
        ),
    ] = None,
) -> None:
    """Run the Streamlit dashboard until Ctrl-C (settings from SOTK_* / .env).

    With an [auth] section in its secrets, operators sign in (SOTK_OPERATORS is the
    allow-list); without one it is unauthenticated and listens on loopback only.
    """
    import subprocess

    from pydantic import ValidationError

    from toolkit.config import Settings
    from toolkit.localstack import DASHBOARD_APP, dashboard_command
    from toolkit.operators import check_dashboard_launch, default_secrets_files

    if not DASHBOARD_APP.is_file():
        raise fail(FileNotFoundError(f"no dashboard at {DASHBOARD_APP}; run from a checkout"))
    try:
        operators = Settings().operators
    except ValidationError:
        operators = None  # the dashboard itself names the invalid setting on its pages
    files = [secrets] if secrets is not None else default_secrets_files()
    try:
        auth = check_dashboard_launch(host, files, operators)
    except ToolkitError as error:
        raise fail(error) from None
    if secrets is not None and not secrets.is_file():
        raise fail(FileNotFoundError(f"no secrets file at {secrets}"))
    mode = "operators sign in" if auth is not None else "unauthenticated, loopback only"
    typer.echo(f"dashboard on http://{host}:{port} ({mode}; Ctrl-C stops)")
    command = dashboard_command(port, host, secrets)
    process = subprocess.Popen(command)  # noqa: S603 - our interpreter, our args
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal's Ctrl-C reached Streamlit too (same process group); let it finish.
        code = process.wait()
    raise typer.Exit(code=0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code)


def run_stack(
    home: Annotated[
        Path, typer.Option(envvar="SOTK_HOME", help="The toolkit's home: store, keys, world.")
    ] = Path(".toolkit"),
    emulator_port: Annotated[int, typer.Option(help="Emulator port on 127.0.0.1.")] = 8765,
    partner_port: Annotated[int, typer.Option(help="Partner endpoints port on 127.0.0.1.")] = 8000,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port on 127.0.0.1.")] = 8501,
    seed: Annotated[
        bool, typer.Option(help="Register the demo applications and install them (once).")
    ] = True,
) -> None:
    """Start the emulator, the partner endpoints and the dashboard together; Ctrl-C stops all."""
    from toolkit.localstack import LocalStack, StackEvent

    configure_logging()

    def show(event: StackEvent) -> None:
        if event.kind == "warning":
            typer.secho(f"warning: {event.message}", err=True, fg=typer.colors.YELLOW)
        else:
            typer.echo(f"  {event.message}")

    def interrupt(*_: object) -> None:
        # SIGTERM behaves like Ctrl-C, also while the stack is still starting.
        raise KeyboardInterrupt

    stack = LocalStack(
        home,
        emulator_port=emulator_port,
        partner_port=partner_port,
        dashboard_port=dashboard_port,
        seed_applications=seed,
        seed_tenants=seed,
        on_event=show,
    )
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    # Both set explicitly: a shell starts background jobs with SIGINT ignored.
    for number in previous:
        signal.signal(number, interrupt)
    try:
        _run_until_interrupted(stack)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _run_until_interrupted(stack: LocalStack) -> None:
    """Start ``stack``, print its URLs, wait for Ctrl-C / SIGTERM, stop it."""
    from toolkit.localstack import (
        DEMO_PASSWORD,
        NEWCOMER_TENANT,
        NEWCOMER_USERNAME,
        PARTNER_ADMIN,
        PARTNER_VIEWER,
    )

    typer.echo(f"starting the local stack (home {stack.home})")
    started = time.monotonic()
    try:
        stack.start()
    except KeyboardInterrupt:
        typer.echo("interrupted")
        raise typer.Exit(code=130) from None
    except (ToolkitError, OSError, RuntimeError) as error:
        raise fail(error) from None
    try:
        urls = stack.urls
        typer.echo(f"ready in {time.monotonic() - started:.1f} s")
        typer.echo(f"  dashboard          {urls.dashboard}")
        typer.echo(f"  partner endpoints  {urls.partner}")
        typer.echo(f"  emulator           {urls.emulator}")
        typer.echo("(the partner endpoints' and the emulator's own pages say what they serve)")
        typer.echo(
            f"Sign in to the dashboard as {PARTNER_ADMIN} (operator) or {PARTNER_VIEWER}"
            f" (viewer), password {DEMO_PASSWORD}."
        )
        typer.echo(
            f"Click Install in the dashboard and sign in as {NEWCOMER_USERNAME} /"
            f" {DEMO_PASSWORD} to install into {NEWCOMER_TENANT}."
        )
        typer.echo("Ctrl-C stops all three.")
        while True:
            time.sleep(0.5)
            if stack.dashboard_process is not None and stack.dashboard_process.poll() is not None:
                typer.secho(
                    f"error: the dashboard exited; see {stack.dashboard_log}",
                    err=True,
                    fg=typer.colors.RED,
                )
                raise typer.Exit(code=1)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C / SIGTERM must not cut the shutdown short; it is bounded anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
