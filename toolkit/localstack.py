"""The whole local stack on loopback: emulator, partner endpoints and dashboard (``make run``).

:class:`LocalStack` starts, in this order and on ``127.0.0.1`` only:

1. the **emulator** of SuperOffice Online, its world kept in ``{home}/emulator-world.json`` so the
   applications registered in an earlier run (whose credentials the store holds) stay valid;
2. the toolkit's :class:`~toolkit.workspace.Workspace` pointing at that emulator, and the
   **partner endpoints** (``/install``, ``/callback``, ``/healthz``) at ``public_url``, and one
   **job worker** (the durable engine's executor, :mod:`toolkit.jobs`) in this process, so
   fleet jobs and install-time provisioning run without a separate ``sotk worker``;
3. the **dashboard** (``streamlit run dashboard/app.py``) as a subprocess, with the ``SOTK_*``
   environment pointing at the same home, emulator and public URL; its output goes to
   ``{home}/dashboard.log``. Operators sign in to it through the emulator's SuperID with an
   identity that belongs to the **partner**, never to a customer: the emulator's world gets the
   partner's own tenant (:data:`PARTNER_TENANT`, "Demo Partner AS") and staff
   (:data:`PARTNER_STAFF`), and an "Operator Dashboard" application is registered as a custom
   application of that tenant and activated there (redirect
   ``http://127.0.0.1:{port}/oauth2callback``). So no SuperID consent page ever appears for
   it: the partner's staff get through without one, and a customer's administrator is refused
   by SuperID (the application is not activated for their tenant) before any consent, as a
   partner account off the allow-list is refused by the dashboard. Its ``[auth]`` secrets are
   written to ``{home}/dashboard-secrets.toml`` (mode 0600, kept across runs while the port
   stays the same) and ``SOTK_OPERATORS`` allow-lists ``ops@partner.test`` as operator and
   ``viewer@partner.test`` as viewer (:data:`DEMO_OPERATORS`); ``staff@partner.test`` is staff
   but not on the allow-list.

On the first run it **seeds** a demo world: a standard application and a custom one, registered
at the emulator the way a partner uses the Developer Portal (each with its own "Customer state
change" URL at the partner endpoints, ``/state-change/{client_id}``, so a tenant suspended,
moved or deleted through the emulator's control plane notifies them), and installed into a
tenant each through the real flow (``/install``'s authorize URL → the emulator's SuperID login
and consent forms, driven headless → the form_post to the partner's ``/callback``).
``Cust34567`` is left for the newcomer to install by clicking Install in the dashboard. A second
run finds all of that in the store and adds nothing.

::

    with LocalStack(Path(".toolkit")) as stack:
        print(stack.urls.dashboard)

Nothing here prints; progress is reported as :class:`StackEvent` values through ``on_event``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import httpx

from toolkit.config import Settings
from toolkit.errors import ConfigurationError, NotFoundError, ToolkitError
from toolkit.files import read_limited_text

if TYPE_CHECKING:
    from toolkit.emulator import Emulator
    from toolkit.jobs.engine import JobEngine
    from toolkit.store import Application
    from toolkit.web import PartnerEndpoints
    from toolkit.workspace import Workspace

__all__ = [
    "DASHBOARD_APP",
    "DASHBOARD_SECRETS",
    "DEMO_APPLICATIONS",
    "DEMO_INSTALLS",
    "DEMO_OPERATORS",
    "DEMO_PASSWORD",
    "NEWCOMER_TENANT",
    "NEWCOMER_USERNAME",
    "PARTNER_ADMIN",
    "PARTNER_OFF_LIST",
    "PARTNER_TENANT",
    "PARTNER_VIEWER",
    "STACK_FILE",
    "DemoApplication",
    "DemoInstall",
    "LocalStack",
    "RunningStack",
    "StackEvent",
    "StackUrls",
    "dashboard_command",
    "read_stack_file",
]

HOST = "127.0.0.1"  # loopback only: the stack holds demo credentials and is not hardened
EMULATOR_STATE_FILE = "emulator-world.json"
# Where a running stack says where it is ({home}/stack.json: URLs, process id), so notebooks
# and other tools find the `make run` world; removed again when the stack stops.
STACK_FILE = "stack.json"
DASHBOARD_LOG = "dashboard.log"
# The in-process job worker's executor id (with the process id: one stack per process).
STACK_WORKER = "make-run"
# The dashboard's Streamlit secrets ([auth] for operator sign-in), generated; never committed.
DASHBOARD_SECRETS = "dashboard-secrets.toml"
# The application operators sign in to the dashboard with, at the emulator's SuperID.
OPERATOR_DASHBOARD_APP = "Operator Dashboard"
# The partner's own SuperOffice tenant in the emulator's world: operators are the partner's
# staff, so the dashboard is a custom application of this tenant, activated there, and no
# customer's administrator is ever asked to approve it [I: the partner's staff identity is a
# SuperID account in the partner's own tenant; an issuer of the partner's own would do as well].
PARTNER_TENANT = "Cust90000"
PARTNER_COMPANY = "Demo Partner AS"
PARTNER_SERIAL = "9000000001"
PARTNER_ADMIN = "ops@partner.test"
PARTNER_VIEWER = "viewer@partner.test"
# Partner staff who are not on the allow-list: signed in by SuperID, refused by the dashboard.
PARTNER_OFF_LIST = "staff@partner.test"
# (username, administrator in the partner tenant, associate id, initials)
PARTNER_STAFF: tuple[tuple[str, bool, int, str], ...] = (
    (PARTNER_ADMIN, True, 5, "OP"),
    (PARTNER_VIEWER, False, 6, "VI"),
    (PARTNER_OFF_LIST, False, 7, "ST"),
)
# OIDC prompt of the dashboard's sign-in: every sign-in shows SuperID's form, so a browser that
# holds a SuperID session (a customer's administrator who just installed) never signs an operator
# in by accident. Streamlit would send prompt=select_account, a value SuperID does not document
# (auth-code-flow.md lists no prompt) and the emulator refuses [I].
OPERATOR_SIGN_IN_PROMPT = "login"
# Kept under their old names: the tenant the Operator Dashboard is activated in, by whom.
OPERATOR_TENANT = PARTNER_TENANT
OPERATOR_TENANT_ADMIN = PARTNER_ADMIN
# The demo allow-list (SOTK_OPERATORS): the partner's administrator and one more staff member.
DEMO_OPERATORS = f"{PARTNER_ADMIN}:operator,{PARTNER_VIEWER}:viewer"
# The Streamlit app; it lives in the checkout next to the toolkit (not in the wheel).
DASHBOARD_APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
DASHBOARD_SERVE = DASHBOARD_APP.parent / "serve.py"

# Waiting for readiness. The emulator and the endpoints are threads here (well under a second);
# Streamlit imports pandas and the toolkit in a fresh interpreter, a few seconds on a laptop.
READY_TIMEOUT = 10.0
DASHBOARD_READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
# How long the dashboard gets to exit after SIGTERM before it is killed.
DASHBOARD_STOP_TIMEOUT = 10.0
# Seeding talks to our own loopback servers; a generous bound for slow CI machines.
SEED_HTTP_TIMEOUT = 15.0

EMULATOR_HEALTH_PATH = "/login/.well-known/openid-configuration"
PARTNER_HEALTH_PATH = "/healthz"
DASHBOARD_HEALTH_PATH = "/_stcore/health"
CALLBACK_PATH = "/callback"

# The emulator's seeded users (toolkit/emulator/seed.py) all use this password.
DEMO_PASSWORD = "superid-demo"
# Left uninstalled by the seed: the newcomer installs into it from the dashboard.
NEWCOMER_TENANT = "Cust34567"
NEWCOMER_USERNAME = "admin@cust34567.test"
# Who the audit trail names for what the seed did.
ACTOR = "localstack"


@dataclass(frozen=True)
class DemoApplication:
    name: str
    kind: str
    model: str
    tenant: str | None = None
    vendor: str = "Demo Partner AS"
    consent_text: str = ""


@dataclass(frozen=True)
class DemoInstall:
    application: str
    tenant: str
    username: str  # a tenant administrator of the emulator's seeded world


DEMO_APPLICATIONS: tuple[DemoApplication, ...] = (
    DemoApplication(
        "Demo Standard App",
        kind="standard",
        model="hybrid",
        consent_text="Demo Standard App syncs your contacts and adds a panel to SuperOffice.",
    ),
    DemoApplication(
        "Demo Custom App",
        kind="custom",
        model="external",
        tenant="Cust23456",
        consent_text="Demo Custom App was made for Nordic Bikes AS.",
    ),
)
DEMO_INSTALLS: tuple[DemoInstall, ...] = (
    DemoInstall("Demo Standard App", "Cust12345", "admin@cust12345.test"),
    DemoInstall("Demo Custom App", "Cust23456", "admin@cust23456.test"),
)


@dataclass(frozen=True)
class StackEvent:
    """Progress of :meth:`LocalStack.start`.

    ``kind`` is one of ``emulator.ready``, ``endpoints.ready``, ``dashboard.starting``,
    ``dashboard.ready``, ``application.registered``, ``application.exists``,
    ``application.updated`` (its state-change URL now points at these endpoints),
    ``application.manifest`` (a new demo application got its model's preset manifest),
    ``tenant.installed``, ``tenant.exists``, ``warning``, ``stopping``, ``stopped``.
    """

    kind: str
    message: str


@dataclass(frozen=True)
class StackUrls:
    emulator: str
    partner: str
    dashboard: str | None  # None when started without the dashboard


@dataclass(frozen=True)
class RunningStack:
    """What ``{home}/stack.json`` says about a stack started from that home."""

    home: Path
    pid: int
    urls: StackUrls
    default_store: bool


def read_stack_file(home: Path) -> RunningStack | None:
    """The stack recorded in ``{home}/stack.json``, or None when there is none or it cannot
    be read; whether that stack still runs is the caller's to check (its URLs answer)."""
    path = home / STACK_FILE
    try:
        raw = json.loads(read_limited_text(path, what="stack file"))
    except (OSError, ValueError, ToolkitError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != 1:
        return None
    emulator, partner, dashboard = raw.get("emulator"), raw.get("partner"), raw.get("dashboard")
    pid = raw.get("pid")
    if not (isinstance(emulator, str) and isinstance(partner, str) and isinstance(pid, int)):
        return None
    return RunningStack(
        home=home,
        pid=pid,
        urls=StackUrls(
            emulator=emulator,
            partner=partner,
            dashboard=dashboard if isinstance(dashboard, str) else None,
        ),
        default_store=raw.get("default_store") is True,
    )


def dashboard_command(port: int, host: str = HOST, secrets: Path | None = None) -> list[str]:
    """The command that runs the dashboard with Streamlit on ``host:port`` (no browser);
    ``secrets`` is the secrets.toml Streamlit reads instead of its ``.streamlit/`` defaults."""
    extra = [] if secrets is None else ["--secrets.files", str(secrets)]
    # dashboard/serve.py is ``streamlit run dashboard/app.py`` with pandas, Altair and the data
    # layer imported at server start, not on an operator's first page view (issue 17).
    return [
        sys.executable,
        str(DASHBOARD_SERVE),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # No "Deploy" button or developer menu: an operator runs this dashboard, nobody deploys
        # it to Streamlit's cloud from here (Streamlit's client.toolbarMode option).
        "--client.toolbarMode",
        "viewer",
        *extra,
    ]


def _prompt_of(auth: Mapping[str, Any]) -> object:
    kwargs = auth.get("client_kwargs")
    return kwargs.get("prompt") if isinstance(kwargs, Mapping) else None


def _free_port() -> int:
    # Bind, read the port, release it. Another process could take it in between; on loopback
    # during development that is rare enough, and the start then fails with a clear error.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _require_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise ConfigurationError(
                f"port {port} on {HOST} is in use, so the {what} cannot listen there;"
                " stop what uses it or choose another port"
            ) from None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LocalStack:
    """Emulator + partner endpoints + dashboard on loopback, with a seeded demo world.

    Ports default to the ones ``make run`` documents; ``0`` picks a free one. ``dashboard=False``
    skips the Streamlit subprocess (tests, notebooks). ``seed_applications`` registers the demo
    applications, ``seed_tenants`` installs them into their demo tenants; both skip what the
    store already holds. Use it as a context manager, or :meth:`start` / :meth:`stop`.

    The settings are ``Settings(home=..., emulator_url=..., public_url=...)``: anything else
    (``SOTK_DATABASE_URL``, ``SOTK_SECRET_KEYS``, timeouts) still comes from ``SOTK_*`` variables
    and ``.env``, and the dashboard is given the same store and key ring.
    """

    def __init__(
        self,
        home: Path,
        *,
        emulator_port: int = 8765,
        partner_port: int = 8000,
        dashboard_port: int = 8501,
        seed_applications: bool = True,
        seed_tenants: bool = True,
        dashboard: bool = True,
        operator_sign_in: bool = True,
        operators: str = DEMO_OPERATORS,
        on_event: Callable[[StackEvent], None] | None = None,
    ) -> None:
        self.home = Path(home).expanduser().resolve()
        self._emulator_port = emulator_port
        self._partner_port = partner_port
        self._dashboard_port = dashboard_port
        self._seed_applications = seed_applications
        self._seed_tenants = seed_tenants
        self._with_dashboard = dashboard
        self._operator_sign_in = operator_sign_in
        self._operators = operators
        self._on_event = on_event
        self.emulator: Emulator | None = None
        self.workspace: Workspace | None = None
        self.endpoints: PartnerEndpoints | None = None
        self.dashboard_process: subprocess.Popen[bytes] | None = None
        self.worker: JobEngine | None = None
        self._dashboard_log: IO[bytes] | None = None
        self._urls: StackUrls | None = None
        # What this start added: application names and (application, tenant) pairs.
        self.registered: list[str] = []
        self.installed: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"LocalStack(home={str(self.home)!r}, urls={self._urls!r})"

    # -- public surface ----------------------------------------------------------------------

    @property
    def urls(self) -> StackUrls:
        if self._urls is None:
            raise RuntimeError("the local stack is not started")
        return self._urls

    @property
    def dashboard_secrets(self) -> Path:
        """The dashboard's generated secrets.toml (``[auth]``), when operators sign in."""
        return self.home / DASHBOARD_SECRETS

    @property
    def dashboard_log(self) -> Path:
        """Where the dashboard subprocess writes its output."""
        return self.home / DASHBOARD_LOG

    def start(self) -> LocalStack:
        """Start everything, seed, and wait until each part answers its health URL.

        Raises :class:`~toolkit.errors.ConfigurationError` when a fixed port is taken, and
        ``RuntimeError`` when a part does not become ready; what was started is stopped again.
        """
        if self.emulator is not None:
            raise RuntimeError("the local stack is already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the dashboard (its own PID: SIGTERM, then SIGKILL), the endpoints, the emulator."""
        running = any(
            part is not None
            for part in (
                self.dashboard_process,
                self.endpoints,
                self.worker,
                self.workspace,
                self.emulator,
            )
        )
        if running:
            self._event("stopping", "stopping the local stack")
        try:
            self._stop_dashboard()
        finally:
            try:
                if self.endpoints is not None:
                    self.endpoints.stop()
            finally:
                self.endpoints = None
                try:
                    if self.worker is not None:
                        self.worker.close()
                    self.worker = None
                    if self.workspace is not None:
                        self.workspace.close()
                finally:
                    self.workspace = None
                    try:
                        if self.emulator is not None:
                            self.emulator.stop()  # also saves its world to the state file
                    finally:
                        self.emulator = None
                        self._urls = None
                        self._remove_stack_file()
        if running:
            self._event("stopped", "the local stack is stopped")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- starting ----------------------------------------------------------------------------

    def _event(self, kind: str, message: str) -> None:
        if self._on_event is not None:
            self._on_event(StackEvent(kind, message))

    def _start(self) -> None:
        from toolkit.emulator import Emulator
        from toolkit.jobs.engine import start_engine
        from toolkit.web import PartnerEndpoints
        from toolkit.workspace import Workspace

        for port, what in (
            (self._emulator_port, "emulator"),
            (self._partner_port, "partner endpoints"),
            (self._dashboard_port if self._with_dashboard else 0, "dashboard"),
        ):
            if port:
                _require_free(port, what)
        self.registered, self.installed = [], []
        self.home.mkdir(parents=True, exist_ok=True)

        self.emulator = Emulator(
            port=self._emulator_port, host=HOST, state_file=self.home / EMULATOR_STATE_FILE
        ).start()
        emulator_url = self.emulator.base_url
        _wait_ready(emulator_url + EMULATOR_HEALTH_PATH, "emulator", READY_TIMEOUT)
        self._event("emulator.ready", f"emulator at {emulator_url}")

        partner_port = self._partner_port or _free_port()
        public_url = f"http://{HOST}:{partner_port}"
        # The seeded world serves the partner endpoints at the root (its own port), whatever
        # SOTK_PARTNER_PREFIX a partner's own app uses.
        settings = Settings(
            home=self.home, emulator_url=emulator_url, public_url=public_url, partner_prefix=""
        )
        self.workspace = Workspace.open(settings)
        # One job engine worker in this process: background work needs no extra command.
        self.worker = start_engine(
            self.workspace,
            executor_id=f"{STACK_WORKER}-{os.getpid()}",
            upkeep=(
                settings.upkeep_state_refresh,
                settings.upkeep_ticket_renewal,
                settings.upkeep_drift_check,
            ),
        )
        self._event("worker.ready", f"job worker {self.worker.executor_id} running")
        self.endpoints = PartnerEndpoints(self.workspace, host=HOST, port=partner_port).start()
        _wait_ready(public_url + PARTNER_HEALTH_PATH, "partner endpoints", READY_TIMEOUT)
        self._event("endpoints.ready", f"partner endpoints at {public_url}")

        # Streamlit takes the longest to boot: let it start while the world is seeded. The
        # store's migrations and key file exist already (the Workspace above made them).
        dashboard_url: str | None = None
        if self._with_dashboard:
            dashboard_url = self._start_dashboard(settings)

        if self._seed_applications:
            self._seed_apps(self.workspace, emulator_url, public_url)
        if self._seed_tenants:
            self._seed_installs(self.workspace, public_url)
        if self._seed_applications:
            self._seed_manifests(self.workspace)

        if dashboard_url is not None:
            self._wait_dashboard(dashboard_url)
            self._event("dashboard.ready", f"dashboard at {dashboard_url}")
        self._urls = StackUrls(emulator=emulator_url, partner=public_url, dashboard=dashboard_url)
        self._write_stack_file(settings)

    @property
    def stack_file(self) -> Path:
        """``{home}/stack.json`` while the stack runs (see :func:`read_stack_file`)."""
        return self.home / STACK_FILE

    def _write_stack_file(self, settings: Settings) -> None:
        urls = self.urls
        record = {
            "version": 1,
            "pid": os.getpid(),
            "emulator": urls.emulator,
            "partner": urls.partner,
            "dashboard": urls.dashboard,
            # Whether the store is the home's own SQLite file and key file, which another
            # process can open by the home alone (no database URL or key ring is written here).
            "default_store": settings.database_url is None and settings.secret_keys is None,
        }
        partial = self.stack_file.with_name(STACK_FILE + ".tmp")
        partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.stack_file)

    def _remove_stack_file(self) -> None:
        running = read_stack_file(self.home)
        if running is not None and running.pid == os.getpid():
            self.stack_file.unlink(missing_ok=True)

    def _dashboard_environment(self, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SOTK_HOME=str(self.home),
            SOTK_EMULATOR_URL=settings.emulator_url or "",
            SOTK_PUBLIC_URL=settings.public_url,
            SOTK_PARTNER_PREFIX=settings.partner_prefix,
            PYTHONUNBUFFERED="1",
        )
        if self._operator_sign_in:
            env.update(
                SOTK_OPERATORS=self._operators,
                SOTK_OPERATOR_ISSUER=settings.emulator_url or "",
                SOTK_DASHBOARD_SECRETS=str(self.dashboard_secrets),
            )
        else:
            for name in ("SOTK_OPERATORS", "SOTK_OPERATOR_ISSUER", "SOTK_DASHBOARD_SECRETS"):
                env.pop(name, None)
        # The same store and key ring as this process, wherever they came from (.env or env).
        if settings.database_url:
            env["SOTK_DATABASE_URL"] = settings.database_url
        if settings.secret_keys is not None:
            env["SOTK_SECRET_KEYS"] = settings.secret_keys.get_secret_value()
        return env

    def _start_dashboard(self, settings: Settings) -> str:
        if not DASHBOARD_APP.is_file():
            raise ConfigurationError(
                f"the dashboard is not here ({DASHBOARD_APP}); run from a checkout of the toolkit"
            )
        port = self._dashboard_port or _free_port()
        url = f"http://{HOST}:{port}"
        secrets_file: Path | None = None
        if self._operator_sign_in:
            secrets_file = self._dashboard_sign_in(url)
        self._dashboard_log = self.dashboard_log.open("wb")
        self.dashboard_process = subprocess.Popen(  # noqa: S603 - our own interpreter and args
            dashboard_command(port, secrets=secrets_file),
            env=self._dashboard_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=self._dashboard_log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only us, and we stop it in order.
            start_new_session=True,
        )
        self._event(
            "dashboard.starting", f"dashboard starting at {url} (log: {self.dashboard_log})"
        )
        return url

    def _dashboard_sign_in(self, dashboard_url: str) -> Path:
        """Register (or reuse) the Operator Dashboard application at the emulator and write
        the dashboard's ``[auth]`` secrets for it (mode 0600). Reused while the emulator's
        world still knows the application and it redirects to this dashboard URL."""
        from toolkit.operators import (
            generate_cookie_secret,
            load_auth_settings,
            read_auth_section,
            secrets_toml,
            write_secrets_file,
        )

        emulator = self.emulator
        assert emulator is not None  # noqa: S101 - started before the dashboard
        self._ensure_partner_staff(emulator)
        redirect = dashboard_url + "/oauth2callback"
        path = self.dashboard_secrets
        existing: Mapping[str, Any] | None = None
        try:
            existing = read_auth_section([path])
            load_auth_settings(existing)
        except ConfigurationError:
            existing = None
        if existing is not None:
            app = emulator.world.find_app(str(existing["client_id"]))
            # A world saved before operators were partner staff has the dashboard as a
            # standard application (a customer's administrator would be asked to approve it).
            if (
                app is not None
                and app.kind == "custom"
                and (app.tenant or "").casefold() == PARTNER_TENANT.casefold()
                and redirect in app.redirect_urls
                and existing.get("redirect_uri") == redirect
                and _prompt_of(existing) == OPERATOR_SIGN_IN_PROMPT
            ):
                return path
        registered = emulator.register_app(
            OPERATOR_DASHBOARD_APP,
            [redirect],
            kind="custom",
            tenant=PARTNER_TENANT,
            grant_system_token=False,
            vendor=PARTNER_COMPANY,
            post_logout_urls=[redirect],
        )
        emulator.activate_app(registered["client_id"], OPERATOR_TENANT, OPERATOR_TENANT_ADMIN)
        text = secrets_toml(
            redirect_uri=redirect,
            cookie_secret=generate_cookie_secret(),
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            server_metadata_url=emulator.base_url + EMULATOR_HEALTH_PATH,
            prompt=OPERATOR_SIGN_IN_PROMPT,
        )
        write_secrets_file(path, text)
        self._event(
            "application.registered",
            f"registered {OPERATOR_DASHBOARD_APP} at the emulator for operator sign-in"
            f" (secrets in {path})",
        )
        return path

    def _ensure_partner_staff(self, emulator: Emulator) -> None:
        """Add the partner's own tenant and staff to the emulator's world when it lacks them
        (a fresh world, or one saved by an earlier version); nothing else is touched."""
        from toolkit.emulator.world import Membership, Tenant, User

        world = emulator.world
        if world.find_tenant(PARTNER_TENANT) is None:
            world.add_tenant(Tenant(PARTNER_TENANT, PARTNER_COMPANY, PARTNER_SERIAL))
        for username, administrator, associate_id, initials in PARTNER_STAFF:
            if world.find_user(username) is None:
                membership = Membership(PARTNER_TENANT, administrator, associate_id, initials)
                world.add_user(User(username, DEMO_PASSWORD, [membership]))

    def _wait_dashboard(self, url: str) -> None:
        process = self.dashboard_process
        assert process is not None  # noqa: S101 - started just before
        deadline = time.monotonic() + DASHBOARD_READY_TIMEOUT
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the dashboard exited with code {process.returncode} before it was"
                        f" ready; the end of {self.dashboard_log}:\n{_tail(self.dashboard_log)}"
                    )
                if _answers(client, url + DASHBOARD_HEALTH_PATH):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the dashboard did not answer {url}{DASHBOARD_HEALTH_PATH} within"
                        f" {DASHBOARD_READY_TIMEOUT:.0f} s; see {self.dashboard_log}"
                    )
                time.sleep(POLL_INTERVAL)

    def _stop_dashboard(self) -> None:
        process, self.dashboard_process = self.dashboard_process, None
        try:
            if process is not None and process.poll() is None:
                process.terminate()  # this PID only, never a process name or group
                try:
                    process.wait(DASHBOARD_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(DASHBOARD_STOP_TIMEOUT)
        finally:
            if self._dashboard_log is not None:
                self._dashboard_log.close()
                self._dashboard_log = None

    # -- seeding -----------------------------------------------------------------------------

    def _seed_apps(self, workspace: Workspace, emulator_url: str, public_url: str) -> None:
        callback = public_url + CALLBACK_PATH
        for demo in DEMO_APPLICATIONS:
            try:
                existing = workspace.applications.get(demo.name)
            except NotFoundError:
                pass
            else:
                self._event("application.exists", f"{demo.name} is registered already")
                self._check_existing(existing, emulator_url, callback, public_url)
                continue
            workspace.applications.register_with_emulator(
                name=demo.name,
                emulator_url=emulator_url,
                redirect_uri=callback,
                kind=demo.kind,
                model=demo.model,
                tenant=demo.tenant,
                grant_system_token=True,
                vendor=demo.vendor,
                consent_text=demo.consent_text,
                public_url=public_url,  # its state-change URL: notifications reach the endpoints
                actor=ACTOR,
            )
            self.registered.append(demo.name)
            where = f" for {demo.tenant}" if demo.tenant else ""
            self._event(
                "application.registered",
                f"registered {demo.name} ({demo.kind}, {demo.model}){where} at the emulator",
            )

    def _seed_manifests(self, workspace: Workspace) -> None:
        """Give each demo application registered in this run its model's preset manifest,
        through the real path (validated, stored, audited), after the demo installs: so the
        seeded tenants have work for Plan and Apply on day one (issue 15)."""
        from toolkit.provisioning import preset_text

        for demo in DEMO_APPLICATIONS:
            if demo.name not in self.registered:
                continue  # an existing world keeps the manifest its operators gave it
            workspace.provisioning.set_manifest(demo.name, preset_text(demo.model), actor=ACTOR)
            self._event(
                "application.manifest", f"{demo.name} has the {demo.model} preset as manifest"
            )

    def _check_existing(
        self, app: Application, emulator_url: str, callback: str, public_url: str
    ) -> None:
        """Say so when a stored application cannot work with this run's emulator or URLs, and
        point its state-change URL at this run's partner endpoints (a world saved before it had
        one, or another partner port)."""
        from toolkit.tenant_events import state_change_path

        assert self.emulator is not None  # noqa: S101 - started before seeding
        assert self.workspace is not None  # noqa: S101
        fresh_start = f"delete {self.home} to start over with a fresh demo world"
        known = self.emulator.world.find_app(app.client_id)
        wanted = public_url + state_change_path(app.client_id)
        if (
            known is not None
            and known.state_change_url != wanted
            and app.environment_url
            and app.environment_url.rstrip("/") == emulator_url
        ):
            self.workspace.applications.register_state_change_url(app.name, public_url)
            self._event("application.updated", f"{app.name} notifies {wanted} of state changes")
        if known is None:
            self._event(
                "warning",
                f"the emulator's world ({self.home / EMULATOR_STATE_FILE}) does not know"
                f" {app.name}; {fresh_start}",
            )
        elif app.environment_url and app.environment_url.rstrip("/") != emulator_url:
            self._event(
                "warning",
                f"{app.name} was registered with the emulator at {app.environment_url}, not"
                f" {emulator_url}; use the same ports as before or {fresh_start}",
            )
        elif app.redirect_uri != callback:
            self._event(
                "warning",
                f"{app.name} redirects to {app.redirect_uri}, not {callback}; use the same"
                f" partner port as before or {fresh_start}",
            )

    def _seed_installs(self, workspace: Workspace, public_url: str) -> None:
        for demo in DEMO_INSTALLS:
            try:
                app = workspace.applications.get(demo.application)
            except NotFoundError:
                continue  # not seeded (seed_applications=False) and not registered by hand
            try:
                workspace.repository.get_authorization(app.id, demo.tenant)
            except NotFoundError:
                pass
            else:
                self._event(
                    "tenant.exists", f"{demo.application} is installed in {demo.tenant} already"
                )
                continue
            self._install(workspace, demo, public_url)
            self.installed.append((demo.application, demo.tenant))
            self._event(
                "tenant.installed",
                f"installed {demo.application} in {demo.tenant} (approved by {demo.username})",
            )

    def _install(self, workspace: Workspace, demo: DemoInstall, public_url: str) -> None:
        """The real flow: authorize URL → SuperID's forms (headless) → POST to /callback."""
        from toolkit.emulator.driver import EmulatorDriverError, sign_in

        authorize_url = workspace.installations.begin(demo.application, tenant=demo.tenant)
        try:
            result = sign_in(
                authorize_url, username=demo.username, password=DEMO_PASSWORD, tenant=demo.tenant
            )
        except EmulatorDriverError as exc:
            raise RuntimeError(
                f"installing {demo.application} in {demo.tenant}: SuperID refused: {exc.message}"
            ) from None
        callback = public_url + CALLBACK_PATH
        if result.response_mode != "form_post" or result.form_action != callback:
            raise RuntimeError(
                f"installing {demo.application} in {demo.tenant}: SuperID did not post back"
                f" to {callback}"
            )
        # What the browser does with the form_post page: post its fields to the partner.
        with httpx.Client(timeout=SEED_HTTP_TIMEOUT, follow_redirects=False) as browser:
            response = browser.post(callback, data=result.params)
        if response.status_code != 200:
            raise RuntimeError(
                f"installing {demo.application} in {demo.tenant}: the partner's callback"
                f" answered HTTP {response.status_code}"
            )
        try:
            workspace.repository.get_authorization(demo.application, demo.tenant)
        except NotFoundError:
            raise RuntimeError(
                f"installing {demo.application} in {demo.tenant}: the callback stored no record"
            ) from None


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(url: str, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while not _answers(client, url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {what} did not answer {url} within {timeout:.0f} s")
            time.sleep(POLL_INTERVAL)
