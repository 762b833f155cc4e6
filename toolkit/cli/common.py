"""What every ``sotk`` command shares: logging, failing with a message, opening the workspace."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from toolkit.errors import ToolkitError
from toolkit.text import printable

if TYPE_CHECKING:
    from toolkit.workspace import Workspace


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "cli:unknown"


# Who the CLI acts as in audit events: "cli:{the operating system user}".
CLI_ACTOR = _cli_actor()


# How much the libraries (alembic, uvicorn, the toolkit's own loggers) may say: by default
# warnings and errors only, so a command's output is its own; `sotk -v` adds INFO, `-vv` DEBUG.
# Library code configures no handlers (DESIGN.md); the CLI does, here.
_VERBOSITY_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)


class _LogOptions:
    verbosity = 0  # set once per process by the `sotk` callback, before any command runs


def set_verbosity(count: int) -> None:
    """The number of ``-v`` given to ``sotk`` (0 = quiet libraries)."""
    _LogOptions.verbosity = max(0, count)


def log_level() -> int:
    return _VERBOSITY_LEVELS[min(_LogOptions.verbosity, len(_VERBOSITY_LEVELS) - 1)]


def configure_logging() -> None:
    level = log_level()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when a handler was already there
    # httpx logs full URLs at INFO, authorization codes included: never below WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def fail(error: Exception) -> typer.Exit:
    # printable(): a hostile name or path in the message cannot drive the terminal (ESC, CR, bidi).
    typer.secho(f"error: {printable(str(error))}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def settings_message(error: ValidationError) -> str:
    lines = ["the settings are not usable:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item.get("loc", ())) or "settings"
        lines.append(f"  SOTK_{field.upper()}: {item.get('msg', 'invalid')}")
    return "\n".join(lines)


@contextmanager
def workspace() -> Iterator[Workspace]:
    """Open the workspace; settings errors and a wrong key end in a message and exit 1."""
    from toolkit.config import Settings
    from toolkit.workspace import Workspace

    configure_logging()
    try:
        settings = Settings()
    except ValidationError as error:
        typer.secho(f"error: {settings_message(error)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    except ToolkitError as error:  # a .env that is not a regular, bounded file
        raise fail(error) from None
    try:
        opened = Workspace.open(settings)
    except (ToolkitError, OSError) as error:
        raise fail(error) from None
    with opened:
        yield opened
