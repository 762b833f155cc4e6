"""`sotk` prints no library log lines by default (issue 15): opening the store runs alembic's
migrations, whose INFO lines ("Context impl SQLiteImpl", "Running upgrade ...") appear only with
``-v``; warnings meant for the user (a new secret key to back up) still show."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.cli.common import configure_logging, log_level, set_verbosity

SOTK = "import sys; from toolkit.cli import main; main()"
ALEMBIC_LINE = "INFO alembic.runtime.migration: Context impl SQLiteImpl."
KEY_WARNING = "created a new secret key"


def run_sotk(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTK_")}
    env["SOTK_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-c", SOTK, *args],
        cwd=tmp_path,  # no .env from the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_command_that_opens_the_store_prints_no_migration_lines(tmp_path: Path) -> None:
    result = run_sotk(tmp_path, "app", "list")
    assert result.returncode == 0, result.stderr
    assert "no applications registered" in result.stdout
    assert "alembic" not in result.stdout + result.stderr
    assert "INFO" not in result.stdout + result.stderr
    assert KEY_WARNING in result.stderr  # a real store's key still asks to be backed up


@pytest.mark.slow
def test_verbose_shows_the_library_lines(tmp_path: Path) -> None:
    result = run_sotk(tmp_path, "-v", "app", "list")
    assert result.returncode == 0, result.stderr
    assert ALEMBIC_LINE in result.stderr
    assert "Running upgrade  -> 0001" in result.stderr
    assert ALEMBIC_LINE not in result.stdout  # the command's own output stays clean


@pytest.mark.parametrize(
    ("count", "level"), [(0, logging.WARNING), (1, logging.INFO), (2, logging.DEBUG), (5, 10)]
)
def test_verbosity_levels_and_httpx_stays_at_warning(count: int, level: int) -> None:
    root = logging.getLogger()
    before = root.level, logging.getLogger("httpx").level
    try:
        set_verbosity(count)
        assert log_level() == level
        configure_logging()
        assert root.level == level
        # httpx logs full URLs (authorization codes included) at INFO: never shown.
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        set_verbosity(0)
        root.setLevel(before[0])
        logging.getLogger("httpx").setLevel(before[1])
