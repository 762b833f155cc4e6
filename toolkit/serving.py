"""Serving a Starlette app with uvicorn on sockets bound before it starts.

Binding first means the URL is known at once and ``port=0`` picks a free port; the app then
runs in a background thread (tests, notebooks, ``make run``) or in the foreground (``sotk``
commands). Used by the partner endpoints and by the emulator, which share no protocol code.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import uvicorn

__all__ = ["START_TIMEOUT", "STOP_TIMEOUT", "ServerThread", "listen", "uvicorn_server"]

START_TIMEOUT = 5.0  # seconds; starting normally takes well under one
STOP_TIMEOUT = 5.0
# A deep backlog: fleets and benchmarks open many connections at once.
LISTEN_BACKLOG = 1024


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0 = a free port), ready for uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # socket says it is TCP; without it, Nagle + delayed ACK add ~40 ms to every response
    # written in two parts (headers, body).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: Any, **options: Any) -> Any:
    """A uvicorn server for ``app`` that configures no logging and logs no requests."""
    config = uvicorn.Config(
        app,
        log_config=None,  # library code configures no logging handlers
        access_log=False,  # access logs would print query strings (codes, states)
        lifespan="off",
        server_header=False,
        **options,
    )
    return uvicorn.Server(config)


class ServerThread:
    """A uvicorn server running on pre-bound sockets in a daemon thread."""

    def __init__(self, server: Any, sockets: Sequence[socket.socket], *, name: str) -> None:
        self.server = server
        self.name = name
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": list(sockets)}, name=name, daemon=True
        )

    def start(self) -> None:
        """Start and wait until the server accepts connections; RuntimeError if it does not."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT)
