"""``GET /healthz``: JSON, 200 when the store answers, 503 otherwise (no detail leaks out)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["health_endpoint"]

logger = logging.getLogger("toolkit.web")


def health_endpoint(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    """The ``/healthz`` handler for ``workspace``."""

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(workspace.check_database)
        except Exception as exc:
            logger.error(
                "request %s: health check failed: %s",
                getattr(request.state, "request_id", None),
                type(exc).__name__,
            )
            return JSONResponse({"status": "unavailable", "database": "unavailable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return healthz
