"""Provisioning runs: each apply (or other operation) with its plan and the steps it did."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from toolkit.errors import ConfigurationError, ConflictError, NotFoundError
from toolkit.store.areas.base import ApplicationRef, RepositoryBase, from_row
from toolkit.store.areas.common import DEFAULT_AUDIT_LIMIT, refuse_secrets, require_choice, to_json
from toolkit.store.areas.list_definitions import upsert_list_definitions
from toolkit.store.records import (
    Application,
    ListDefinitionsWrite,
    ProvisioningRun,
    ProvisioningStepRecord,
    ProvisioningStepWrite,
)
from toolkit.store.schema import (
    RUN_OUTCOMES,
    STEP_OUTCOMES,
    applications,
    provisioning_runs,
    provisioning_steps,
)

__all__ = ["ProvisioningRuns"]


def step_record(row: Mapping[Any, Any]) -> ProvisioningStepRecord:
    return from_row(ProvisioningStepRecord, row, detail=json.loads(row["detail"] or "{}"))


def insert_steps(
    connection: Connection,
    run_id: str | None,
    steps: Sequence[ProvisioningStepWrite],
    at: datetime,
) -> list[ProvisioningStepRecord]:
    """Insert ``steps`` of run ``run_id`` in the caller's transaction (one statement): how a
    run's other writes carry the steps that completed before them."""
    if steps and run_id is None:
        raise ConfigurationError("steps are recorded with their run's id")
    rows = []
    for step in steps:
        require_choice("outcome", step.outcome, STEP_OUTCOMES)
        refuse_secrets(dict(step.detail), what="provisioning step")
        rows.append(
            {
                "run_id": run_id,
                "position": step.position,
                "action": step.action,
                "kind": step.kind,
                "key": step.key,
                "outcome": step.outcome,
                "remote_id": step.remote_id,
                "detail": to_json(dict(step.detail)),
                "at": at,
            }
        )
    if rows:
        try:
            connection.execute(insert(provisioning_steps), rows)
        except IntegrityError:
            positions = ", ".join(str(row["position"]) for row in rows)
            raise ConflictError(
                f"step(s) {positions} of run {run_id} are already recorded"
            ) from None
    return [step_record(row) for row in rows]


