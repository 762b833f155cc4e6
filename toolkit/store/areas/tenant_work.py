"""What a tenant workflow reads before its work, in one statement: the application and the
tenant's last known state (what any worker of the fleet last recorded: a "check now", a
confirmed state-change notification). The workflow read the application alone before; the
state rides along in the same statement, so a worker that cached an older answer acts on the
newer one without a statement of its own per tenant.

The statement is built once, with bound parameters (building a SELECT costs more client CPU
than SQLite takes to run it).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from toolkit.store.areas.applications import Applications
from toolkit.store.areas.base import APPLICATION_BY_NAME_OR_ID, unknown_application
from toolkit.store.areas.tenant_states import TenantStates, joined_state
from toolkit.store.records import TenantWorkView
from toolkit.store.schema import applications, authorizations, tenant_states

__all__ = ["TenantWork"]

# The application (by id or name), its authorization in the tenant (any case, protocol §1 [I])
# and that authorization's state, if any: one row per application and authorization matched.
_WORK_VIEW = (
    select(
        *(column.label("a_" + column.name) for column in applications.c),
        *(column.label("s_" + column.name) for column in tenant_states.c),
        authorizations.c.context_identifier.label("z_context_identifier"),
    )
    .select_from(
        applications.outerjoin(
            authorizations,
            (authorizations.c.application_id == applications.c.id)
            & (func.lower(authorizations.c.context_identifier) == bindparam("ctx")),
        ).outerjoin(tenant_states, tenant_states.c.authorization_id == authorizations.c.id)
    )
    .where(APPLICATION_BY_NAME_OR_ID)
)


class TenantWork(Applications, TenantStates):
    def tenant_work_view(self, application: str, context_identifier: str) -> TenantWorkView:
        """The application (name or id; an id match wins, as in :meth:`get_application`) and
        its authorization's last known state in the tenant (any case; None when none was
        recorded or the application has no authorization there), in one statement.
        UnknownApplicationError when there is no such application."""
        with self._read() as connection:
            rows = (
                connection.execute(
                    _WORK_VIEW,
                    {"application": application, "ctx": context_identifier.lower()},
                )
                .mappings()
                .all()
            )
        if not rows:
            raise unknown_application(application)
        # An id match first, then the tenant as written (case variants may both exist).
        row = min(
            rows,
            key=lambda found: (
                found["a_id"] != application,
                found["z_context_identifier"] != context_identifier,
            ),
        )
        app = self._application({c.name: row["a_" + c.name] for c in applications.c})
        state = joined_state(row, "s_", app.id, row["z_context_identifier"])
        return TenantWorkView(application=app, state=state)
