"""The world a notebook runs in: the running ``make run`` stack when it is up, else a private one.

Every notebook starts with ``world = open_world()`` and ends with ``world.close()``:

* **connected**: a stack started by ``make run`` (or ``sotk run``) records its URLs in
  ``{home}/stack.json`` (:data:`toolkit.localstack.STACK_FILE`). When one is found, its
  process is alive and its emulator and partner endpoints answer, the notebook uses that
  emulator, those partner endpoints and the same store, so what it registers and installs shows
  in the dashboard. Names it creates get a suffix unique to the run (:meth:`NotebookWorld.unique`)
  so a notebook can run again and again against the same world.
* **private**: otherwise (and always when ``SOTK_NOTEBOOK_WORLD=private``, as under nbmake in
  ``make test``) it starts its own emulator on a free loopback port and a throw-away store in a
  temporary folder, with a key ring made in memory: no ``secret.key`` is written, so the
  "back up the secret key" warning of a real store does not appear; ``close()`` removes both.

A notebook that changes SuperOffice itself (moves, suspends or adds tenants, injects faults)
works in the running world too, without disturbing what the dashboard shows of the demo: it
makes tenants of its own (:meth:`NotebookWorld.new_contexts`, context identifiers no tenant of
the emulator uses, made through :attr:`NotebookWorld.control`, the emulator's control plane),
changes only those, scopes its fault rules to them and removes its rules again
(:meth:`EmulatorControl.add_faults`, :meth:`EmulatorControl.remove_faults`), and registers its
own application (its name with the run's suffix). :meth:`NotebookWorld.left_behind` says in
one line what stays in the running world and how to remove it.

Nothing here prints except :func:`check`, whose ``✓`` line is what a notebook shows for a check.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import httpx

from toolkit.config import Settings
from toolkit.localstack import RunningStack, read_stack_file

if TYPE_CHECKING:
    from toolkit.emulator import Emulator
    from toolkit.workspace import Workspace

__all__ = [
    "WORLD_VARIABLE",
    "CheckFailedError",
    "EmulatorControl",
    "NotebookWorld",
    "check",
    "find_running_stack",
    "open_world",
]

# SOTK_NOTEBOOK_WORLD: "private" never connects (CI); "running" requires the make run world;
# unset or "auto" connects when one is up.
WORLD_VARIABLE: Final = "SOTK_NOTEBOOK_WORLD"
WORLD_CHOICES: Final = ("auto", "private", "running")
# How long a probe of a running stack's URL may take: they are loopback servers.
PROBE_TIMEOUT_SECONDS: Final = 2.0
EMULATOR_PROBE_PATH: Final = "/login/.well-known/openid-configuration"
PARTNER_PROBE_PATH: Final = "/healthz"
# `make run`'s home, relative to the checkout (the notebooks folder's parent).
CHECKOUT_HOME: Final = Path(__file__).resolve().parents[1] / ".toolkit"
LOOPBACK: Final = "127.0.0.1"
# The emulator's control plane (not part of SuperOffice's API) and how long a call to it may
# take: a webhook wait is bounded by the emulator itself (at most 30 s).
CONTROL_ROOT: Final = "/__emulator__"
CONTROL_TIMEOUT_SECONDS: Final = 40.0
# The password of every user the emulator's seed and these helpers make (a local demo world).
DEMO_PASSWORD: Final = "superid-demo"
# A notebook's tenants: "Cust" + a block + two digits. A private world takes the first free
# block from 800 (Cust80000, Cust80001, ...: no seeded tenant is near); the running world a random
# five-digit block (seven-digit identifiers, unlike the seeded five-digit ones) that no tenant
# of its emulator starts with, so a notebook run never meets another's tenants.
PRIVATE_TENANT_BLOCK: Final = 800
RUNNING_TENANT_BLOCKS: Final = range(10_000, 100_000)
MAX_NEW_TENANTS: Final = 100
# The emulator's state-change actions by ChangeType name (its /tenants/{ctx}/{action} words).
TENANT_ACTIONS: Final = {
    "Upgrade": "upgrade",
    "BackupRestored": "backup-restored",
    "Suspend": "suspend",
    "Resume": "resume",
    "Delete": "delete",
}
# How to start over when a notebook's additions to the running world are no longer wanted.
REMOVAL_ADVICE: Final = (
    "The toolkit has no command that removes an application or a tenant: to be rid of them,"
    " stop make run and delete {home} (the next make run seeds a fresh demo world; everything"
    " else added to this one goes too)"
)


class CheckFailedError(AssertionError):
    """A notebook's check did not hold; the message says what was expected."""


