"""The Tenants page: a page of authorization records, one record's detail, Renew ticket and
Check state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from data.core import (
    AUDIT_COLUMNS,
    AUDIT_TRAIL_LIMIT,
    CHECKED,
    CLAIM_COLUMNS,
    HISTORY_COLUMNS,
    HISTORY_LIMIT,
    TENANT_COLUMNS,
    DashboardError,
    _action,
    _application_names,
    _both,
    _frame,
    _guarded,
    _operator_only,
    _read_model,
    _when,
    actor_name,
    logger,
    relative_time,
    workspace,
)
from toolkit.audit import describe_event
from toolkit.auth.tickets import TicketStatus
from toolkit.claims import SECRET_CLAIMS, SUPEROFFICE_CLAIM_PREFIX
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    NeedsReapprovalError,
    NotFoundError,
    ToolkitError,
)
from toolkit.store.records import (
    AuditEvent,
    AuthorizationPage,
    StateChange,
    TenantStateRecord,
)
from toolkit.store.repository import utc_now
from toolkit.store.schema import AUTHORIZATION_STATUSES
from toolkit.tenant_events import is_running_state

# -- tenants -------------------------------------------------------------------------------------

NEEDS_RECONSENT_ADVICE = (
    "the authorization needs re-approval by a tenant administrator: click Install on the "
    "Applications page and approve the application again in this tenant"
)


def _ticket_text(status: TicketStatus) -> str:
    """ "valid until …", "expired …", "none", "needs reconsent" or "revoked"; never the ticket."""
    if status.authorization_status == "needs_reconsent":
        return "needs reconsent"
    if status.authorization_status == "revoked":
        return "revoked"
    if status.held is None or status.valid_until is None:
        return "none"
    if status.valid_until <= utc_now():
        return f"expired {relative_time(status.valid_until)}"
    return relative_time(status.valid_until)


# Records per page of the Tenants table.
TENANTS_PAGE_SIZE = 50
STATUSES: tuple[str, ...] = AUTHORIZATION_STATUSES


@dataclass(frozen=True)
class TenantsPage:
    """One page of the Tenants table: its rows, the (application name, tenant) of each row in
    order (for the detail), how many records match in all, and which page of how many."""

    table: pd.DataFrame
    choices: list[tuple[str, str]]
    total: int
    page: int
    pages: int


@_guarded
def tenants_page(
    application: str | None = None,
    *,
    search: str = "",
    status: str | None = None,
    checked: str | None = None,
    page: int = 1,
    page_size: int = TENANTS_PAGE_SIZE,
) -> TenantsPage:
    """A page of the authorization records (all, or one application's; those whose tenant,
    company or approver contains ``search``; with ``status``; ``checked`` :data:`NEVER_CHECKED`
    or :data:`CHECKED`), without any token. Set-based: the page and its total, then the
    tickets, last known states and latest runs of its records in one query each, and the last
    drift check's drifted tenants (the store only: no state API call, no ticket exchange)."""
    workspace()
    known = None if checked is None else checked == CHECKED
    return _tenants_page(
        application, search.strip(), status, checked=known, page=max(page, 1), page_size=page_size
    )


