"""Suite-wide test configuration: the Hypothesis profile every property test runs under.

The profile ``sotk`` is loaded by default and under CI: derandomized (the same examples every
run, so a failure reproduces anywhere), a modest number of examples per property (the suite runs
in ``make test`` on a shared 2-core machine), no deadline (no test depends on machine speed) and
no example database in the checkout. ``HYPOTHESIS_PROFILE=thorough`` runs many more, random
examples, on purpose and by hand. A test may still set its own ``@settings``.
"""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "sotk",
    derandomize=True,
    database=None,  # nothing written into the checkout; derandomized runs replay anyway
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("sotk"),
    derandomize=False,
    max_examples=2000,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sotk"))

# The shared fixtures of tests/support (on the import path through pyproject's pythonpath).
pytest_plugins = [
    "support.browser",
    "support.cli",
    "support.emulator",
    "support.partner",
    "support.postgres",
]


# `make check`, the edit-and-check loop, runs the tests that need no server and no browser:
# `--no-servers` leaves out every test marked `server`. The mark is derived here, so a new test is
# sorted without anyone marking it: by its marks, its fixtures, its parameters and its folder.
SERVER_MARKS = {"emulator", "browser", "slow", "live"}
SERVER_FIXTURES = {
    "emulator",  # the session's emulator (emu, emulator_control and the flows build on it)
    "_session_emulator",
    "endpoints",  # the partner endpoints on loopback
    "stack",  # make run's world
    "chromium",
    "postgres_server",
}
# Whole folders of processes and servers: kill tests, benchmark smoke runs, browser tests.
SERVER_FOLDERS = {"browser", "durability", "benchmarks"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-servers",
        action="store_true",
        help="run only the tests that need no server and no browser (make check); a test that "
        "still opens a listening socket fails, naming the mark it lacks",
    )


def needs_server(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(name) for name in SERVER_MARKS):
        return True
    if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("database_url") == "postgresql":
        return True
    return item.path.parent.name in SERVER_FOLDERS or item.path.suffix == ".ipynb"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if needs_server(item):
            item.add_marker(pytest.mark.server)
    if not config.getoption("--no-servers"):
        return
    kept = [item for item in items if not item.get_closest_marker("server")]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


@pytest.fixture(autouse=True)
def _no_listening_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under --no-servers a test that starts a server fails: it needs a `server` fixture or mark,
    or the fast loop would slowly fill with servers again."""
    if not request.config.getoption("--no-servers"):
        return

    def refuse(self: socket.socket, *args: object) -> None:
        raise AssertionError(
            f"{request.node.nodeid} starts a server under make check: take a server fixture "
            "(see SERVER_FIXTURES in tests/conftest.py) or mark it server"
        )

    monkeypatch.setattr(socket.socket, "listen", refuse)
