"""Running the partner endpoints: in a thread (tests, notebooks, ``make run``) or in the
foreground (``sotk serve``).

Both run a job engine in their process (:mod:`toolkit.jobs.inprocess`) unless one runs already
or ``job_engine=False``: a state-change notification is then processed as its workflow, and the
process works the job queues like a ``sotk worker`` (``listen``).

``with PartnerEndpoints(workspace, port=0) as endpoints: endpoints.base_url`` binds a free
loopback port first, so the URL is known before the first request, like the emulator.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import TYPE_CHECKING, Any

from toolkit.jobs.inprocess import start_in_process_engine
from toolkit.serving import ServerThread, listen, uvicorn_server
from toolkit.web.app import create_app

if TYPE_CHECKING:
    from toolkit.jobs.engine import JobEngine
    from toolkit.workspace import Workspace

__all__ = ["PartnerEndpoints", "serve"]


def _server(workspace: Workspace) -> Any:
    return uvicorn_server(create_app(workspace))


def serve(
    workspace: Workspace,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    job_engine: bool = True,
    work_queues: bool = True,
) -> None:
    """Serve the partner endpoints until interrupted (Ctrl-C / SIGTERM), with a job engine in
    this process (``work_queues``: also a worker for the queued jobs)."""
    sock = listen(host, port)
    engine = None
    try:
        if job_engine:
            engine = start_in_process_engine(workspace, listen=work_queues)
        _server(workspace).run(sockets=[sock])
    finally:
        if engine is not None:
            engine.close()
        sock.close()


class PartnerEndpoints:
    """The partner endpoints in a background thread; ``port=0`` picks a free port.

    ``job_engine``: run a job engine (a worker) in this process while they run, unless one
    runs already; False for a process whose engine is started elsewhere, or none at all.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        job_engine: bool = True,
    ) -> None:
        self.workspace = workspace
        self.host = host
        self.job_engine = job_engine
        self._engine: JobEngine | None = None
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._runner: ServerThread | None = None

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
        if self._runner is not None:
            raise RuntimeError("the partner endpoints are already started")
        if self.job_engine:
            self._engine = start_in_process_engine(self.workspace)
        try:
            self._socket = listen(self.host, self._requested_port)
        except OSError:
            self.stop()
            raise
        self._port = int(self._socket.getsockname()[1])
        self._runner = ServerThread(
            _server(self.workspace), [self._socket], name=f"sotk-partner-endpoints-{self._port}"
        )
        try:
            self._runner.start()
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
        if self._socket is not None:
            self._socket.close()
        if self._engine is not None:
            self._engine.close()
        self._runner, self._socket, self._engine = None, None, None

    def __enter__(self) -> PartnerEndpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
