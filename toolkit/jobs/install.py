"""Install-time provisioning as a job: the ``/callback`` request enqueues it and returns.

The tenant's workflow id is derived from the install (the authorization and the moment it was
approved), so a callback that arrives twice for one install enqueues nothing new, while a later
re-install provisions again. A worker (``sotk worker``, ``make run``'s) applies the manifest as
the application's system user, under the tenant's lock, like any fleet apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.jobs.workflows import TenantTask

if TYPE_CHECKING:
    from toolkit.jobs.client import Jobs
    from toolkit.store import Application, Authorization

__all__ = ["enqueue_install_provisioning", "install_job_id"]


def install_job_id(authorization: Authorization) -> str:
    approved = authorization.approved_at or authorization.created_at
    return f"install-{authorization.id}-{int(approved.timestamp())}"


def enqueue_install_provisioning(
    jobs: Jobs, application: Application, authorization: Authorization, *, actor: str
) -> str:
    """Enqueue the apply of ``application``'s stored manifest in the new tenant; the job id."""
    task = TenantTask("apply", application.id, authorization.context_identifier, actor)
    return jobs.submit_tenant(task, install_job_id(authorization))
