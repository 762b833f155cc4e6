"""The notebooks' world (issue 15): the running `make run` stack when it answers, else a private
emulator and a throw-away store without a key file; `check` prints a ✓ line or fails."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import httpx
import pytest

from toolkit.errors import ConfigurationError
from toolkit.localstack import STACK_FILE, LocalStack, read_stack_file
from toolkit.notebook_world import CheckFailedError, check, find_running_stack, open_world

STANDARD = "Demo Standard App"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_check_prints_what_was_shown_or_fails(capsys: pytest.CaptureFixture[str]) -> None:
    check(1 + 1 == 2, "two tenants were installed")
    assert capsys.readouterr().out == "✓ two tenants were installed\n"
    with pytest.raises(CheckFailedError, match="expected: the ticket starts with 7T:"):
        check("", "the ticket starts with 7T:")
    assert capsys.readouterr().out == ""
    assert issubclass(CheckFailedError, AssertionError)  # nbmake fails the notebook on it


@pytest.mark.server
def test_private_world_has_no_key_file_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SOTK_NOTEBOOK_WORLD", "private")
    caplog.set_level(logging.WARNING)
    world = open_world()
    try:
        assert not world.connected
        assert world.emulator is not None
        assert world.unique("Acme Sync") == "Acme Sync"
        discovery = httpx.get(world.emulator_url + "/login/.well-known/openid-configuration")
        assert discovery.json()["issuer"] == world.emulator_url
        assert world.callback_url == world.public_url + "/callback"
        assert world.workspace.applications.list() == []
        assert not (world.home / "secret.key").exists()
        assert "back it up" not in caplog.text  # no key-backup warning for a throw-away store
        assert "private emulator" in world.describe()
    finally:
        world.close()
    assert not world.home.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(world.emulator_url + "/login/.well-known/openid-configuration", timeout=5)
    world.close()  # twice is harmless


@pytest.mark.server
def test_connects_to_a_running_stack_and_not_after_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    stack = LocalStack(home, emulator_port=0, partner_port=0, dashboard=False, seed_tenants=False)
    with stack:
        recorded = json.loads((home / STACK_FILE).read_text(encoding="utf-8"))
        assert recorded["emulator"] == stack.urls.emulator
        assert recorded["partner"] == stack.urls.partner
        assert recorded["pid"] == os.getpid()
        assert recorded["default_store"] is True
        monkeypatch.setenv("SOTK_HOME", str(home))
        with open_world() as world:
            assert world.connected
            assert world.emulator_url == stack.urls.emulator
            assert world.public_url == stack.urls.partner
            # The same store as the stack: its seeded applications are there.
            names = {app.name for app in world.workspace.applications.list()}
            assert STANDARD in names
            assert world.unique("Acme Sync") == f"Acme Sync {world.run_id}"
            assert "running make run world" in world.describe()
        assert home.exists()  # closing a connected world removes nothing
        # A private world is still possible while the stack runs.
        with open_world(private=True) as private:
            assert not private.connected
            assert private.emulator_url != stack.urls.emulator
    assert not (home / STACK_FILE).exists()
    assert read_stack_file(home) is None
    assert find_running_stack([home]) is None


def test_a_stale_stack_file_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    stale = {
        "version": 1,
        "pid": os.getpid(),  # alive, but nothing answers at these URLs
        "emulator": "http://127.0.0.1:9",
        "partner": "http://127.0.0.1:9",
        "dashboard": None,
        "default_store": True,
    }
    (home / STACK_FILE).write_text(json.dumps(stale), encoding="utf-8")
    assert read_stack_file(home) is not None
    assert find_running_stack([home]) is None
    (home / STACK_FILE).write_text("{not json", encoding="utf-8")
    assert read_stack_file(home) is None
    monkeypatch.setenv("SOTK_HOME", str(home))
    monkeypatch.setenv("SOTK_NOTEBOOK_WORLD", "running")
    with pytest.raises(ConfigurationError, match="no make run world answers"):
        open_world()
    monkeypatch.setenv("SOTK_NOTEBOOK_WORLD", "sometimes")
    with pytest.raises(ConfigurationError, match="must be one of auto, private, running"):
        open_world()