class ProvisioningRuns(RepositoryBase):
    def start_provisioning_run(
        self,
        application: ApplicationRef,
        context_identifier: str,
        *,
        operation: str,
        actor: str,
        plan: Mapping[str, Any],
        fingerprint: str | None,
        steps_total: int,
    ) -> ProvisioningRun:
        """Record a run that starts now (outcome ``running``) with the plan it performs."""
        refuse_secrets(dict(plan), what="provisioning plan")
        text = to_json(dict(plan))
        with self._write_for(application) as (connection, app_id):
            if isinstance(application, Application):
                name = application.name
            else:
                name = self._require_application(connection, app_id)["name"]
            values = {
                "id": str(uuid.uuid4()),
                "application_id": app_id,
                "context_identifier": context_identifier,
                "operation": operation,
                "actor": actor,
                "outcome": "running",
                "fingerprint": fingerprint,
                "plan": text,
                "steps_total": steps_total,
                "error": None,
                "started_at": self._now(),
                "finished_at": None,
            }
            connection.execute(insert(provisioning_runs).values(values))
        return self._run({**values, "application": name})

    def record_provisioning_step(
        self,
        run_id: str,
        position: int,
        *,
        action: str,
        kind: str,
        key: str,
        outcome: str,
        remote_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> ProvisioningStepRecord:
        """Record one step of a run (``done`` / ``adopted`` / ``failed``) in a transaction of its
        own; an apply records its steps with its other writes (:func:`insert_steps`)."""
        write = ProvisioningStepWrite(
            position, action, kind, key, outcome, remote_id, dict(detail or {})
        )
        return self.record_provisioning_steps(run_id, [write])[0]

    def record_provisioning_steps(
        self, run_id: str, steps: Sequence[ProvisioningStepWrite]
    ) -> list[ProvisioningStepRecord]:
        """Record several steps of a run in one transaction (all or none)."""
        with self._write() as connection:
            return insert_steps(connection, run_id, steps, self._now())

    def finish_provisioning_run(
        self,
        run_id: str,
        outcome: str,
        *,
        error: str | None = None,
        steps: Sequence[ProvisioningStepWrite] = (),
        lists: ListDefinitionsWrite | None = None,
    ) -> ProvisioningRun:
        """End a run: ``succeeded``, ``failed`` or ``partial``, with an error text (redacted),
        and its last ``steps`` recorded in the same transaction; returns the run as stored.
        ``lists``: the tenant's list definitions as the run left them, kept in that
        transaction too (see ``remember_lists``)."""
        if outcome not in RUN_OUTCOMES or outcome == "running":
            raise ConfigurationError("a run finishes succeeded, failed or partial")
        with self._write() as connection:
            insert_steps(connection, run_id, steps, self._now())
            result = connection.execute(
                update(provisioning_runs)
                .where(provisioning_runs.c.id == run_id)
                .values(outcome=outcome, error=error, finished_at=self._now())
            )
            if result.rowcount == 0:
                raise NotFoundError(f"no provisioning run {run_id!r}")
            run = self._stored_run(connection, run_id)
            if lists is not None:
                upsert_list_definitions(
                    connection, run.application_id, run.context_identifier, lists
                )
            return run

    def _run(
        self, row: Mapping[Any, Any], steps: tuple[ProvisioningStepRecord, ...] = ()
    ) -> ProvisioningRun:
        return from_row(ProvisioningRun, row, plan=json.loads(row["plan"]), steps=steps)

    def _runs_query(self) -> Any:
        return select(*provisioning_runs.c, applications.c.name.label("application")).join(
            applications, applications.c.id == provisioning_runs.c.application_id
        )

    def get_provisioning_run(self, run_id: str) -> ProvisioningRun:
        """One run with its recorded steps; NotFoundError if there is none."""
        with self._read() as connection:
            return self._stored_run(connection, run_id)

    def _stored_run(self, connection: Connection, run_id: str) -> ProvisioningRun:
        row = (
            connection.execute(self._runs_query().where(provisioning_runs.c.id == run_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"no provisioning run {run_id!r}")
        steps = (
            connection.execute(
                select(provisioning_steps)
                .where(provisioning_steps.c.run_id == run_id)
                .order_by(provisioning_steps.c.position)
            )
            .mappings()
            .all()
        )
        return self._run(row, tuple(step_record(step) for step in steps))

    def list_provisioning_runs(
        self,
        application: str | None = None,
        context_identifier: str | None = None,
        *,
        outcome: str | None = None,
        limit: int = DEFAULT_AUDIT_LIMIT,
    ) -> list[ProvisioningRun]:
        """Runs, newest first (without their steps: see :meth:`get_provisioning_run`)."""
        query = self._runs_query().order_by(
            provisioning_runs.c.started_at.desc(), provisioning_runs.c.id
        )
        if context_identifier is not None:
            query = query.where(provisioning_runs.c.context_identifier == context_identifier)
        if outcome is not None:
            query = query.where(provisioning_runs.c.outcome == outcome)
        rows = self._rows_of(query, provisioning_runs.c.application_id, application, limit=limit)
        return [self._run(row) for row in rows]

    def latest_runs_of(
        self, tenants: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], ProvisioningRun]:
        """The newest run of each (application id, tenant) in ``tenants`` (a page of a table),
        keyed by (application id, tenant casefolded); tenants without a run are absent. One
        statement, whatever the number of runs stored."""
        if not tenants:
            return {}
        app_ids = sorted({app_id for app_id, _ in tenants})
        folded = sorted({ctx.casefold() for _, ctx in tenants})
        query = (
            self._runs_query()
            .where(provisioning_runs.c.application_id.in_(app_ids))
            .where(func.lower(provisioning_runs.c.context_identifier).in_(folded))
            .order_by(provisioning_runs.c.started_at.desc(), provisioning_runs.c.id)
        )
        wanted = {(app_id, ctx.casefold()) for app_id, ctx in tenants}
        latest: dict[tuple[str, str], ProvisioningRun] = {}
        with self._read() as connection:
            for row in connection.execute(query).mappings():
                key = (row["application_id"], row["context_identifier"].casefold())
                if key in wanted and key not in latest:
                    latest[key] = self._run(row)
        return latest
