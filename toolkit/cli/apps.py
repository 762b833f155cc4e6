"""``sotk app`` and ``sotk install-url``: registered applications and installing them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.cli.common import CLI_ACTOR, fail, workspace
from toolkit.errors import KeyFormatError, ToolkitError
from toolkit.files import MAX_SECRET_FILE_BYTES, read_limited, read_limited_text

if TYPE_CHECKING:
    from toolkit.store import Application

app_app = typer.Typer(
    help="Registered applications (Developer Portal credentials).", no_args_is_help=True
)


def _read_client_secret(client_secret: str | None, client_secret_file: Path | None) -> str:
    if client_secret is not None and client_secret_file is not None:
        raise fail(ValueError("give --client-secret or --client-secret-file, not both"))
    if client_secret_file is not None:
        try:
            text = read_limited_text(
                client_secret_file, limit=MAX_SECRET_FILE_BYTES, what="client secret file"
            )
            return text.strip()
        except OSError as error:  # InputFileError: not a regular file, too large, unreadable
            raise fail(error) from None
    if client_secret is not None:
        return client_secret
    value: str = typer.prompt("Client secret", hide_input=True)
    return value


# A private key file is a few KB (a 16384-bit RSAKeyValue XML is about 12 KB); reading stops
# beyond this, so a wrong path (a device, a large file) cannot exhaust memory.
MAX_KEY_FILE_BYTES = 64 * 1024
EMULATOR_ENVIRONMENT = "emulator"


def _read_key_file(path: Path) -> bytes:
    try:  # a regular file only (a FIFO would hang a plain open), at most MAX_KEY_FILE_BYTES
        return read_limited(path, limit=MAX_KEY_FILE_BYTES, what="key file")
    except OSError as error:  # InputFileError: not a regular file, too large, unreadable
        raise fail(error) from None


def _key_error(path: Path | None, error: KeyFormatError) -> typer.Exit:
    where = f" (element <{error.element}>)" if error.element else ""
    return fail(KeyFormatError(f"{path}{where}: {error}", element=error.element))


@app_app.command("add")
def app_add(  # noqa: PLR0917 - a typer command: one parameter per option
    name: Annotated[str, typer.Argument(help="A name for the application (unique here).")],
    redirect_uri: Annotated[
        str | None,
        typer.Option(help="Registered redirect URL; default {SOTK_PUBLIC_URL}/callback."),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            help="sod (default), qaonline (stage) or online: where the Developer Portal"
            " registered the application. For the emulator use --emulator URL."
        ),
    ] = None,
    emulator: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Register the application at the emulator at this base URL instead, as the"
            " Developer Portal would: it issues the client id and secret (and a key pair unless"
            " --private-key gives yours).",
        ),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="The Developer Portal client id (not with --emulator).")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(help="The client secret (prefer --client-secret-file or the prompt)."),
    ] = None,
    client_secret_file: Annotated[
        Path | None, typer.Option(help="A file holding the client secret.")
    ] = None,
    private_key: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Your private key file, RSAKeyValue XML or PEM. With --emulator only its"
            " public half is sent, so the emulator checks the key you use in production.",
        ),
    ] = None,
    kind: Annotated[str, typer.Option(help="standard or custom.")] = "standard",
    model: Annotated[str, typer.Option(help="internal, external or hybrid.")] = "internal",
    tenant: Annotated[
        str | None, typer.Option(help="A custom application's tenant (CustNNNNN).")
    ] = None,
    vendor: Annotated[str, typer.Option(help="Emulator only: vendor on the consent page.")] = "",
    consent_text: Annotated[
        str, typer.Option(help="Emulator only: the consent page's Authorize text.")
    ] = "",
    system_token: Annotated[
        bool, typer.Option(help="Emulator only: grant the SystemToken claim.")
    ] = True,
    state_change: Annotated[
        bool,
        typer.Option(
            help="Emulator only: register {SOTK_PUBLIC_URL}/state-change/{client id} as the"
            " application's Customer state change URL, so notifications reach these endpoints.",
        ),
    ] = True,
) -> None:
    """Register an application: the Developer Portal's credentials, or at the emulator."""
    if emulator is not None:
        if client_id or client_secret or client_secret_file:
            raise typer.BadParameter(
                "the emulator issues the client id and secret: drop --client-id,"
                " --client-secret and --client-secret-file (--private-key brings your own key)",
                param_hint="--emulator",
            )
        if environment is not None and environment.strip().lower() != EMULATOR_ENVIRONMENT:
            raise typer.BadParameter(
                f"--emulator registers at the emulator, not in {environment}",
                param_hint="--environment",
            )
    elif environment is not None and environment.strip().lower() == EMULATOR_ENVIRONMENT:
        raise typer.BadParameter(
            "give the emulator's base URL with --emulator URL", param_hint="--environment"
        )
    key_data = _read_key_file(private_key) if private_key is not None else None
    with workspace() as ws:
        redirect = redirect_uri or ws.callback_url()  # SOTK_PUBLIC_URL + SOTK_PARTNER_PREFIX
        try:
            if emulator is not None:
                application = ws.applications.register_with_emulator(
                    name=name,
                    emulator_url=emulator,
                    redirect_uri=redirect,
                    kind=kind,
                    model=model,
                    tenant=tenant,
                    grant_system_token=system_token,
                    vendor=vendor,
                    consent_text=consent_text,
                    private_key=key_data,
                    public_url=(ws.settings.public_url + ws.settings.partner_prefix)
                    if state_change
                    else None,
                    actor=CLI_ACTOR,
                )
            else:
                if not client_id:
                    raise typer.BadParameter(
                        "give the Developer Portal's client id (or --emulator URL)",
                        param_hint="--client-id",
                    )
                secret = _read_client_secret(client_secret, client_secret_file)
                application = ws.applications.register(
                    name=name,
                    environment=environment or "sod",
                    client_id=client_id,
                    client_secret=secret,
                    redirect_uri=redirect,
                    kind=kind,
                    model=model,
                    private_key=key_data,
                    tenant=tenant,
                    actor=CLI_ACTOR,
                )
        except KeyFormatError as error:
            raise _key_error(private_key, error) from None
        except ToolkitError as error:
            raise fail(error) from None
        typer.echo(f"registered {application.name} ({application.kind}, {application.model})")
        _show_application(application)
        if emulator is not None and state_change:
            typer.echo(f"  {'state change':<14} {ws.state_change_url(application.id)}")


