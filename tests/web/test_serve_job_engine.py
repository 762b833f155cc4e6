"""``sotk serve`` runs a job engine in its process (issue 13: every validated state-change
notification is processed as a workflow): once its endpoints answer, the engine's tables are in
the store and the engine has registered its executor; Ctrl-C stops both cleanly. Waits are for
events (the health endpoint answering, the process exiting), each bounded."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.ports import unused_port

pytestmark = pytest.mark.emulator

SOTK = Path(sys.executable).parent / "sotk"
DEADLINE_SECONDS = 60.0


def wait_for_health(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        assert process.poll() is None, "sotk serve exited"
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "sotk serve did not answer"
        time.sleep(0.1)


def test_sotk_serve_runs_a_job_engine_in_its_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTK_")}
    env |= {"SOTK_HOME": str(home), "SOTK_WORKER_ID": "serve-test", "PYTHONUNBUFFERED": "1"}
    port = unused_port()  # not one the kernel hands to other processes meanwhile
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [str(SOTK), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        with sqlite3.connect(home / "toolkit.db") as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        # DBOS's system tables, created when the engine launched before the server started.
        assert {"workflow_status", "operation_outputs"} <= tables
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(DEADLINE_SECONDS)
    output = (tmp_path / "serve.log").read_text()
    assert process.returncode == 0, output
    assert "job engine in this process (a worker)" in output
    assert "Traceback" not in output
