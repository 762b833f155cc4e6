"""The job engine the toolkit's own servers run in their process, like ``make run``'s stack.

``sotk serve`` (:func:`toolkit.web.serve`) and :class:`~toolkit.web.PartnerEndpoints` start
one unless an engine already runs in the process (``make run`` starts its own first), so a
validated state-change notification is always processed as its workflow
(:mod:`toolkit.jobs.notifications`) and, with ``listen``, this process is also a worker for the
queued jobs (install-time provisioning, fleet jobs), configured like ``sotk worker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.jobs.engine import JobEngine, running_engine, start_engine
from toolkit.jobs.queues import QueueLimits

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["start_in_process_engine"]


def start_in_process_engine(workspace: Workspace, *, listen: bool = True) -> JobEngine | None:
    """Start the job engine for ``workspace`` unless one runs in this process already.

    Returns the engine started here (the caller closes it), or None when one was running.
    ``listen``: False works only the notifications queue and leaves the job queues to
    ``sotk worker`` processes. Raises
    :class:`~toolkit.errors.ConfigurationError` for a store the engine cannot write.
    """
    if running_engine() is not None:
        return None
    settings = workspace.settings
    return start_engine(
        workspace,
        executor_id=settings.worker_id,
        limits=QueueLimits.from_settings(settings),
        listen=listen,
        takeover_seconds=(settings.jobs_takeover_seconds or None) if listen else None,
        upkeep=(
            settings.upkeep_state_refresh,
            settings.upkeep_ticket_renewal,
            settings.upkeep_drift_check,
        )
        if listen
        else None,
    )
