"""Process a validated state-change notification as its workflow
(:mod:`toolkit.jobs.notifications`: a redelivery starts nothing new) on the job engine running
in this process. The toolkit's own servers always run one (``sotk serve``, ``make run``,
:class:`~toolkit.web.PartnerEndpoints`: :mod:`toolkit.jobs.inprocess`).

:func:`enqueue_notification` only enqueues it (durably: the workflow and its input are in the
engine's tables before the call returns), so the webhook answers at once and a burst of
notifications is worked off by the engine; :func:`process_notification` also waits for its
outcome (an ``on_state_change`` hook wants it).

In the caller's thread only where no engine for this workspace can run: endpoints mounted in a
partner's own app that starts none (DBOS is one per process, the app's to launch), the sync API
in a WSGI app, and ``PartnerEndpoints(job_engine=False)``. The store's fingerprint still
recognises a redelivery there. Loads the engine only when one runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from toolkit.errors import NotificationRejectedError, TenantJobFailedError
from toolkit.jobs.engine import running_engine

if TYPE_CHECKING:
    from toolkit.tenant_events import TenantEvents, ValidatedNotification

__all__ = ["NotificationOutcome", "enqueue_notification", "process_notification"]


@dataclass(frozen=True)
class NotificationOutcome:
    """What processing a notification did (the history row's outcome), in plain values."""

    change_type: str
    context_identifier: str
    outcome: str
    workflow_id: str | None = None


def _serves(events: TenantEvents) -> bool:
    # The engine's workflows use its own workspace's store: another workspace's cannot serve.
    engine = running_engine()
    return engine is not None and getattr(engine.services, "tenant_events", None) is events


def _enqueue(notification: ValidatedNotification) -> Any:
    """The notification's workflow handle: enqueued now, or the one enqueued by an earlier
    delivery. A failed one is deleted first, so this delivery tries again."""
    from dbos import DBOS, SetWorkflowID

    from toolkit.jobs.notifications import (
        NotificationTask,
        notification_workflow_id,
        state_change_job,
    )
    from toolkit.jobs.queues import NOTIFICATIONS_QUEUE

    task = NotificationTask(
        notification.application.id,
        notification.message,
        # Plain values only: the engine pickles its input.
        replace(notification.claims, raw=dict(notification.claims.raw)),
    )
    workflow_id = notification_workflow_id(notification)
    earlier = DBOS.get_workflow_status(workflow_id)
    if earlier is not None and earlier.status == "ERROR":
        DBOS.delete_workflow(workflow_id)
    with SetWorkflowID(workflow_id):
        return DBOS.enqueue_workflow(NOTIFICATIONS_QUEUE, state_change_job, task)


def enqueue_notification(events: TenantEvents, notification: ValidatedNotification) -> str | None:
    """Enqueue a validated notification's workflow and return its id at once; None when no
    engine for ``events``' workspace runs here (then :func:`process_notification` it)."""
    if not _serves(events):
        return None
    return str(_enqueue(notification).get_workflow_id())


def process_notification(
    events: TenantEvents, notification: ValidatedNotification
) -> NotificationOutcome:
    """Process a validated notification and return its outcome: as its workflow when an engine
    runs in this process, else in the caller's thread. Raises what
    :meth:`TenantEvents.process` raises; a failed workflow is deleted, so a later delivery
    tries again."""
    message = notification.message
    if not _serves(events):
        result = events.process(notification)
        return NotificationOutcome(
            message.change_type.name, message.context_identifier, result.outcome.value
        )
    from dbos import DBOS

    handle = _enqueue(notification)
    workflow_id = handle.get_workflow_id()
    try:
        done = handle.get_result()
    except TenantJobFailedError as exc:
        DBOS.delete_workflow(workflow_id)
        if exc.error_type == NotificationRejectedError.__name__:
            raise NotificationRejectedError(
                str(exc), reason="unknown_tenant", application=notification.application.name
            ) from None
        raise
    return NotificationOutcome(
        message.change_type.name, message.context_identifier, done["outcome"], workflow_id
    )
