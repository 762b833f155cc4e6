"""``sotk emulator``: run the local emulator of SuperOffice Online."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.cli.common import configure_logging, fail
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    pass

emulator_app = typer.Typer(help="The local emulator of SuperOffice Online.", no_args_is_help=True)


@emulator_app.command("serve")
def emulator_serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 8765,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    seed: Annotated[
        Path | None, typer.Option(help="World JSON to start from instead of the default.")
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="World JSON to load if present and save on every change.")
    ] = None,
) -> None:
    """Run the emulator until Ctrl-C and print its URLs."""
    from toolkit.emulator import Emulator

    configure_logging()
    try:
        emulator = Emulator(port=port, host=host, seed=seed, state_file=state).start()
    except (ToolkitError, OSError, ValueError) as error:
        raise fail(error) from error
    base = emulator.base_url
    typer.echo(f"SuperOffice Online emulator running at {base}")
    typer.echo(f"  issuer          {base}")
    typer.echo(f"  discovery       {base}/login/.well-known/openid-configuration")
    typer.echo(f"  jwks            {base}/login/.well-known/jwks")
    typer.echo(f"  state API       {base}/api/state/{{ctx}}")
    for name, url in emulator.host_urls.items():
        typer.echo(f"  tenant host     {name:<8}{url}")
    typer.echo(f"  control plane   {base}/__emulator__/state")
    typer.echo("Seeded users sign in with the password 'superid-demo'. Ctrl-C stops.")
    stop = threading.Event()
    # Both set explicitly: a shell starts background jobs with SIGINT ignored.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
