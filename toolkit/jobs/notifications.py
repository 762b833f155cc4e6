"""State-change notifications processed as workflows: a redelivery starts nothing.

After :meth:`~toolkit.tenant_events.TenantEvents.validate` (in the request), the processing
(confirm with the state API, record, act) runs as the workflow ``sotk.state_change`` whose id is
made from the application and the notification's fingerprint (its ``jti``, or the whole token).
The same notification delivered again, even concurrently, attaches to that one workflow: it is
processed once, and every delivery gets its outcome. Only the application's id, the parsed
message and the claims go into the engine's tables (never the application's secrets).

The partner endpoints do this when a job engine runs in their process (``make run``); see
:func:`toolkit.jobs.notify.process_notification`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbos import DBOS

from toolkit.errors import TenantJobFailedError, ToolkitError
from toolkit.jobs.engine import services
from toolkit.jobs.names import STATE_CHANGE_WORKFLOW

if TYPE_CHECKING:
    from toolkit.auth.tokens import StateChangeClaims
    from toolkit.tenant_events import NotificationMessage, TenantEvents, ValidatedNotification

__all__ = ["NotificationTask", "notification_workflow_id", "state_change_job"]


@dataclass(frozen=True)
class NotificationTask:
    application_id: str
    message: NotificationMessage
    claims: StateChangeClaims


def notification_workflow_id(notification: ValidatedNotification) -> str:
    return f"state-change-{notification.application.id}-{notification.fingerprint[:40]}"


@DBOS.step(name="sotk.process_notification")
def process_step(task: NotificationTask) -> dict[str, Any]:
    from toolkit.tenant_events import ValidatedNotification

    found: Any = services()
    events: TenantEvents = found.tenant_events
    app = found.repository.get_application(task.application_id)
    try:
        result = events.process(ValidatedNotification(app, task.message, task.claims))
    except ToolkitError as exc:  # only text crosses the engine
        return {"error_type": type(exc).__name__, "error": str(exc)}
    return {"outcome": result.outcome.value}


@DBOS.workflow(name=STATE_CHANGE_WORKFLOW)
def state_change_job(task: NotificationTask) -> dict[str, Any]:
    done = process_step(task)
    if "error_type" in done:
        raise TenantJobFailedError(done["error"], error_type=done["error_type"])
    return done