@_read_model
def _tenants_page(
    application: str | None,
    search: str,
    status: str | None,
    *,
    checked: bool | None,
    page: int,
    page_size: int,
) -> TenantsPage:
    ws = workspace()
    apps = _application_names(ws)
    now = utc_now()

    def read(number: int) -> AuthorizationPage:
        return ws.repository.authorization_page(
            application,
            search=search or None,
            status=status,
            checked=checked,
            limit=page_size,
            offset=(number - 1) * page_size,
        )

    found = read(page)
    pages = max(1, -(-found.total // page_size))
    if page > pages:  # fewer records than when the page was chosen: show the last page
        page = pages
        found = read(page)
    records = found.records
    tickets = {
        (status.application_id, status.context_identifier): status
        for status in ws.tenants.tickets.ticket_statuses(authorizations=records)
    }
    states = ws.repository.tenant_states_of([record.id for record in records])
    runs = ws.repository.latest_runs_of(
        [(record.application_id, record.context_identifier) for record in records]
    )
    drifted = _drifted()
    rows = []
    choices = []
    for record in records:
        app = apps.get(record.application_id)
        name = app.name if app else record.application_id
        choices.append((name, record.context_identifier))
        ticket = tickets.get((record.application_id, record.context_identifier))
        state = states.get(record.id)
        run = runs.get((record.application_id, record.context_identifier.casefold()))
        pending = drifted.get((name, record.context_identifier.casefold()))
        rows.append(
            {
                "Tenant": record.context_identifier,
                "Company": record.company_name or "",
                "Application": name,
                "Status": record.status,
                "State": _state_text(state, now),
                "Ticket valid until": "none" if ticket is None else _ticket_text(ticket),
                "Last provisioning": (
                    "never"
                    if run is None
                    else f"{run.outcome} {relative_time(run.started_at, now)}"
                ),
                "Drift": "" if pending is None else f"{pending} pending steps",
                "Approved by": record.approved_by or "",
                "State checked (UTC)": _when(state.checked_at) if state else "",
                "Ticket valid until (UTC)": (
                    _when(ticket.valid_until) if ticket and ticket.held else ""
                ),
                "Last provisioning (UTC)": "" if run is None else _when(run.started_at),
            }
        )
    return TenantsPage(_frame(rows, TENANT_COLUMNS), choices, found.total, page, pages)


@dataclass(frozen=True)
class TenantDetail:
    """One authorization record for display: facts, non-secret claims, audit trail."""

    application: str
    context_identifier: str
    facts: dict[str, str] = field(default_factory=dict)
    claims: pd.DataFrame = field(default_factory=lambda: _frame([], CLAIM_COLUMNS))
    audit: pd.DataFrame = field(default_factory=lambda: _frame([], AUDIT_COLUMNS))
    history: pd.DataFrame = field(default_factory=lambda: _frame([], HISTORY_COLUMNS))


# JWT claims that are seconds since the epoch (RFC 7519 section 4.1, OpenID Connect Core 2):
# shown as times, never as a raw number.
TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time"})


def _claim_rows(claims: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for uri, value in sorted(claims.items()):
        if uri in SECRET_CLAIMS:  # the store refuses them; never show one regardless
            continue
        short = uri.removeprefix(SUPEROFFICE_CLAIM_PREFIX)
        if short in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
            text = _both(datetime.fromtimestamp(value, UTC))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append({"Claim": short, "Value": text, "URI": uri})
    return rows


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "At": _when(event.at),
        "Actor": event.actor,
        "Action": event.action,
        "Summary": describe_event(event.action, event.summary),
    }


def _state_text(record: TenantStateRecord | None, now: datetime | None = None) -> str:
    """ "Running · 2 h ago" from the last known state (not running says so); "never checked"
    without one."""
    if record is None:
        return "never checked"
    name = record.state or "Unknown"
    if not is_running_state(record.state):
        name += " (not running)"
    via = " via webhook" if record.source == "webhook" else ""
    return f"{name} · {relative_time(record.checked_at, now)}{via}"


def _drifted() -> dict[tuple[str, str], int]:
    """The last nightly drift check's drifted tenants: (application, tenant casefolded) ->
    pending steps. Empty when the job engine has no drift check (or cannot be read)."""
    from toolkit.jobs.upkeep import drifted_tenants

    try:
        found = drifted_tenants(workspace().jobs)
    except Exception as exc:  # the table stays useful without its Drift column
        logger.warning("the last drift check could not be read: %s", type(exc).__name__)
        return {}
    return {(app, ctx.casefold()): steps for app, ctx, steps in found}


def _history_row(change: StateChange) -> dict[str, Any]:
    return {
        "Received at": _when(change.received_at),
        "Change": change.change_type or "",
        "Version": change.version_name or "",
        "Public endpoint": change.public_endpoint or "",
        "Outcome": change.outcome.value,
        "Reason": change.reason or "",
    }


@_guarded
def tenant_detail(app: str, ctx: str) -> TenantDetail:
    """The record for ``app`` in tenant ``ctx``: its facts, non-secret claims and audit trail."""
    workspace()
    return _tenant_detail(app, ctx)


@_read_model
def _tenant_detail(app: str, ctx: str) -> TenantDetail:
    ws = workspace()
    try:
        application = ws.repository.get_application(app)
        record = ws.repository.get_authorization(application.name, ctx)
    except NotFoundError as exc:
        raise DashboardError(str(exc)) from None
    ticket = ws.tenants.tickets.ticket_status(application.id, ctx)
    state = ws.repository.get_tenant_state(application.id, ctx)
    facts = {
        "Tenant": record.context_identifier,
        "Company": record.company_name or "",
        "Application": application.name,
        "Environment": application.environment,
        "Serial": record.serial or "",
        "Web API URL": record.webapi_url or "",
        "NetServer URL": record.netserver_url or "",
        "Approved by": record.approved_by or "",
        "Approved by associate": (
            "" if record.approved_by_associate_id is None else str(record.approved_by_associate_id)
        ),
        "Approved at": _both(record.approved_at),
        "Status": record.status,
        "System user token held": "yes" if record.has_system_user_token else "no",
        "System user ticket": _ticket_text(ticket),
        "Ticket valid until": _when(ticket.valid_until) if ticket.held else "",
        "Tenant state": _state_text(state),
        "State checked": "" if state is None else _when(state.checked_at),
        "Updated": _both(record.updated_at),
    }
    changes = ws.tenant_events.history(
        application=application.id, context_identifier=ctx, limit=HISTORY_LIMIT
    )
    events = ws.repository.list_audit(
        application=application.name, context_identifier=ctx, limit=AUDIT_TRAIL_LIMIT
    )
    return TenantDetail(
        application=application.name,
        context_identifier=ctx,
        facts=facts,
        claims=_frame(_claim_rows(dict(record.claims)), CLAIM_COLUMNS),
        audit=_frame((_audit_row(event) for event in events), AUDIT_COLUMNS),
        history=_frame((_history_row(change) for change in changes), HISTORY_COLUMNS),
    )


@_action
@_operator_only("renew_ticket")
@_guarded
def renew_ticket(app: str, ctx: str) -> str:
    """Exchange a new system user ticket for ``app`` in ``ctx`` now; returns its validity.

    Exactly one exchange (the ticket manager's single flight still applies). A revoked or
    re-approval answer marks the record ``needs_reconsent`` and comes back as a
    :class:`DashboardError` saying what to do; the ticket itself is never returned.
    """
    ws = workspace()
    application = ws.repository.get_application(app)
    try:
        renewed = ws.tenants.tickets.renew(application.id, ctx, actor=actor_name())
    except (AuthorizationRevokedError, NeedsReapprovalError) as exc:
        raise DashboardError(f"{exc}. {NEEDS_RECONSENT_ADVICE}.") from None
    except AuthorizationNotActiveError as exc:
        if exc.status != "needs_reconsent":
            raise
        raise DashboardError(f"{exc}. {NEEDS_RECONSENT_ADVICE}.") from None
    return f"New system user ticket for {ctx}, valid until {_when(renewed.valid_until)}."


@dataclass(frozen=True)
class StateCheck:
    """What a Check state click found: the state's name, whether it runs, a sentence."""

    state: str
    running: bool
    message: str


@_action
@_operator_only("check_state")
@_guarded
def check_state(app: str, ctx: str) -> StateCheck:
    """Ask the state API about tenant ``ctx`` now (one call) and store the answer as its last
    known state. A state API that cannot be asked comes back as a :class:`DashboardError`
    naming the toolkit's error type."""
    ws = workspace()
    application = ws.repository.get_application(app)
    try:
        status = ws.tenants.status(application.id, ctx, refresh=True)
    except ToolkitError as exc:
        raise DashboardError(f"{type(exc).__name__}: {exc}") from None
    ws.tenant_events.record_status(application.id, status, actor=actor_name())
    state = status.state_name or status.state.name
    running = status.is_available
    message = (
        f"{status.context_identifier} is {state} ({'running' if running else 'not running'})"
        f" at {status.endpoint or 'no endpoint'}; valid until {_when(status.valid_until)}."
    )
    return StateCheck(state=state, running=running, message=message)
