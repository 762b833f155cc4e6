"""The Overview page: metrics, "needs attention" items, charts, Check drift."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from data.core import (
    _action,
    _guarded,
    _operator_only,
    _read_model,
    workspace,
)
from data.jobs import (
    JobsSummary,
)
from data.provisioning import (
    DASHBOARD_CONCURRENCY,
    OVERVIEW_RUNS_LIMIT,
    PROVISIONING_STATES,
)
from toolkit.auth.tickets import TICKET_REFRESH_MARGIN, TICKET_WINDOW
from toolkit.provisioning import (
    fleet_targets,
    plan_fleet,
)
from toolkit.store.records import (
    ProvisioningRun,
)
from toolkit.store.repository import utc_now
from toolkit.tenant_events import is_running_state
from toolkit.workspace import Workspace


@dataclass(frozen=True)
class Attention:
    """One "needs attention" item of the Overview: what it is, and the page (a views/ name)
    with the query parameters that open the filtered view listing it."""

    text: str
    page: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Overview:
    """The Overview page's numbers: ``metrics`` (label -> value), the tenants by last known
    state and the runs per day (chart frames), and what needs attention in the store."""

    metrics: dict[str, int]
    states: pd.DataFrame
    runs: pd.DataFrame
    attention: tuple[Attention, ...] = ()


def _counted(values: Iterable[str], column: str, order: Iterable[str] = ()) -> pd.DataFrame:
    counts: dict[str, int] = dict.fromkeys(order, 0)
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return pd.DataFrame(
        [{column: key, "Tenants": count} for key, count in counts.items() if count],
        columns=[column, "Tenants"],
    )


def _latest_runs(
    ws: Workspace, runs: Iterable[ProvisioningRun] | None = None
) -> dict[tuple[str, str], str]:
    latest: dict[tuple[str, str], str] = {}
    if runs is None:
        runs = ws.provisioning.runs(limit=OVERVIEW_RUNS_LIMIT)
    for run in runs:  # newest first
        latest.setdefault((run.application_id, run.context_identifier.casefold()), run.outcome)
    return latest


def _run_state(outcome: str | None) -> str:
    if outcome is None:
        return "never provisioned"
    if outcome in ("failed", "partial"):
        return "failed"
    return "applied" if outcome == "succeeded" else "unknown"


# Named tenants per "needs attention" kind (tickets expiring, failed runs): the rest are counted.
ATTENTION_NAMED = 5


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


@_guarded
def overview() -> Overview:
    """Counts across every application and tenant, from the store only: nothing is asked of
    SuperOffice (no state API call, no ticket exchange, no plan). Set-based: counts by status
    and by state in SQL, the active records' keys and their tickets in one query each."""
    workspace()
    return _overview()


@_read_model
def _overview() -> Overview:
    ws = workspace()
    now = utc_now()
    names = {app.id: app.name for app in ws.repository.list_applications()}
    by_status: dict[str, int] = {}
    for (_app_id, status), count in ws.repository.authorization_counts().items():
        by_status[status] = by_status.get(status, 0) + count
    states: dict[str, int] = {}
    running = 0
    for state, count in ws.repository.tenant_state_counts().items():
        states[state or "unknown"] = states.get(state or "unknown", 0) + count
        running += count if is_running_state(state) else 0
    never_checked = ws.repository.authorization_page(status="active", checked=False, limit=1)
    # The active records' stored tickets counted in SQL, the first few expiring named.
    tickets = ws.repository.ticket_counts(
        now=now,
        window=TICKET_WINDOW,
        margin=TICKET_REFRESH_MARGIN,
        status="active",
        named=ATTENTION_NAMED,
    )
    runs = ws.provisioning.runs(limit=OVERVIEW_RUNS_LIMIT)
    per_day: dict[tuple[str, str], int] = {}
    for run in runs:
        key = (run.started_at.date().isoformat(), run.outcome)
        per_day[key] = per_day.get(key, 0) + 1
    runs_frame = pd.DataFrame(
        [{"Day": day, "Outcome": outcome, "Runs": n} for (day, outcome), n in per_day.items()],
        columns=["Day", "Outcome", "Runs"],
    ).sort_values("Day", ignore_index=True)
    newest: dict[tuple[str, str], ProvisioningRun] = {}
    for run in runs:  # newest first
        newest.setdefault((run.application_id, run.context_identifier.casefold()), run)
    failed_now = [
        (run.application_id, run.context_identifier)
        for run in newest.values()
        if _run_state(run.outcome) == "failed"
    ]
    metrics = {
        "Applications": len(names),
        "Active tenants": by_status.get("active", 0),
        "Running": running,
        "Never checked": never_checked.total,
        "Tickets valid": tickets.valid,
        "Tickets expiring": tickets.expiring,
        "Runs": len(runs),
        "Failed runs": sum(1 for run in runs if run.outcome in ("failed", "partial")),
    }
    attention: list[Attention] = []
    if never_checked.total:
        attention.append(
            Attention(
                _plural(never_checked.total, "active tenant was", "active tenants were")
                + " never checked (no state from the state API or a webhook)",
                "tenants",
                {"status": "active", "state": "never"},
            )
        )
    if by_status.get("needs_reconsent"):
        attention.append(
            Attention(
                _plural(by_status["needs_reconsent"], "tenant needs", "tenants need")
                + " a tenant administrator's re-approval",
                "tenants",
                {"status": "needs_reconsent"},
            )
        )
    for record in tickets.expiring_first:
        app, ctx = (
            names.get(record.application_id, record.application_id),
            record.context_identifier,
        )
        attention.append(
            Attention(
                f"The system user ticket of {ctx} ({app}) is about to expire",
                "tenants",
                {"application": app, "search": ctx},
            )
        )
    for app_id, ctx in failed_now[:ATTENTION_NAMED]:
        app = names.get(app_id, app_id)
        attention.append(
            Attention(
                f"The last provisioning run of {ctx} ({app}) failed",
                "provisioning",
                {"application": app},
            )
        )
    hidden = tickets.expiring - len(tickets.expiring_first)
    hidden += max(0, len(failed_now) - ATTENTION_NAMED)
    if hidden:
        attention.append(
            Attention(
                f"… and {_plural(hidden, 'more tenant', 'more tenants')} with an expiring "
                "ticket or a failed run",
                "tenants",
                {"status": "active"},
            )
        )
    return Overview(
        metrics=metrics,
        states=_tallied(states, "State"),
        runs=runs_frame,
        attention=tuple(attention),
    )