def check(condition: object, shown: str) -> None:
    """A check in a notebook: raise :class:`CheckFailedError` unless ``condition`` holds,
    then print ``✓ {shown}`` (what the cell has just shown, in words)."""
    if not condition:
        raise CheckFailedError(f"expected: {shown}")
    print(f"✓ {shown}")  # a notebook helper: the ✓ line is its output


def _matches(described: dict[str, Any], rule: dict[str, Any]) -> bool:
    """Whether a rule as the emulator describes it (every field) is ``rule`` (some fields)."""
    return all(described.get(key) == value for key, value in rule.items())


def _as_given(described: dict[str, Any]) -> dict[str, Any]:
    """A described rule as it can be given back: without its counter and unset fields."""
    return {k: v for k, v in described.items() if k != "fired" and v is not None}


class EmulatorControl:
    """The emulator's control plane (``/__emulator__/``, nothing SuperOffice has) over HTTP,
    for what a notebook sets up and changes: the same calls in a private world and in the
    running one (whose emulator runs in the ``make run`` process)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url + CONTROL_ROOT, timeout=CONTROL_TIMEOUT_SECONDS
        )

    def __repr__(self) -> str:
        return f"EmulatorControl({self.base_url!r})"

    def _call(self, method: str, path: str, body: object = None) -> Any:
        response = self._client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def hosts(self) -> dict[str, str]:
        """The tenant hosts by name (``sod2``, ``sod3``, ...) and their URLs."""
        return dict(self._call("GET", "/hosts")["hosts"])

    def tenants(self) -> list[str]:
        """Every tenant's context identifier."""
        return [tenant["ctx"] for tenant in self._call("GET", "/tenants")["tenants"]]

    def tenant(self, ctx: str) -> dict[str, Any]:
        """One tenant as the emulator keeps it, with the state API's answer (``state_api``)."""
        return dict(self._call("GET", f"/tenants/{ctx}"))

    def tenant_url(self, ctx: str) -> str:
        """The tenant's ``Endpoint``: its current host's URL and ``/{ctx}``."""
        return str(self.tenant(ctx)["state_api"]["Endpoint"])

    def add_tenant(
        self, ctx: str, *, company_name: str, serial: str, host: str | None = None
    ) -> dict[str, Any]:
        """A new, running tenant (on ``host``, else the first tenant host)."""
        body = {"ctx": ctx, "company_name": company_name, "serial": serial}
        if host is not None:
            body["host"] = host
        return dict(self._call("POST", "/tenants", body))

    def add_user(
        self, username: str, memberships: list[dict[str, Any]], *, password: str = DEMO_PASSWORD
    ) -> dict[str, Any]:
        """A SuperID user; each membership: ``ctx``, ``is_administrator``, ``associate_id``,
        ``initials``."""
        body = {"username": username, "password": password, "memberships": memberships}
        return dict(self._call("POST", "/users", body))

    def move_tenant(self, ctx: str, host: str, *, notify: bool = True) -> dict[str, Any]:
        """Move a tenant to another tenant host (a Move webhook unless ``notify`` is False)."""
        return dict(self._call("POST", f"/tenants/{ctx}/move", {"host": host, "notify": notify}))

    def change_tenant(self, ctx: str, change: str, *, notify: bool = True) -> dict[str, Any]:
        """Upgrade, BackupRestored, Suspend, Resume or Delete a tenant, with its webhook."""
        if change not in TENANT_ACTIONS:
            raise ValueError(f"change must be one of {', '.join(TENANT_ACTIONS)}")
        action = TENANT_ACTIONS[change]
        return dict(self._call("POST", f"/tenants/{ctx}/{action}", {"notify": notify}))

    def set_tenant_state(self, ctx: str, state: str) -> None:
        """Set what the state API says of a tenant (``State``), without a webhook."""
        self._call("POST", f"/tenants/{ctx}/state", {"state": state})

    def webhooks(self, ctx: str | None = None, *, wait: float = 10.0) -> list[dict[str, Any]]:
        """The state-change deliveries (of tenant ``ctx``), oldest first, once none is pending
        (the emulator waits at most ``wait`` seconds for the pending ones)."""
        found = self._client.get("/webhooks", params={"wait": wait})
        found.raise_for_status()
        deliveries = found.json()["deliveries"]
        if ctx is None:
            return list(deliveries)
        return [d for d in deliveries if d["ctx"].casefold() == ctx.casefold()]

    def tenant_data(self, ctx: str) -> dict[str, Any]:
        """What the emulator holds in a tenant: lists, web panels, task menus and which
        credential created each object (``created_by``); empty before the tenant's web API
        was first called."""
        return dict(self._call("GET", "/state")["tenant_data"].get(ctx.casefold(), {}))

    def faults(self, rules: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The fault rules in force (only those that are ``rules``), each with ``fired``."""
        described = self._call("GET", "/faults")["rules"]
        if rules is None:
            return list(described)
        return [d for d in described if any(_matches(d, rule) for rule in rules)]

    def add_faults(self, rules: list[dict[str, Any]], *, seed: int | None = None) -> None:
        """Add fault rules after those in force (the emulator replaces its whole set, so the
        others are given back as they are; ``seed`` seeds the draws of every rule)."""
        kept = [_as_given(d) for d in self.faults()]
        self._call("POST", "/faults", {"rules": kept + rules, "seed": seed})

    def remove_faults(self, rules: list[dict[str, Any]]) -> None:
        """Remove the rules :meth:`add_faults` added; the others stay in force."""
        described = self._call("GET", "/faults")
        kept = [_as_given(d) for d in described["rules"] if not any(_matches(d, r) for r in rules)]
        seed = described["seed"] if kept else None
        self._call("POST", "/faults", {"rules": kept, "seed": seed})

    def close(self) -> None:
        self._client.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def _answers(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _candidate_homes() -> list[Path]:
    homes: list[Path] = []
    configured = os.environ.get("SOTK_HOME")
    if configured:
        homes.append(Path(configured))
    homes += [Path.cwd() / ".toolkit", Path.cwd().parent / ".toolkit", CHECKOUT_HOME]
    unique: list[Path] = []
    for home in homes:
        resolved = home.resolve()
        if resolved not in unique:
            unique.append(resolved)
    return unique


def find_running_stack(homes: list[Path] | None = None) -> RunningStack | None:
    """The first stack recorded in one of ``homes`` (default: ``$SOTK_HOME``, ``./.toolkit``,
    ``../.toolkit``, the checkout's ``.toolkit``) whose process lives, whose emulator and
    partner endpoints answer, and whose store the home alone opens; else None."""
    with httpx.Client(timeout=PROBE_TIMEOUT_SECONDS) as client:
        for home in homes if homes is not None else _candidate_homes():
            stack = read_stack_file(home)
            if stack is None or not stack.default_store or not _alive(stack.pid):
                continue
            if _answers(client, stack.urls.emulator + EMULATOR_PROBE_PATH) and _answers(
                client, stack.urls.partner + PARTNER_PROBE_PATH
            ):
                return stack
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class NotebookWorld:
    """The emulator, partner endpoints URL and workspace a notebook works with."""

    emulator_url: str
    public_url: str
    home: Path
    workspace: Workspace
    # The private emulator (None when connected to a running stack).
    emulator: Emulator | None = None
    dashboard_url: str | None = None
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    _closed: bool = False
    _control: EmulatorControl | None = None

    @property
    def control(self) -> EmulatorControl:
        """The emulator's control plane: tenants, users, state changes, webhooks, faults."""
        if self._control is None:
            self._control = EmulatorControl(self.emulator_url)
        return self._control

    @property
    def connected(self) -> bool:
        """True when this is the running ``make run`` world (its store, its dashboard)."""
        return self.emulator is None

    @property
    def callback_url(self) -> str:
        """The partner endpoints' ``/callback``: the redirect URL to register."""
        return self.workspace.callback_url()

    def unique(self, name: str) -> str:
        """``name`` in a private world; ``"{name} {run id}"`` in the running world, where the
        same notebook may have registered ``name`` in an earlier run."""
        return name if not self.connected else f"{name} {self.run_id}"

    def new_contexts(self, count: int = 1) -> list[str]:
        """``count`` context identifiers no tenant of the emulator uses yet, sharing all but
        their last two digits and no tenant's prefix (``Cust80000``, ``Cust80001``, ... in a
        fresh private world; a random seven-digit block in the running world): tenants of this
        run alone. They are only names: :meth:`EmulatorControl.add_tenant` makes the tenants."""
        if not 1 <= count <= MAX_NEW_TENANTS:
            raise ValueError(f"count must be from 1 to {MAX_NEW_TENANTS}")
        taken = [ctx.casefold() for ctx in self.control.tenants()]
        blocks = (
            range(PRIVATE_TENANT_BLOCK, 1_000)
            if not self.connected
            else [secrets.choice(RUNNING_TENANT_BLOCKS) for _ in range(100)]
        )
        for block in blocks:
            prefix = f"cust{block}"
            if not any(ctx.startswith(prefix) for ctx in taken):
                return [f"Cust{block}{n:02d}" for n in range(count)]
        raise RuntimeError("no free block of context identifiers in the emulator's world")

    def left_behind(self, added: str) -> str:
        """One line on what this notebook leaves in the world (``added``, in words) and how to
        remove it; in a private world, that nothing is left."""
        if not self.connected:
            return "Nothing is left behind: the private emulator and store are removed."
        return (
            f"Added to the make run world, and left there for the dashboard: {added}. "
            + REMOVAL_ADVICE.format(home=self.home)
            + "."
        )

    def describe(self) -> str:
        """One line saying which world this is."""
        if self.connected:
            where = f"the running make run world (emulator {self.emulator_url}"
            if self.dashboard_url:
                where += f", dashboard {self.dashboard_url}"
            return where + f", store in {self.home})"
        return (
            f"a private emulator at {self.emulator_url} and a throw-away store in {self.home} "
            "(start `make run` first to work in the dashboard's world)"
        )

    def close(self) -> None:
        """Close the workspace; a private world also stops its emulator and removes its store."""
        if self._closed:
            return
        self._closed = True
        if self._control is not None:
            self._control.close()
        try:
            self.workspace.close()
        finally:
            if self.emulator is not None:
                try:
                    self.emulator.stop()
                finally:
                    shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> NotebookWorld:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _choice() -> str:
    value = os.environ.get(WORLD_VARIABLE, "auto").strip().lower() or "auto"
    if value not in WORLD_CHOICES:
        from toolkit.errors import ConfigurationError

        raise ConfigurationError(f"{WORLD_VARIABLE} must be one of {', '.join(WORLD_CHOICES)}")
    return value


def open_world(*, private: bool = False) -> NotebookWorld:
    """The running ``make run`` world when it is up (and neither ``private`` nor
    ``SOTK_NOTEBOOK_WORLD=private`` says otherwise), else a private emulator and store."""
    from toolkit.workspace import Workspace

    choice = _choice()
    if not private and choice != "private":
        stack = find_running_stack()
        if stack is not None:
            settings = Settings(
                home=stack.home,
                emulator_url=stack.urls.emulator,
                public_url=stack.urls.partner,
                _env_file=None,
            )
            return NotebookWorld(
                emulator_url=stack.urls.emulator,
                public_url=stack.urls.partner,
                home=stack.home,
                workspace=Workspace.open(settings),
                dashboard_url=stack.urls.dashboard,
            )
        if choice == "running":
            from toolkit.errors import ConfigurationError

            raise ConfigurationError(
                f"{WORLD_VARIABLE}=running, but no make run world answers; start `make run`"
            )
    return _private_world()


def _private_world() -> NotebookWorld:
    from toolkit.emulator import Emulator
    from toolkit.store.crypto import generate_key_text
    from toolkit.workspace import Workspace

    emulator = Emulator(port=0, host=LOOPBACK).start()
    home = Path(tempfile.mkdtemp(prefix="sotk-notebook-"))
    try:
        # No partner endpoints run here: only the address SuperID would send users back to.
        public_url = f"http://{LOOPBACK}:{_free_port()}"
        settings = Settings(
            home=home,
            emulator_url=emulator.base_url,
            public_url=public_url,
            # A key ring in memory: the throw-away store needs no key file to back up.
            secret_keys=generate_key_text(),
            _env_file=None,
        )
        workspace = Workspace.open(settings)
    except BaseException:
        emulator.stop()
        shutil.rmtree(home, ignore_errors=True)
        raise
    return NotebookWorld(
        emulator_url=emulator.base_url,
        public_url=public_url,
        home=home,
        workspace=workspace,
        emulator=emulator,
    )
