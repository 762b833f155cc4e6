"""``sotk ticket``: a tenant's system user ticket, through the ticket manager (cache first).

Prints the ticket's validity, never the ticket itself unless ``--show`` asks for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from toolkit.cli.common import CLI_ACTOR, fail, workspace
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    NeedsReapprovalError,
    ToolkitError,
)
from toolkit.naming import check_context_identifier, resolve_installation

if TYPE_CHECKING:
    from toolkit.store import Application, Authorization
    from toolkit.workspace import Workspace

# How the validity lines describe the window (protocol §4.7).
WINDOW_NOTE = "sliding: 6 h from the last use"


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.isoformat(timespec="seconds")


def _choose(
    ws: Workspace, context_identifier: str, application: str | None
) -> tuple[Application, Authorization]:
    """The application and its record in the tenant; without ``--app``, the only one there.

    The tenant is checked locally first (``Cust`` + digits, any case), the application named by
    name or id; an application that is not installed there is NotInstalledError."""
    context_identifier = check_context_identifier(context_identifier)
    if application is not None:
        return resolve_installation(ws.repository, application, context_identifier, active=False)
    wanted = context_identifier.casefold()
    records = [
        record
        for record in ws.repository.list_authorizations()
        if record.context_identifier.casefold() == wanted
    ]
    names = {app.id: app for app in ws.applications.list()}
    if not records:
        raise fail(ValueError(f"no application is authorized in {context_identifier}"))
    if len(records) > 1:
        listed = ", ".join(
            f"{names[r.application_id].name} ({r.status})"
            for r in records
            if r.application_id in names
        )
        raise fail(
            ValueError(
                f"{len(records)} applications are authorized in {context_identifier}: "
                f"{listed}; choose one with --app NAME"
            )
        )
    return names[records[0].application_id], records[0]


def _refusal(error: ToolkitError, app: Application, context_identifier: str) -> Exception:
    """The toolkit's message, plus what the operator can do about it."""
    reconsent = (
        f"the authorization of {app.name} in {context_identifier} needs re-approval by a "
        "tenant administrator (install the application again)"
    )
    if isinstance(error, AuthorizationRevokedError | NeedsReapprovalError):
        return ValueError(f"{error}; {reconsent}")
    if isinstance(error, AuthorizationNotActiveError) and error.status == "needs_reconsent":
        return ValueError(f"{error}; {reconsent}")
    return error


def ticket(
    context_identifier: Annotated[str, typer.Argument(help="The tenant (CustNNNNN).")],
    app: Annotated[
        str | None,
        typer.Option(
            "--app", help="The application; optional when only one is authorized in the tenant."
        ),
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Print the ticket itself (it is a credential).")
    ] = False,
    renew: Annotated[
        bool,
        typer.Option("--renew", help="Exchange a new ticket now, even if a fresh one is held."),
    ] = False,
    soap: Annotated[
        bool, typer.Option("--soap", help="Exchange over SOAP instead of REST, if exchanging.")
    ] = False,
) -> None:
    """A tenant's system user ticket: cached, or exchanged once; prints its validity."""
    with workspace() as ws:
        try:
            application, record = _choose(ws, context_identifier, app)
        except ToolkitError as error:
            raise fail(error) from None
        ctx = record.context_identifier
        manager = ws.tenants.tickets
        transport: Literal["rest", "soap"] = "soap" if soap else "rest"
        try:
            before = manager.ticket_status(application.id, ctx)
            exchanges = manager.exchange_count
            if renew:
                got = manager.renew(application.id, ctx, transport=transport, actor=CLI_ACTOR)
            else:
                got = manager.ticket(application.id, ctx, transport=transport)
        except ToolkitError as error:
            raise fail(_refusal(error, application, ctx)) from None
        if manager.exchange_count > exchanges:
            source = f"new exchange ({transport.upper()})"
        else:
            source = before.held or "store"
        rows = [
            ("application", application.name),
            ("tenant", got.context_identifier),
            ("obtained at", _when(got.obtained_at)),
            ("last used", _when(got.last_used_at)),
            ("valid until", f"{_when(got.valid_until)} ({WINDOW_NOTE})"),
            ("source", source),
            ("webapi_url", got.webapi_url or "-"),
            ("netserver_url", got.netserver_url or "-"),
            ("ticket", got.ticket if show else "hidden (use --show to print it)"),
        ]
        for label, value in rows:
            typer.echo(f"  {label:<14} {value}")
