"""``POST /state-change/{client_id}`` (and the bare ``/state-change``): SuperOffice's tenant
state-change webhook (protocol §6).

Each application registers its own URL (:meth:`~toolkit.workspace.Workspace.state_change_url`);
the bare URL serves a deployment with exactly one application. The route only checks the
envelope (POST, ``application/json``, at most
:data:`~toolkit.tenant_events.MAX_NOTIFICATION_BYTES`), then has
:meth:`~toolkit.tenant_events.TenantEvents.validate` check the notification in the request and
:meth:`~toolkit.tenant_events.TenantEvents.process` confirm it with the state API and record it;
every protocol rule lives there. With a job engine in the process (the toolkit's own servers)
the processing is the notification's workflow: the request enqueues it and answers at once
(with an ``on_state_change`` hook, after the workflow, so the hook hears the outcome).

Answers are plain JSON without detail that would help a forger: ``200 {"status": "ok"}``
(also for a duplicate, stale or unconfirmed notification, which changed nothing on purpose),
``400 {"error": "bad_request"}`` for a body that is not a message, ``401
{"error": "unauthorized"}`` for anything that is not SuperOffice's notification for one of our
tenants, ``404 {"error": "unknown_application"}`` for a URL naming no application of ours,
``409 {"error": "ambiguous_application"}`` for the bare URL with several applications, 413 /
415 for the envelope, 503 when we cannot check it now (keys or store unavailable: the sender
may retry).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from toolkit.errors import (
    MalformedNotificationError,
    NotificationApplicationError,
    NotificationRejectedError,
    ToolkitError,
    UnstorableTextError,
)
from toolkit.jobs.notify import enqueue_notification, process_notification
from toolkit.tenant_events import MAX_NOTIFICATION_BYTES
from toolkit.web.hooks import EndpointError, Hooks, StateChanged

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["JSON_CONTENT_TYPE", "state_change_endpoint"]

logger = logging.getLogger("toolkit.web")

JSON_CONTENT_TYPE = "application/json"


class _Refused(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def json_error(status: int, error: str) -> JSONResponse:
    """A plain JSON error: one word, nothing else."""
    return JSONResponse({"error": error}, status_code=status)


async def _read_json_body(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise _Refused(415, "unsupported_media_type")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _Refused(400, "bad_request")
        if int(declared) > MAX_NOTIFICATION_BYTES:
            raise _Refused(413, "too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_NOTIFICATION_BYTES:
            raise _Refused(413, "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def state_change_endpoint(
    workspace: Workspace, *, hooks: Hooks | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """The ``/state-change`` and ``/state-change/{client_id}`` handler for ``workspace``;
    ``hooks`` (when mounted with them) hear of each processed notification and each refusal."""
    events = workspace.tenant_events

    async def state_change(request: Request) -> Response:
        response = await _state_change(request)
        if hooks is not None and response.status_code != 200:
            error = getattr(request.state, "state_change_error", None)
            if error is not None:
                await hooks.error(
                    EndpointError(
                        "state_change",
                        request.url.path,
                        response.status_code,
                        error,
                        getattr(request.state, "request_id", None),
                    )
                )
        return response

    async def _state_change(request: Request) -> Response:
        request_id = getattr(request.state, "request_id", None)
        application = request.path_params.get("application")
        try:
            body = await _read_json_body(request)
        except _Refused as exc:
            return json_error(exc.status, exc.error)
        try:
            notification = await run_in_threadpool(
                partial(events.validate, body, application=application)
            )
            if hooks is None or hooks.on_state_change is None:
                # Enqueued as its workflow when a job engine runs here (a redelivery starts
                # nothing new); answered at once, processed by the engine.
                accepted = await run_in_threadpool(enqueue_notification, events, notification)
                if accepted is not None:
                    logger.info(
                        "request %s: state-change %s for %s: accepted (%s)",
                        request_id,
                        notification.message.change_type.name,
                        notification.message.context_identifier,
                        accepted,
                    )
                    return JSONResponse({"status": "ok"})
            # The hook hears the outcome, so this answer waits for it.
            result = await run_in_threadpool(process_notification, events, notification)
        except ToolkitError as exc:
            request.state.state_change_error = exc  # for the on_error hook
            return _refusal(request_id, exc)
        logger.info(
            "request %s: state-change %s for %s: %s",
            request_id,
            result.change_type,
            result.context_identifier,
            result.outcome,
        )
        if hooks is not None:
            await hooks.state_changed(
                StateChanged(
                    application=notification.application.name,
                    context_identifier=result.context_identifier,
                    change_type=result.change_type,
                    outcome=result.outcome,
                    message=notification.message,
                )
            )
        return JSONResponse({"status": "ok"})

    return state_change


def _refusal(request_id: str | None, error: ToolkitError) -> JSONResponse:
    """The answer to a notification that was refused or could not be checked."""
    if isinstance(error, MalformedNotificationError):
        logger.info("request %s: state-change refused: %s", request_id, error.reason)
        return json_error(400, "bad_request")
    if isinstance(error, NotificationApplicationError):
        # The partner's configuration, not a forgery: say which, so it can be fixed.
        logger.warning("request %s: state-change refused: %s (%s)", request_id, error.reason, error)
        return json_error(409 if error.reason == "ambiguous_application" else 404, error.reason)
    if isinstance(error, NotificationRejectedError):
        logger.info("request %s: state-change refused: %s", request_id, error.reason)
        return json_error(401, "unauthorized")
    if isinstance(error, UnstorableTextError):
        # The sender's text, not our outage (parsing refuses it first).
        logger.info("request %s: state-change refused: unstorable text", request_id)
        return json_error(400, "bad_request")
    # Keys or store unavailable: our outage, not a forgery.
    logger.error(
        "request %s: state-change could not be checked: %s", request_id, type(error).__name__
    )
    return json_error(503, "unavailable")
