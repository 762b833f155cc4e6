"""`sotk emulator serve`: starts, prints its URLs, serves discovery to curl, stops (how fast it
starts is for benchmarks, not a test: machine speed)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.emulator

SOTK = Path(sys.executable).parent / "sotk"
# Hang guards, not speed limits.
STEP_SECONDS = 60


def test_serve_starts_and_curl_gets_discovery(tmp_path: Path) -> None:
    # PYTHONFAULTHANDLER: should the emulator not stop, SIGABRT prints its threads' stacks.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    log = (tmp_path / "stderr.log").open("w")
    world = tmp_path / "world.json"
    command = [str(SOTK), "emulator", "serve", "--port", "0", "--state", str(world)]
    process = subprocess.Popen(
        # Started as a shell starts a background job, SIGINT ignored: Ctrl-C stops it anyway.
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert "running at http://127.0.0.1:" in first_line, first_line
        base_url = first_line.rsplit(" ", 1)[-1].strip()
        curl = shutil.which("curl")
        discovery_url = f"{base_url}/login/.well-known/openid-configuration"
        if curl:
            body = subprocess.run(
                [curl, "-sf", discovery_url], capture_output=True, check=True, timeout=STEP_SECONDS
            ).stdout
        else:  # pragma: no cover - curl is on every machine of this project's kind
            import httpx

            body = httpx.get(discovery_url, timeout=STEP_SECONDS).content
        document = json.loads(body)
        assert document["issuer"] == base_url
        assert document["token_endpoint"] == f"{base_url}/login/common/oauth/tokens"
        # Ctrl-C once the command says it stops on it (its last line): on a busy machine the
        # server answers while the command is still printing its URLs.
        printed = [first_line]
        while "Ctrl-C stops." not in printed[-1]:
            printed.append(process.stdout.readline())
            assert printed[-1], "".join(printed)  # the output ended without it
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=STEP_SECONDS)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.communicate(timeout=STEP_SECONDS)
        log.close()
    errors = (tmp_path / "stderr.log").read_text()
    assert process.returncode != -signal.SIGABRT, f"not stopped by Ctrl-C; stacks:\n{errors}"
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    assert (tmp_path / "world.json").exists()