def _show_application(application: Application) -> None:
    rows = [
        ("name", application.name),
        ("kind", application.kind),
        ("model", application.model),
        ("environment", application.environment_url or application.environment),
        ("client id", application.client_id),
        ("client secret", "stored (encrypted)"),
        ("private key", application.key_fingerprint or "none"),
        ("redirect URL", application.redirect_uri or "-"),
    ]
    if application.tenant:
        rows.append(("tenant", application.tenant))
    for label, value in rows:
        typer.echo(f"  {label:<14} {value}")


@app_app.command("list")
def app_list() -> None:
    """The registered applications and how many tenants approved each."""
    with workspace() as ws:
        applications = ws.applications.list()
        if not applications:
            typer.echo("no applications registered; add one with: sotk app add NAME ...")
            return
        typer.echo(f"{'NAME':<28} {'KIND':<9} {'MODEL':<9} {'ENVIRONMENT':<12} {'TENANTS':>7}")
        for application in applications:
            approved = len(ws.applications.approvals(application.id))
            typer.echo(
                f"{application.name:<28} {application.kind:<9} {application.model:<9} "
                f"{application.environment:<12} {approved:>7}"
            )


@app_app.command("show")
def app_show(name: Annotated[str, typer.Argument(help="The application's name.")]) -> None:
    """One application: credentials' metadata (never a secret) and the tenants that approved it."""
    with workspace() as ws:
        try:
            application = ws.applications.get(name)
            approvals = ws.applications.approvals(application.id)
        except ToolkitError as error:
            raise fail(error) from None
        _show_application(application)
        # The "Customer state change" URL to register for it (one per application).
        typer.echo(f"  {'state change':<14} {ws.state_change_url(application.id)}")
        if not approvals:
            typer.echo("  approved by    no tenant yet")
            return
        typer.echo("  approvals:")
        for record in approvals:
            approved_at = record.approved_at.isoformat() if record.approved_at else "-"
            token = "yes" if record.has_system_user_token else "no"
            typer.echo(
                f"    {record.context_identifier:<12} {record.company_name or '-'} | "
                f"approved by {record.approved_by or '-'} at {approved_at} | "
                f"{record.status} | system user token: {token}"
            )


def install_url(
    application: Annotated[str, typer.Argument(help="The application's name.")],
    tenant: Annotated[str | None, typer.Option(help="Install into this tenant.")] = None,
) -> None:
    """Print the URL that installs an application (open it as a tenant administrator)."""
    with workspace() as ws:
        try:
            typer.echo(ws.install_url(application, tenant=tenant))
        except ToolkitError as error:
            raise fail(error) from None
