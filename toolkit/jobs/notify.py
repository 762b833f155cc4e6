"""Process a validated state-change notification as its workflow
(:mod:`toolkit.jobs.notifications`: a redelivery starts nothing new) on the job engine running
in this process. The toolkit's own servers always run one (``sotk serve``, ``make run``,
:class:`~toolkit.web.PartnerEndpoints`: :mod:`toolkit.jobs.inprocess`).

In the caller's thread only where no engine for this workspace can run: endpoints mounted in a
partner's own app that starts none (DBOS is one per process, the app's to launch), the sync API
in a WSGI app, and ``PartnerEndpoints(job_engine=False)``. The store's fingerprint still
recognises a redelivery there. Loads the engine only when one runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from toolkit.errors import NotificationRejectedError, TenantJobFailedError
from toolkit.jobs.engine import running_engine

if TYPE_CHECKING:
    from toolkit.tenant_events import TenantEvents, ValidatedNotification

__all__ = ["NotificationOutcome", "process_notification"]


@dataclass(frozen=True)
class NotificationOutcome:
    """What processing a notification did (the history row's outcome), in plain values."""

    change_type: str
    context_identifier: str
    outcome: str
    workflow_id: str | None = None


def process_notification(
    events: TenantEvents, notification: ValidatedNotification
) -> NotificationOutcome:
    """Process a validated notification: as its workflow when an engine runs in this process,
    else in the caller's thread. Raises what :meth:`TenantEvents.process` raises; a failed
    workflow is deleted, so a later delivery tries again."""
    message = notification.message
    engine = running_engine()
    # The engine's workflows use its own workspace's store: another workspace's cannot serve.
    if engine is None or getattr(engine.services, "tenant_events", None) is not events:
        result = events.process(notification)
        return NotificationOutcome(
            message.change_type.name, message.context_identifier, result.outcome.value
        )
    from dbos import DBOS, SetWorkflowID

    from toolkit.jobs.notifications import (
        NotificationTask,
        notification_workflow_id,
        state_change_job,
    )

    task = NotificationTask(
        notification.application.id,
        message,
        # Plain values only: the engine pickles its input.
        replace(notification.claims, raw=dict(notification.claims.raw)),
    )
    workflow_id = notification_workflow_id(notification)
    with SetWorkflowID(workflow_id):
        handle = DBOS.start_workflow(state_change_job, task)
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
