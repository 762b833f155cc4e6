"""The Provisioning page: manifests, plans, applies and recent runs."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.core import (
    MODELS,
    DashboardError,
    _action,
    _application_names,
    _frame,
    _guarded,
    _operator_only,
    _read_model,
    _when,
    actor_name,
    invalidate,
    workspace,
)
from toolkit.errors import (
    ManifestError,
)
from toolkit.provisioning import (
    FleetEvent,
    FleetSummary,
    Plan,
    apply_fleet,
    fleet_targets,
    plan_fleet,
    preset_text,
)

# -- provisioning (the Provisioning and Overview pages) ----------------------------------------

PLAN_COLUMNS = ["Tenant", "Status", "Create", "Update", "Delete", "Unchanged", "Error"]
STEP_COLUMNS = ["Tenant", "Action", "Kind", "Key", "Detail"]
RESULT_COLUMNS = ["Tenant", "Outcome", "Steps", "Run", "Error"]
RUN_COLUMNS = [
    "Started",
    "Finished",
    "Application",
    "Tenant",
    "Operation",
    "Outcome",
    "Steps",
    "Actor",
    "Error",
]
# Recent runs shown on the Provisioning page: a screenful, newest first.
RECENT_RUNS_LIMIT = 50
# Runs the Overview charts over time: enough history for a few weeks of operating.
OVERVIEW_RUNS_LIMIT = 1000
# Tenants planned or applied at once from the dashboard: the Streamlit server is shared.
DASHBOARD_CONCURRENCY = 4
# How often the apply loop looks for the fleet's next event (seconds).
EVENT_POLL = 0.1
# Provisioning categories of the Overview, in chart order.
PROVISIONING_STATES = (
    "up to date",
    "drifted",
    "failed",
    "applied",
    "never provisioned",
    "not running",
    "no manifest",
    "unknown",
)
TICKET_STATES = ("valid", "expiring", "none")


@dataclass(frozen=True)
class PlanSet:
    """Plans of one application in some tenants, for display, and the ones an Apply performs
    (``plans``: the drifted tenants' plans, without conflicts). Plans are toolkit objects the
    pages only hand back to :func:`apply_provisioning`."""

    application: str
    summary: pd.DataFrame
    steps: pd.DataFrame
    plans: tuple[Plan, ...] = ()

    @property
    def pending_steps(self) -> int:
        return sum(len(plan.pending) for plan in self.plans)


@dataclass(frozen=True)
class ApplyProgress:
    """One fleet event, for a progress bar: ``done`` of ``total`` tenants finished."""

    done: int
    total: int
    kind: str
    context_identifier: str | None
    message: str = ""


@_guarded
def provisioning_manifest(app: str) -> str | None:
    """What the application's stored manifest holds, in a line; None when it has none."""
    workspace()
    return _provisioning_manifest(app)


@_read_model
def _provisioning_manifest(app: str) -> str | None:
    manifest = workspace().provisioning.manifest_for(app)
    if manifest is None:
        return None
    return (
        f"{len(manifest.lists)} list(s), {len(manifest.all_web_panels())} web panel(s) "
        f"({len(manifest.buttons)} button(s)); digest {manifest.digest[:12]}"
    )


@_guarded
def provisioning_tenants(app: str) -> list[str]:
    """The tenants where ``app`` is actively authorized (what can be provisioned)."""
    workspace()
    return _provisioning_tenants(app)


@_read_model
def _provisioning_tenants(app: str) -> list[str]:
    keys = workspace().repository.authorization_keys(app, status="active")
    return [key.context_identifier for key in keys]


def _step_detail(changes: Iterable[Any], note: str) -> str:
    fields = [change.field for change in changes]
    return "changes " + ", ".join(fields) if fields else note


@_action
@_operator_only("plan")
@_guarded
def plan_provisioning(app: str, tenants: Iterable[str] | None = None) -> PlanSet:
    """Plan ``app`` in ``tenants`` (None: every active authorization of it). A tenant is
    *drifted* when its plan is not empty; only drifted tenants' plans are applied."""
    ws = workspace()
    application = ws.repository.get_application(app)
    if ws.provisioning.manifest_for(application.id) is None:
        raise DashboardError(f"{application.name} has no manifest yet: store one first.")
    targets = fleet_targets(ws.repository, application.id)
    if tenants is not None:
        wanted = {ctx.casefold() for ctx in tenants}
        targets = [(a, ctx) for a, ctx in targets if ctx.casefold() in wanted]
    if not targets:
        raise DashboardError("Choose at least one tenant to plan.")
    summary: FleetSummary[Plan] = plan_fleet(
        ws.provisioning, targets, concurrency=DASHBOARD_CONCURRENCY
    )
    rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    plans: list[Plan] = []
    for result in summary.results:
        plan = result.value
        if plan is None:
            status = "not running" if result.outcome == "skipped" else "failed"
            rows.append(
                {"Tenant": result.context_identifier, "Status": status, "Error": result.error or ""}
            )
            continue
        counts = plan.counts()
        status = "up to date" if plan.is_empty else "drifted"
        if plan.conflicts:
            status = "conflict"
        elif not plan.is_empty:
            plans.append(plan)
        rows.append(
            {
                "Tenant": plan.context_identifier,
                "Status": status,
                "Create": counts["create"],
                "Update": counts["update"],
                "Delete": counts["delete"],
                "Unchanged": counts["unchanged"],
                "Error": "; ".join(plan.conflicts),
            }
        )
        steps.extend(
            {
                "Tenant": plan.context_identifier,
                "Action": str(step.action),
                "Kind": str(step.kind),
                "Key": step.key,
                "Detail": _step_detail(step.changes, step.note),
            }
            for step in plan.pending
        )
    table = _frame(rows, PLAN_COLUMNS)
    for column in ("Create", "Update", "Delete", "Unchanged"):
        table[column] = table[column].astype("Int64")
    return PlanSet(application.name, table, _frame(steps, STEP_COLUMNS), tuple(plans))


@_action
@_operator_only("apply")
@_guarded
def apply_provisioning(
    plan_set: PlanSet, on_progress: Callable[[ApplyProgress], None] | None = None
) -> pd.DataFrame:
    """Apply the drifted tenants' plans of ``plan_set`` (one run per tenant, recorded with the
    dashboard as actor); a tenant changed since its plan is refused as stale. ``on_progress``
    is called on the calling thread (Streamlit's) for every fleet event; the fleet itself runs
    on worker threads. Returns one row per tenant: outcome, steps done, run id, error."""
    ws = workspace()
    applications = _application_names(ws)
    targets = [
        (applications[plan.application_id], plan.context_identifier)
        for plan in plan_set.plans
        if plan.application_id in applications
    ]
    if not targets:
        raise DashboardError("Nothing to apply: every tenant planned is up to date.")
    events: queue.Queue[FleetEvent] = queue.Queue()
    outcome: dict[str, Any] = {}

    actor = actor_name()  # here, on the session's thread: the worker has no st.user

    def work() -> None:
        try:
            outcome["summary"] = apply_fleet(
                ws.provisioning,
                targets,
                actor=actor,
                plans=plan_set.plans,
                concurrency=DASHBOARD_CONCURRENCY,
                on_event=events.put,
            )
        except Exception as exc:  # re-raised below, on the page's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="dashboard-apply", daemon=True)
    worker.start()
    while worker.is_alive() or not events.empty():
        try:
            event = events.get(timeout=EVENT_POLL)
        except queue.Empty:
            continue
        if on_progress is not None:
            counts = event.counts
            on_progress(
                ApplyProgress(
                    counts.finished,
                    counts.total,
                    event.kind,
                    event.context_identifier,
                    event.message,
                )
            )
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    summary: FleetSummary[Any] = outcome["summary"]
    rows = []
    for result in summary.results:
        run = result.value
        done = 0 if run is None else sum(1 for s in run.steps if s.outcome != "failed")
        rows.append(
            {
                "Tenant": result.context_identifier,
                "Outcome": result.outcome if run is None else run.outcome,
                "Steps": "" if run is None else f"{done}/{run.steps_total}",
                "Run": "" if run is None else run.id,
                "Error": "" if not result.error else f"{result.error_type}: {result.error}",
            }
        )
    return _frame(rows, RESULT_COLUMNS)


@_guarded
def recent_runs(app: str | None = None, limit: int = RECENT_RUNS_LIMIT) -> pd.DataFrame:
    """Stored provisioning runs (all, or one application's), newest first."""
    workspace()
    return _recent_runs(app, limit)


@_read_model
def _recent_runs(app: str | None, limit: int) -> pd.DataFrame:
    runs = workspace().provisioning.runs(app, limit=limit)
    rows = (
        {
            "Started": _when(run.started_at),
            "Finished": _when(run.finished_at),
            "Application": run.application,
            "Tenant": run.context_identifier,
            "Operation": run.operation,
            "Outcome": run.outcome,
            "Steps": run.steps_total,
            "Actor": run.actor,
            "Error": run.error or "",
        }
        for run in runs
    )
    return _frame(rows, RUN_COLUMNS)


@_guarded
def manifest_preset(model: str) -> str:
    """The TOML text of the toolkit's preset for an application model: a manifest to start
    from (it validates as it is)."""
    if model not in MODELS:
        raise DashboardError(
            f"There is no preset for {model!r}; choose one of {', '.join(MODELS)}."
        )
    return preset_text(model)


@_action
@_operator_only("store_manifest")
@_guarded
def store_manifest(app: str, text: str) -> str:
    """Validate and store ``app``'s manifest (TOML text); an invalid one changes nothing and
    comes back as a :class:`DashboardError` listing every ``line: field: problem``."""
    try:
        workspace().provisioning.set_manifest(app, text, actor=actor_name())
    except ManifestError as exc:
        raise DashboardError(
            "The manifest is not valid:\n\n- " + "\n- ".join(exc.lines())
        ) from None
    invalidate()  # the outline below is read anew, not the cached one of the old manifest
    return provisioning_manifest(app) or "no manifest"
