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

A world that changes SuperOffice itself (moves tenants, injects faults, adds many tenants) asks
for a private one (``open_world(private=True)``), so the dashboard's world is never disturbed.

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
from typing import TYPE_CHECKING, Final

import httpx

from toolkit.config import Settings
from toolkit.localstack import RunningStack, read_stack_file

if TYPE_CHECKING:
    from toolkit.emulator import Emulator
    from toolkit.workspace import Workspace

__all__ = [
    "WORLD_VARIABLE",
    "CheckFailedError",
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


class CheckFailedError(AssertionError):
    """A notebook's check did not hold; the message says what was expected."""


def check(condition: object, shown: str) -> None:
    """A check in a notebook: raise :class:`CheckFailedError` unless ``condition`` holds,
    then print ``✓ {shown}`` (what the cell has just shown, in words)."""
    if not condition:
        raise CheckFailedError(f"expected: {shown}")
    print(f"✓ {shown}")  # a notebook helper: the ✓ line is its output


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
