"""``sotk``: the toolkit's command line. A thin front end: the work is done in the toolkit."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from toolkit import __version__, keys
from toolkit.errors import ToolkitError

app = typer.Typer(
    name="sotk",
    help="Build, install, provision and operate SuperOffice CRM Online applications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
emulator_app = typer.Typer(help="The local emulator of SuperOffice Online.", no_args_is_help=True)
key_app = typer.Typer(help="Application keys from the Developer Portal.", no_args_is_help=True)
app.add_typer(emulator_app, name="emulator")
app.add_typer(key_app, name="key")


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs full URLs at INFO, authorization codes included.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _fail(error: Exception) -> typer.Exit:
    typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


@app.command()
def version() -> None:
    """Print the toolkit's version."""
    typer.echo(__version__)


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

    _configure_logging()
    try:
        emulator = Emulator(port=port, host=host, seed=seed, state_file=state).start()
    except (ToolkitError, OSError, ValueError) as error:
        raise _fail(error) from error
    base = emulator.base_url
    typer.echo(f"SuperOffice Online emulator running at {base}")
    typer.echo(f"  issuer          {base}")
    typer.echo(f"  discovery       {base}/login/.well-known/openid-configuration")
    typer.echo(f"  jwks            {base}/login/.well-known/jwks")
    typer.echo(f"  control plane   {base}/__emulator__/state")
    typer.echo("Seeded users sign in with the password 'superid-demo'. Ctrl-C stops.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


@key_app.command("convert")
def key_convert(
    source: Annotated[Path, typer.Argument(help="RSAKeyValue XML (or PEM) private key file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the PEM file.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Convert a Developer Portal RSAKeyValue XML key to PEM (written with mode 0600)."""
    try:
        private_key = keys.load_private_key_file(source)
    except ToolkitError as error:
        raise _fail(error) from error
    if out.exists() and not force:
        raise _fail(FileExistsError(f"{out} exists; pass --force to overwrite"))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(keys.private_key_to_pem(private_key))
    os.chmod(out, 0o600)
    typer.echo(f"wrote {out} (key {keys.key_fingerprint(private_key)})")


@key_app.command("inspect")
def key_inspect(
    source: Annotated[Path, typer.Argument(help="RSAKeyValue XML or PEM private key file.")],
) -> None:
    """Check a private key and print its size and fingerprint, never the key itself."""
    try:
        private_key = keys.load_private_key_file(source)
    except ToolkitError as error:
        raise _fail(error) from error
    typer.echo(f"RSA {private_key.key_size} bits, fingerprint {keys.key_fingerprint(private_key)}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
