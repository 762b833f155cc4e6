"""``sotk``: the toolkit's command line. A thin front end: the work is done in the toolkit."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from toolkit import __version__
from toolkit.cli.apps import app_app, install_url
from toolkit.cli.common import set_verbosity
from toolkit.cli.doctor import doctor
from toolkit.cli.emulator import emulator_app
from toolkit.cli.jobs import jobs_app
from toolkit.cli.keys import key_app
from toolkit.cli.provision import provision_app
from toolkit.cli.secrets import secrets_app
from toolkit.cli.servers import dashboard, run_stack, serve_endpoints
from toolkit.cli.tenants import tenants_app
from toolkit.cli.ticket import ticket
from toolkit.cli.worker import worker

app = typer.Typer(
    name="sotk",
    help="Build, install, provision and operate SuperOffice CRM Online applications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def options(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Show the libraries' log lines too (migrations, servers): -v INFO, -vv DEBUG.",
        ),
    ] = 0,
) -> None:
    """Build, install, provision and operate SuperOffice CRM Online applications."""
    set_verbosity(verbose)


@app.command()
def version() -> None:
    """Print the toolkit's version."""
    typer.echo(__version__)


app.command("install-url")(install_url)
app.command("serve")(serve_endpoints)
app.command("dashboard")(dashboard)
app.command("run")(run_stack)
app.command("ticket")(ticket)
app.command("doctor")(doctor)
app.command("worker")(worker)
app.add_typer(emulator_app, name="emulator")
app.add_typer(key_app, name="key")
app.add_typer(app_app, name="app")
app.add_typer(secrets_app, name="secrets")
app.add_typer(provision_app, name="provision")
app.add_typer(tenants_app, name="tenants")
app.add_typer(jobs_app, name="jobs")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
