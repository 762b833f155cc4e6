"""The names the engine stores workflows under (no imports: the workflows register under them,
the jobs client and the takeover find workflows by them). A name is part of every stored
workflow: renaming one strands the workflows stored under the old name."""

from __future__ import annotations

from typing import Final

__all__ = [
    "FLEET_TENANT_WORKFLOW",
    "FLEET_WORKFLOW",
    "STATE_CHANGE_WORKFLOW",
    "TENANT_WORKFLOW",
    "WORKFLOWS",
]

FLEET_WORKFLOW: Final = "sotk.fleet_job"
# One tenant's work enqueued on its own (install-time provisioning, a retried tenant): a job.
TENANT_WORKFLOW: Final = "sotk.tenant_job"
# A fleet job's tenants: the same work under a name of their own, since the job enqueues them
# through the jobs client, which records no parent (jobs are told from them by name).
FLEET_TENANT_WORKFLOW: Final = "sotk.fleet_tenant"
STATE_CHANGE_WORKFLOW: Final = "sotk.state_change"
# Every workflow of the toolkit's that a worker may run, so another may take it over.
WORKFLOWS: Final = (FLEET_WORKFLOW, FLEET_TENANT_WORKFLOW, TENANT_WORKFLOW, STATE_CHANGE_WORKFLOW)
