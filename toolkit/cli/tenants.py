"""``sotk tenants``: where tenants live and whether they run (the state API), and their webhooks.

::

    sotk tenants status Cust12345            # every application authorized in the tenant
    sotk tenants status --all --app "Acme Sync" --refresh
    sotk tenants history Cust12345

``status`` prints tenant, application, state, running, endpoint, valid until and where the answer
came from. An answer stored earlier is reused while its ``ValidUntil`` ("when to check next
time", protocol §6) is ahead, so a tenant in maintenance is not asked again before then;
``--refresh`` asks the state API anyway. Every fresh answer is stored as the tenant's last known
state (``record_status``). Exit code: 0 when every tenant is running, 2 when some are not, 1 on
errors (a state API that cannot be asked, an unknown application or tenant).

``history`` prints the state-change webhooks received for a tenant, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.cli.common import CLI_ACTOR, fail, workspace
from toolkit.errors import ToolkitError
from toolkit.naming import check_context_identifier

if TYPE_CHECKING:
    from toolkit.store import Application, Authorization
    from toolkit.tenant import TenantStatus
    from toolkit.workspace import Workspace

tenants_app = typer.Typer(
    help="Tenants: state and routing (the state API), state-change webhook history.",
    no_args_is_help=True,
)

# The exit code when every tenant answered but some are not running.
EXIT_NOT_RUNNING = 2
# Column widths are capped so a long endpoint or error does not push the table off the screen.
MAX_CELL = 80
# Webhooks listed by ``history`` unless --limit says otherwise: a screenful, newest first.
DEFAULT_HISTORY_LIMIT = 50

STATUS_COLUMNS = ("TENANT", "APPLICATION", "STATE", "RUNNING", "ENDPOINT", "VALID UNTIL", "SOURCE")
HISTORY_COLUMNS = (
    "RECEIVED AT",
    "APPLICATION",
    "CHANGE",
    "VERSION",
    "PUBLIC ENDPOINT",
    "OUTCOME",
    "REASON",
)

AppOption = Annotated[
    str | None, typer.Option("--app", help="Only this application's authorizations.")
]


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


def _cell(value: str) -> str:
    return value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    for row in [list(columns), *cells]:
        typer.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))


def _records(
    ws: Workspace, context_identifier: str | None, all_tenants: bool, application: str | None
) -> list[tuple[Application, Authorization]]:
    """(application, record) pairs from CTX / --all and --app, by tenant then application."""
    if (context_identifier is None) == (not all_tenants):
        raise fail(ValueError("give a tenant (CTX) or --all (one of them)"))
    if context_identifier is not None:  # Cust + digits, checked before any lookup
        context_identifier = check_context_identifier(context_identifier)
    app = ws.applications.get(application) if application is not None else None
    names = {a.id: a for a in ws.applications.list()}
    records = ws.repository.list_authorizations(app.id if app is not None else None)
    if context_identifier is not None:
        wanted = context_identifier.strip().casefold()
        records = [r for r in records if r.context_identifier.casefold() == wanted]
    pairs = [(names[r.application_id], r) for r in records if r.application_id in names]
    if not pairs:
        where = f"in {context_identifier}" if context_identifier is not None else "at all"
        named = f"{app.name} is not" if app is not None else "no application is"
        raise fail(ValueError(f"{named} authorized {where}"))
    pairs.sort(key=lambda pair: (pair[1].context_identifier.casefold(), pair[0].name.casefold()))
    return pairs


def _status_of(
    ws: Workspace, application: Application, context_identifier: str, refresh: bool
) -> tuple[TenantStatus, str]:
    """The tenant's status and where it came from: the store (while valid) or the state API."""
    if not refresh:
        stored = ws.tenant_events.stored_status(application.id, context_identifier)
        if stored is not None:
            return stored, "stored"
    status = ws.tenants.status(application.id, context_identifier, refresh=refresh)
    ws.tenant_events.record_status(application.id, status, actor=CLI_ACTOR)
    return status, "state API"


@tenants_app.command("status")
def status(
    context_identifier: Annotated[
        str | None,
        typer.Argument(help="The tenant (CustNNNNN); or --all.", show_default=False),
    ] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Every authorization (of --app, if given).")
    ] = False,
    app: AppOption = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh", help="Ask the state API even when a stored answer is still valid."
        ),
    ] = False,
) -> None:
    """Tenant state and routing from the state API: exit 0 all running, 2 some not, 1 errors."""
    with workspace() as ws:
        try:
            pairs = _records(ws, context_identifier, all_tenants, app)
        except ToolkitError as error:
            raise fail(error) from None
        rows: list[tuple[str, ...]] = []
        errors = not_running = 0
        for application, record in pairs:
            ctx = record.context_identifier
            try:
                answer, source = _status_of(ws, application, ctx, refresh)
            except ToolkitError as error:
                errors += 1
                rows.append((ctx, application.name, "error", "-", f"{error}", "-", "-"))
                continue
            running = answer.is_available
            not_running += 0 if running else 1
            rows.append(
                (
                    answer.context_identifier,
                    application.name,
                    answer.state_name or answer.state.name,
                    "yes" if running else "no",
                    answer.endpoint or "-",
                    _when(answer.valid_until),
                    source,
                )
            )
        _print_table(STATUS_COLUMNS, rows)
        if errors:
            typer.secho(
                f"error: {errors} of {len(rows)} could not be asked", err=True, fg=typer.colors.RED
            )
            raise typer.Exit(code=1)
        if not_running:
            typer.secho(
                f"{not_running} of {len(rows)} not running", err=True, fg=typer.colors.YELLOW
            )
            raise typer.Exit(code=EXIT_NOT_RUNNING)


@tenants_app.command("history")
def history(
    context_identifier: Annotated[str, typer.Argument(help="The tenant (CustNNNNN).")],
    app: AppOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="How many webhooks, newest first.")
    ] = DEFAULT_HISTORY_LIMIT,
) -> None:
    """The state-change webhooks received for a tenant (from the store), newest first."""
    with workspace() as ws:
        try:
            changes = ws.tenant_events.history(
                application=app, context_identifier=context_identifier.strip(), limit=limit
            )
        except ToolkitError as error:
            raise fail(error) from None
        if not changes:
            typer.echo(f"no state-change webhooks received for {context_identifier.strip()}")
            return
        _print_table(
            HISTORY_COLUMNS,
            [
                (
                    _when(change.received_at),
                    change.application or change.application_id,
                    change.change_type or "-",
                    change.version_name or "-",
                    change.public_endpoint or "-",
                    change.outcome.value,
                    change.reason or "-",
                )
                for change in changes
            ],
        )
