"""Running the partner endpoints: in a thread (tests, notebooks, ``make run``) or in the
foreground (``sotk serve``).

``with PartnerEndpoints(workspace, port=0) as endpoints: endpoints.base_url`` binds a free
loopback port first, so the URL is known before the first request, like the emulator.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn

from toolkit.web.app import create_app

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["PartnerEndpoints", "serve"]

START_TIMEOUT = 5.0  # seconds; starting normally takes well under one
STOP_TIMEOUT = 5.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server(workspace: Workspace) -> Any:
    config = uvicorn.Config(
        create_app(workspace),
        log_config=None,  # library code configures no logging handlers
        access_log=False,  # access logs would print callback query strings (codes)
        lifespan="off",
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(workspace: Workspace, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the partner endpoints until interrupted (Ctrl-C / SIGTERM)."""
    sock = _bind(host, port)
    try:
        _server(workspace).run(sockets=[sock])
    finally:
        sock.close()


class PartnerEndpoints:
    """The partner endpoints in a background thread; ``port=0`` picks a free port."""

    def __init__(self, workspace: Workspace, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.workspace = workspace
        self.host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the partner endpoints are not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``, no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> PartnerEndpoints:
        if self._thread is not None:
            raise RuntimeError("the partner endpoints are already started")
        self._socket = _bind(self.host, self._requested_port)
        self._port = int(self._socket.getsockname()[1])
        self._server = _server(self.workspace)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"sotk-partner-endpoints-{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the partner endpoints did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> PartnerEndpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
