"""``sotk key``: the application keys the Developer Portal issues."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit import keys
from toolkit.cli.common import fail
from toolkit.errors import ToolkitError
from toolkit.text import printable

if TYPE_CHECKING:
    pass

key_app = typer.Typer(help="Application keys from the Developer Portal.", no_args_is_help=True)


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
        raise fail(error) from error
    try:
        _write_private(out, keys.private_key_to_pem(private_key), force=force)
    except (OSError, ValueError) as error:  # ValueError: NUL in the path
        raise fail(error) from None
    typer.echo(f"wrote {printable(str(out))} (key {keys.key_fingerprint(private_key)})")


def _write_private(out: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``out`` (mode 0600) whole or not at all: a temporary file beside it,
    then renamed over it; without ``force`` an existing ``out`` is never replaced."""
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite")
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, out)
        else:
            os.link(temporary, out)  # fails if out appeared meanwhile
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@key_app.command("inspect")
def key_inspect(
    source: Annotated[Path, typer.Argument(help="RSAKeyValue XML or PEM private key file.")],
) -> None:
    """Check a private key and print its size and fingerprint, never the key itself."""
    try:
        private_key = keys.load_private_key_file(source)
    except ToolkitError as error:
        raise fail(error) from error
    typer.echo(f"RSA {private_key.key_size} bits, fingerprint {keys.key_fingerprint(private_key)}")