def job_attention(jobs: JobsSummary) -> list[Attention]:
    """The Overview's items for jobs: failed jobs, and the tenants the nightly drift check
    found drifted (per application)."""
    items = []
    failed = int((jobs.failed["Status"] == "failed").sum()) if len(jobs.failed) else 0
    if failed:
        items.append(
            Attention(
                _plural(failed, "recent job", "recent jobs") + " failed",
                "jobs",
                {"status": "failed"},
            )
        )
    if len(jobs.drifted):
        for app, count in jobs.drifted["Application"].value_counts(sort=False).items():
            items.append(
                Attention(
                    f"{_plural(int(count), 'tenant', 'tenants')} of {app} drifted from the "
                    "manifest at the last drift check",
                    "provisioning",
                    {"application": str(app), "tenants": "drifted"},
                )
            )
    return items


def _tallied(counts: dict[str, int], column: str) -> pd.DataFrame:
    """Counts already made (by SQL), as a chart's frame, in the order first seen."""
    return pd.DataFrame(
        [{column: key, "Tenants": count} for key, count in counts.items() if count],
        columns=[column, "Tenants"],
    )


@_action
@_operator_only("check_drift")
@_guarded
def check_drift() -> pd.DataFrame:
    """Plan every active tenant of every application with a manifest (this reads every
    tenant: run it on request) and say for each: up to date, drifted, failed (its last run
    failed and it is still drifted), not running, no manifest or unknown (the plan failed).
    Columns: Application, Tenant, Provisioning."""
    ws = workspace()
    latest = _latest_runs(ws)
    rows: list[dict[str, str]] = []
    with_manifest = []
    for app, ctx in fleet_targets(ws.repository):
        if ws.repository.get_application_manifest(app.id) is None:
            rows.append({"Application": app.name, "Tenant": ctx, "Provisioning": "no manifest"})
        else:
            with_manifest.append((app, ctx))
    summary = plan_fleet(ws.provisioning, with_manifest, concurrency=DASHBOARD_CONCURRENCY)
    by_name = {app.name: app for app, _ in with_manifest}
    for result in summary.results:
        plan = result.value
        if plan is None:
            state = "not running" if result.outcome == "skipped" else "unknown"
        elif plan.is_empty:
            state = "up to date"
        else:
            app_id = by_name[result.application].id
            last = latest.get((app_id, result.context_identifier.casefold()))
            state = "failed" if last in ("failed", "partial") else "drifted"
        rows.append(
            {
                "Application": result.application,
                "Tenant": result.context_identifier,
                "Provisioning": state,
            }
        )
    return pd.DataFrame(rows, columns=["Application", "Tenant", "Provisioning"])


def provisioning_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Tenants per category of a :func:`check_drift` table, in chart order."""
    return _counted(table["Provisioning"], "Provisioning", PROVISIONING_STATES)
