"""The ``sotk`` command's environment in tests: a fresh home, one secret key, a public URL, and
the working folder moved to the test's own (so no ``.env`` of the checkout is read)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.stores import migrated_home

if TYPE_CHECKING:  # imported when used: the unit tests' start-up stays light
    from toolkit.workspace import Workspace

PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ``SOTK_*`` variables a CLI test passes to the runner; the home holds a migrated,
    never started store (support.stores)."""
    from toolkit.store import generate_key_text

    monkeypatch.chdir(tmp_path)  # no stray .env
    return {
        "SOTK_HOME": str(migrated_home(tmp_path / "home")),
        "SOTK_SECRET_KEYS": generate_key_text("alpha"),
        "SOTK_PUBLIC_URL": PUBLIC_URL,
    }


def open_workspace(env: dict[str, str]) -> Workspace:
    """The workspace the CLI opens with ``env``: to seed it, or to read what a command did."""
    from toolkit.config import Settings
    from toolkit.workspace import Workspace

    settings = Settings(
        home=Path(env["SOTK_HOME"]),
        secret_keys=env["SOTK_SECRET_KEYS"],
        public_url=env["SOTK_PUBLIC_URL"],
        _env_file=None,
    )
    return Workspace.open(settings)
