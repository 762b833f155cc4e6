"""The emulator the benchmarks talk to: in a subprocess (default) or in a thread.

Why a subprocess by default: the emulator is Python too. In the same process it shares the GIL
and the CPU clock with the client, so ``cpu_seconds`` and ``peak_rss_mb`` would measure the
emulator's RSA signing, HTML rendering and world of N tenants as much as the toolkit; and on a
2-core machine the two would contend for one interpreter lock instead of using one core each.
In a subprocess the client's ``resource.getrusage(RUSAGE_SELF)`` is the client alone, and the
emulator's own CPU time is read from ``/proc/{pid}/stat`` and reported apart.

Run as ``python -m benchmarks.emulator_process``: it starts ``Emulator(port=0)``, prints one
JSON line ``{"base_url": ..., "host_urls": {...}}`` and serves until its stdin closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from types import TracebackType
from typing import Any

import httpx

CONTROL = "/__emulator__"
START_TIMEOUT_SECONDS = 30.0


class EmulatorHandle:
    """What the benchmarks need from the emulator, over its control plane (works for both)."""

    base_url: str
    host_urls: dict[str, str]
    mode: str

    def __init__(self) -> None:
        self._control: httpx.Client | None = None

    @property
    def control(self) -> httpx.Client:
        if self._control is None:
            # A client of its own: control calls are plumbing and never counted.
            self._control = httpx.Client(base_url=self.base_url, timeout=60.0)
        return self._control

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.control.post(CONTROL + path, json=body)
        response.raise_for_status()
        return dict(response.json())

    def credentials_total(self) -> int:
        response = self.control.get(CONTROL + "/credentials")
        response.raise_for_status()
        return int(response.json()["total"])

    def set_latency(self, latency_ms: float, jitter_ms: float, seed: int) -> None:
        """Latency on every emulated host (the control plane is never delayed)."""
        rules = []
        if latency_ms > 0:
            rules.append({"kind": "latency", "latency_ms": latency_ms, "jitter_ms": jitter_ms})
        self.post("/faults", {"rules": rules, "seed": seed})

    def cpu_seconds(self) -> float | None:
        """The emulator's own CPU time (subprocess only), None when it shares our process."""
        return None

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SubprocessEmulator(EmulatorHandle):
    """``python -m benchmarks.emulator_process`` as a child process."""

    mode = "subprocess"

    def __init__(self) -> None:
        super().__init__()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.emulator_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None  # noqa: S101 (Popen with PIPE)
        ready: list[str] = []
        reader = threading.Thread(
            target=lambda: ready.append(self._process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        if not ready or not ready[0].strip():
            self.close()
            raise RuntimeError("the emulator subprocess did not start")
        info = json.loads(ready[0])
        self.base_url = info["base_url"]
        self.host_urls = dict(info["host_urls"])
        self.pid = self._process.pid

    def cpu_seconds(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 (utime, stime) counted from 1; index 11/12 after the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        super().close()
        process = self._process
        if process.poll() is None:
            if process.stdin is not None:
                process.stdin.close()  # the child stops when its stdin closes
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


class ThreadEmulator(EmulatorHandle):
    """``Emulator(port=0)`` in a thread of this process (shares the GIL and the CPU clock)."""

    mode = "thread"

    def __init__(self) -> None:
        super().__init__()
        from toolkit.emulator import Emulator

        self._emulator = Emulator(port=0).start()
        self.base_url = self._emulator.base_url
        self.host_urls = self._emulator.host_urls

    def close(self) -> None:
        super().close()
        self._emulator.stop()


def start_emulator(mode: str) -> EmulatorHandle:
    if mode == "subprocess":
        return SubprocessEmulator()
    if mode == "thread":
        return ThreadEmulator()
    raise ValueError("emulator mode must be subprocess or thread")


def main() -> None:
    import logging

    from toolkit.emulator import Emulator

    # The emulator logs unhandled errors only; keep them on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    emulator = Emulator(port=0).start()
    try:
        line = json.dumps({"base_url": emulator.base_url, "host_urls": emulator.host_urls})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
