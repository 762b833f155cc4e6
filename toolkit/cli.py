"""``sotk``: the toolkit's command line. A thin front end: the work is done in the toolkit."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from toolkit import __version__, keys
from toolkit.errors import KeyFormatError, ToolkitError

if TYPE_CHECKING:
    from toolkit.localstack import LocalStack
    from toolkit.store import Application
    from toolkit.workspace import Workspace

app = typer.Typer(
    name="sotk",
    help="Build, install, provision and operate SuperOffice CRM Online applications.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
emulator_app = typer.Typer(help="The local emulator of SuperOffice Online.", no_args_is_help=True)
key_app = typer.Typer(help="Application keys from the Developer Portal.", no_args_is_help=True)
app_app = typer.Typer(
    help="Registered applications (Developer Portal credentials).", no_args_is_help=True
)
secrets_app = typer.Typer(help="Secrets at rest: rotate and verify.", no_args_is_help=True)
app.add_typer(emulator_app, name="emulator")
app.add_typer(key_app, name="key")
app.add_typer(app_app, name="app")
app.add_typer(secrets_app, name="secrets")

# Who the CLI acts as in audit events.
CLI_ACTOR = "cli"


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


# ------------------------------------------------------------------------------- workspace


def _settings_message(error: ValidationError) -> str:
    lines = ["the settings are not usable:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item.get("loc", ())) or "settings"
        lines.append(f"  SOTK_{field.upper()}: {item.get('msg', 'invalid')}")
    return "\n".join(lines)


@contextmanager
def _workspace() -> Iterator[Workspace]:
    """Open the workspace; settings errors and a wrong key end in a message and exit 1."""
    from toolkit.config import Settings
    from toolkit.workspace import Workspace

    _configure_logging()
    try:
        settings = Settings()
    except ValidationError as error:
        typer.secho(f"error: {_settings_message(error)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    try:
        workspace = Workspace.open(settings)
    except (ToolkitError, OSError) as error:
        raise _fail(error) from None
    with workspace:
        yield workspace


# ------------------------------------------------------------------------------ applications


def _read_client_secret(client_secret: str | None, client_secret_file: Path | None) -> str:
    if client_secret is not None and client_secret_file is not None:
        raise _fail(ValueError("give --client-secret or --client-secret-file, not both"))
    if client_secret_file is not None:
        try:
            return client_secret_file.read_text(encoding="utf-8-sig").strip()
        except OSError as error:
            raise _fail(error) from None
    if client_secret is not None:
        return client_secret
    value: str = typer.prompt("Client secret", hide_input=True)
    return value


@app_app.command("add")
def app_add(  # noqa: PLR0917 - a typer command: one parameter per option
    name: Annotated[str, typer.Argument(help="A name for the application (unique here).")],
    redirect_uri: Annotated[
        str | None,
        typer.Option(help="Registered redirect URL; default {SOTK_PUBLIC_URL}/callback."),
    ] = None,
    environment: Annotated[str, typer.Option(help="sod, qaonline (stage) or online.")] = "sod",
    emulator: Annotated[
        str | None,
        typer.Option(help="Register at this emulator (base URL) instead; it issues the keys."),
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="The Developer Portal client id.")] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(help="The client secret (prefer --client-secret-file or the prompt)."),
    ] = None,
    client_secret_file: Annotated[
        Path | None, typer.Option(help="A file holding the client secret.")
    ] = None,
    private_key: Annotated[
        Path | None, typer.Option(help="The private key file: RSAKeyValue XML or PEM.")
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
) -> None:
    """Register an application: the Developer Portal's credentials, or at the emulator."""
    with _workspace() as ws:
        redirect = redirect_uri or f"{ws.settings.public_url}/callback"
        try:
            if emulator is not None:
                if client_id or client_secret or client_secret_file or private_key:
                    raise _fail(
                        ValueError("--emulator issues its own credentials and key; drop them")
                    )
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
                    actor=CLI_ACTOR,
                )
            else:
                if not client_id:
                    raise _fail(ValueError("--client-id is required (or use --emulator URL)"))
                key_data: bytes | None = None
                if private_key is not None:
                    try:
                        key_data = private_key.read_bytes()
                    except OSError as error:
                        raise _fail(error) from None
                secret = _read_client_secret(client_secret, client_secret_file)
                try:
                    application = ws.applications.register(
                        name=name,
                        environment=environment,
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
                    where = f" (element <{error.element}>)" if error.element else ""
                    raise _fail(
                        KeyFormatError(f"{private_key}{where}: {error}", element=error.element)
                    ) from None
        except ToolkitError as error:
            raise _fail(error) from None
        typer.echo(f"registered {application.name} ({application.kind}, {application.model})")
        _show_application(application)


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
    with _workspace() as ws:
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
    with _workspace() as ws:
        try:
            application = ws.applications.get(name)
            approvals = ws.applications.approvals(application.id)
        except ToolkitError as error:
            raise _fail(error) from None
        _show_application(application)
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


@app.command("install-url")
def install_url(
    application: Annotated[str, typer.Argument(help="The application's name.")],
    tenant: Annotated[str | None, typer.Option(help="Install into this tenant.")] = None,
) -> None:
    """Print the URL that installs an application (open it as a tenant administrator)."""
    with _workspace() as ws:
        try:
            typer.echo(ws.install_url(application, tenant=tenant))
        except ToolkitError as error:
            raise _fail(error) from None


@app.command("serve")
def serve_endpoints(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8000,
) -> None:
    """Run the partner endpoints (/install, /callback, /healthz) until Ctrl-C."""
    from toolkit.web import serve

    with _workspace() as ws:
        typer.echo(
            f"partner endpoints on http://{host}:{port} (public URL {ws.settings.public_url})"
        )
        typer.echo("  /install?app=NAME[&tenant=CustNNNNN]   /callback   /healthz")
        try:
            serve(ws, host=host, port=port)
        except OSError as error:
            raise _fail(error) from None


# ------------------------------------------------------------------------ dashboard and run


@app.command("dashboard")
def dashboard(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8501,
) -> None:
    """Run the Streamlit dashboard on 127.0.0.1 until Ctrl-C (settings from SOTK_* / .env)."""
    import subprocess

    from toolkit.localstack import DASHBOARD_APP, dashboard_command

    if not DASHBOARD_APP.is_file():
        raise _fail(FileNotFoundError(f"no dashboard at {DASHBOARD_APP}; run from a checkout"))
    typer.echo(f"dashboard on http://127.0.0.1:{port} (Ctrl-C stops)")
    process = subprocess.Popen(dashboard_command(port))  # noqa: S603 - our interpreter, our args
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal's Ctrl-C reached Streamlit too (same process group); let it finish.
        code = process.wait()
    raise typer.Exit(code=0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code)


@app.command("run")
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

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

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
    from toolkit.localstack import DEMO_PASSWORD, NEWCOMER_TENANT, NEWCOMER_USERNAME

    typer.echo(f"starting the local stack (home {stack.home})")
    started = time.monotonic()
    try:
        stack.start()
    except KeyboardInterrupt:
        typer.echo("interrupted")
        raise typer.Exit(code=130) from None
    except (ToolkitError, OSError, RuntimeError) as error:
        raise _fail(error) from None
    try:
        urls = stack.urls
        typer.echo(f"ready in {time.monotonic() - started:.1f} s")
        typer.echo(f"  dashboard          {urls.dashboard}")
        typer.echo(f"  partner endpoints  {urls.partner}")
        typer.echo(f"  emulator           {urls.emulator}")
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


# ----------------------------------------------------------------------------------- secrets


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the current key (safe to run again)."""
    with _workspace() as ws:

        def progress(table: str, count: int) -> None:
            typer.echo(f"  {table}: {count} value(s) re-encrypted")

        try:
            report = ws.repository.rotate_secrets(on_batch=progress)
        except ToolkitError as error:
            raise _fail(error) from None
        typer.echo(
            f"rotated {report.rotated} value(s) to key {report.current_kid!r} "
            f"in {report.batches} batch(es); {report.unreadable} unreadable"
        )
        if report.unreadable:
            typer.echo("run `sotk secrets verify` to list the unreadable values", err=True)
            raise typer.Exit(code=1)


@secrets_app.command("verify")
def secrets_verify() -> None:
    """Check that every stored secret decrypts; list those that do not (exit 1)."""
    with _workspace() as ws:
        try:
            unreadable = ws.repository.verify_secrets()
        except ToolkitError as error:
            raise _fail(error) from None
        if not unreadable:
            typer.echo("every stored secret is readable")
            return
        typer.echo(f"{len(unreadable)} stored secret(s) cannot be read:", err=True)
        for item in unreadable:
            typer.echo(
                f"  {item.table}.{item.column} row {item.row_id} (key {item.kid or '-'}): "
                f"{item.reason}",
                err=True,
            )
        raise typer.Exit(code=1)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
