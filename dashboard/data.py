"""The dashboard's one door to the toolkit: plain rows and DataFrames, never a secret.

This is the only dashboard module that imports ``toolkit`` (DESIGN.md, "Rooms and doors"); the
pages import ``data`` and render what it returns. Every table is built column by column from
the records' non-secret fields: a client secret, private key, system user token or refresh
token is never read here (no ``Secret.reveal()`` anywhere in the dashboard), so it cannot reach
the rendered page. At most a key fingerprint and a "system user token held" flag are shown.
System user tickets are described by the ticket manager's ``ticket_status`` (where one is held
and until when), which neither decrypts nor exchanges; the only action that exchanges is
:func:`renew_ticket`, and it returns the new validity, never the ticket.

Errors the operator can act on come back as :class:`DashboardError` carrying the toolkit's own
message (which never holds a secret); pages show them with ``st.error``, never a traceback.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, ParamSpec, TypeVar

import pandas as pd
import streamlit as st
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from toolkit.applications import APPLICATION_KINDS, APPLICATION_MODELS
from toolkit.audit import audit_csv, describe_event
from toolkit.auth.tickets import TicketStatus
from toolkit.claims import SECRET_CLAIMS, SUPEROFFICE_CLAIM_PREFIX
from toolkit.config import Settings, is_loopback_host
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    KeyFormatError,
    ManifestError,
    NeedsReapprovalError,
    NotFoundError,
    ToolkitError,
)
from toolkit.operators import (
    Operator,
    load_auth_settings,
    parse_operators,
    record_sign_in_event,
    resolve_operator,
)
from toolkit.operators import can as role_can
from toolkit.provisioning import (
    FleetEvent,
    FleetSummary,
    Plan,
    apply_fleet,
    fleet_targets,
    plan_fleet,
    preset_text,
)
from toolkit.store.records import (
    Application,
    AuditEvent,
    Authorization,
    AuthorizationPage,
    ProvisioningRun,
    StateChange,
    TenantStateRecord,
)
from toolkit.store.repository import utc_now
from toolkit.store.schema import AUTHORIZATION_STATUSES, ENVIRONMENTS
from toolkit.tenant_events import is_running_state
from toolkit.workspace import Workspace

__all__ = [
    "AUDIT_TRAIL_LIMIT",
    "ENVIRONMENTS",
    "KINDS",
    "MODELS",
    "ApplicationChoice",
    "Approvals",
    "DashboardError",
    "InstallLink",
    "SidebarInfo",
    "StateCheck",
    "TenantDetail",
    "TenantsPage",
    "add_application",
    "add_emulator_application",
    "application_choices",
    "applications_table",
    "approvals_for",
    "callback_url",
    "check_state",
    "emulator_enabled",
    "install_link",
    "install_url",
    "invalidate",
    "renew_ticket",
    "reset",
    "sidebar_info",
    "state_change_url",
    "tenant_detail",
    "tenants_page",
    "workspace",
]

logger = logging.getLogger("dashboard")

# Who the audit trail names for changes made from the unauthenticated (loopback) dashboard;
# with operator sign-in it is the signed-in operator's email or subject (actor_name()).
ACTOR = "dashboard"
# Audit events shown in a tenant's detail view: a screenful, newest first.
AUDIT_TRAIL_LIMIT = 50
# The partner endpoint SuperID redirects to after sign-in and approval (toolkit/web).
CALLBACK_PATH = "/callback"

KINDS: tuple[str, ...] = tuple(APPLICATION_KINDS)
MODELS: tuple[str, ...] = tuple(APPLICATION_MODELS)

APPLICATION_COLUMNS = [
    "Name",
    "Environment",
    "Environment URL",
    "Client ID",
    "Kind",
    "Model",
    "Tenant",
    "Redirect URL",
    "Key fingerprint",
    "Approved tenants",
    "Created",
]
APPROVAL_COLUMNS = ["Tenant", "Company", "Approved by", "Approved at", "Status"]
# Approvals listed per application on the Applications page.
APPROVALS_SHOWN = 20
# The columns an operator acts on first; exact UTC times at the end (the relative ones are for
# reading at a glance).
TENANT_COLUMNS = [
    "Tenant",
    "Company",
    "Application",
    "Status",
    "State",
    "Ticket valid until",
    "Last provisioning",
    "Drift",
    "Approved by",
    "State checked (UTC)",
    "Ticket valid until (UTC)",
    "Last provisioning (UTC)",
]
# The Tenants page's "state known" filter: any, never checked, checked.
NEVER_CHECKED = "never"
CHECKED = "checked"
CLAIM_COLUMNS = ["Claim", "Value", "URI"]
AUDIT_COLUMNS = ["At", "Actor", "Action", "Summary"]
HISTORY_COLUMNS = ["Received at", "Change", "Version", "Public endpoint", "Outcome", "Reason"]
# State-change webhooks shown in a tenant's detail view: a screenful, newest first.
HISTORY_LIMIT = 50

P = ParamSpec("P")
R = TypeVar("R")


class DashboardError(Exception):
    """Something the operator can act on; ``str()`` is safe to show (it holds no secret)."""


# -- the workspace -------------------------------------------------------------------------------


def _release(resources: tuple[Settings, Workspace]) -> None:
    resources[1].close()


@st.cache_resource(show_spinner=False, on_release=_release)
def _resources() -> tuple[Settings, Workspace]:
    # Settings come from SOTK_* environment variables and .env, read once per process.
    settings = Settings()
    return settings, Workspace.open(settings)


def _opened() -> tuple[Settings, Workspace]:
    _require_sign_in()  # no data for anyone who has not passed the sign-in, on any page
    try:
        return _resources()
    except ToolkitError as exc:  # e.g. a wrong secret key: refuse, and say why
        raise DashboardError(f"The toolkit could not start: {exc}") from None
    except ValidationError as exc:  # settings from SOTK_* variables; never echo their values
        problems = "; ".join(
            f"SOTK_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise DashboardError(f"The toolkit settings are not valid: {problems}") from None


def workspace() -> Workspace:
    """The process-wide Workspace (opened once, cached with ``st.cache_resource``)."""
    return _opened()[1]


def _settings() -> Settings:
    return _opened()[0]


def reset() -> None:
    """Close the cached Workspace; the next call opens a fresh one (tests, settings changes)."""
    _resources.clear()
    invalidate()


# -- read models: cached briefly, dropped after every action ------------------------------------

# How long a read model (a page's table, the overview's counts) is reused, across sessions and
# pages: moving between pages does not re-read 10,000 rows. This process's own actions drop them
# at once (invalidate()); changes by other processes (webhooks at the partner endpoints, the CLI)
# show within this time, or on Refresh.
READ_MODEL_TTL = timedelta(seconds=30)
# Distinct arguments kept per read model (searches, pages, filters).
READ_MODEL_ENTRIES = 64

_read_models: list[Any] = []


def _read_model(func: Callable[P, R]) -> Callable[P, R]:
    """``st.cache_data`` for a read model, registered for :func:`invalidate`. Its callers check
    the sign-in first (a public function calls ``workspace()``, then the cached one), so a cached
    value is only ever handed to a signed-in operator."""
    cached = st.cache_data(ttl=READ_MODEL_TTL, max_entries=READ_MODEL_ENTRIES, show_spinner=False)(
        func
    )
    _read_models.append(cached)
    return cached


def invalidate() -> None:
    """Drop every cached read model: the next page run reads the store again."""
    for cached in _read_models:
        cached.clear()


def _action(func: Callable[P, R]) -> Callable[P, R]:
    """An action that changes the store: the read models are dropped when it returns or fails."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            invalidate()

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


# -- operators: sign-in and roles ----------------------------------------------------------------

# The test seam: AppTest cannot run st.login, so a test puts a dict of id_token claims here and
# it stands in for st.user. Only code can write session_state (no widget uses this key).
USER_OVERRIDE = "_sotk_signed_in_user"
VIEWER_BANNER = (
    "You are signed in as a **viewer**: you see everything here, read-only. Operators register "
    "applications, renew tickets, check states and drift, and plan and apply provisioning."
)
UNAUTHENTICATED_BANNER = (
    "This dashboard is **unauthenticated**: no operator sign-in is configured, so it serves on "
    "loopback only and everyone who can reach it acts as one local operator. Configure `[auth]` "
    "and `SOTK_OPERATORS` to let operators sign in (see the README)."
)


@dataclass(frozen=True)
class SignIn:
    """Who is using the dashboard. ``problem``: it must not serve at all (say why and stop);
    ``configured``: operator sign-in is on; ``operator``: the allow-listed person signed in
    (None when nobody is, or the signed-in identity is not on the allow-list)."""

    configured: bool
    problem: str | None = None
    logged_in: bool = False
    operator: Operator | None = None
    identity: str | None = None

    @property
    def role(self) -> str | None:
        return None if self.operator is None else self.operator.role


def _auth_section() -> dict[str, Any] | None:
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file at all, or one Streamlit cannot parse
        return None
    return None if section is None else dict(section)


def _signed_in_claims() -> dict[str, Any] | None:
    fake = st.session_state.get(USER_OVERRIDE)
    if fake is not None:
        return dict(fake)
    user = dict(st.user.to_dict())
    return user if user.get("is_logged_in") else None


def _served_beyond_loopback() -> str | None:
    """Why this unauthenticated dashboard must not serve this request, or None."""
    address = st.get_option("server.address")
    if address and not is_loopback_host(str(address)):
        return f"it listens on {address}"
    remote = st.context.ip_address  # None for a loopback client (and without a client)
    if isinstance(remote, str) and remote and not is_loopback_host(remote):
        return "this request comes from another machine"
    host_header = st.context.headers.get("Host")
    host = host_header.rsplit(":", 1)[0].strip("[]") if isinstance(host_header, str) else ""
    if host and not is_loopback_host(host):
        return f"it was reached as {host}"
    return None


def sign_in_state() -> SignIn:
    """The sign-in situation of this session (see :class:`SignIn`)."""
    try:
        auth = load_auth_settings(_auth_section())
    except ToolkitError as exc:
        return SignIn(configured=True, problem=f"The dashboard refuses to start: {exc}.")
    if auth is None:
        beyond = _served_beyond_loopback()
        if beyond is not None:
            return SignIn(
                configured=False,
                problem="The dashboard refuses to serve: no operator sign-in is configured, so "
                f"it serves on loopback only, and {beyond}.",
            )
        return SignIn(configured=False)
    try:
        settings = Settings()
        allowed = parse_operators(settings.operators)
    except (ToolkitError, ValidationError) as exc:
        reason = str(exc) if isinstance(exc, ToolkitError) else "the SOTK_* settings are invalid"
        return SignIn(configured=True, problem=f"The dashboard refuses to start: {reason}.")
    if not allowed:
        return SignIn(
            configured=True,
            problem="The dashboard refuses to start: operator sign-in is configured but "
            "SOTK_OPERATORS allow-lists nobody.",
        )
    claims = _signed_in_claims()
    if claims is None:
        return SignIn(configured=True)
    identity = claims.get("email") or claims.get("sub")
    operator = resolve_operator(claims, allowed, trusted_issuer=settings.operator_issuer)
    return SignIn(
        configured=True,
        logged_in=True,
        operator=operator,
        identity=identity if isinstance(identity, str) else None,
    )


# The (identity, role) whose sign-in or refusal this session has audited already. The audit
# writes through the store directly (_resources, not workspace()): a refused account may not
# read anything, but its refusal is recorded.
AUDITED_SIGN_IN = "_sotk_audited_sign_in"


def audit_sign_in(state: SignIn) -> None:
    """Record this session's sign-in, or its refusal (off the allow-list), once: the gate
    calls this on every rerun. An audit the store cannot take is logged, not fatal."""
    if not state.logged_in or state.problem is not None:
        return
    who = state.identity if state.operator is None else state.operator.identity
    key = (who, state.role)
    if st.session_state.get(AUDITED_SIGN_IN) == key:
        return
    event: Literal["signed_in", "refused"] = "refused" if state.operator is None else "signed_in"
    try:
        record_sign_in_event(_resources()[1].repository, who, event, role=state.role)
    except Exception as exc:  # the gate still decides; the log says the audit was missed
        logger.error("could not audit the operator %s: %s", event, type(exc).__name__)
        return
    st.session_state[AUDITED_SIGN_IN] = key


def log_out() -> None:
    """The Log out button's callback: audit the sign-out, then end the session."""
    state = sign_in_state()
    if state.logged_in and state.problem is None:
        who = state.identity if state.operator is None else state.operator.identity
        try:
            record_sign_in_event(_resources()[1].repository, who, "signed_out", role=state.role)
        except Exception as exc:
            logger.error("could not audit the sign-out: %s", type(exc).__name__)
    st.session_state.pop(AUDITED_SIGN_IN, None)
    st.logout()


def _require_sign_in() -> None:
    state = sign_in_state()
    if state.problem is not None:
        raise DashboardError(state.problem)
    if state.configured and state.operator is None:
        raise DashboardError("Sign in with an account on the operator allow-list first.")


def can(action: str) -> bool:
    """May this session perform ``action`` (see toolkit.operators.OPERATOR_ACTIONS)? Always
    on the unauthenticated loopback dashboard; operators only, with sign-in."""
    state = sign_in_state()
    if state.problem is not None:
        return False
    if not state.configured:
        return True
    return state.operator is not None and role_can(state.operator.role, action)


def actor_name() -> str:
    """Who the audit trail names for a change made in this session."""
    operator = sign_in_state().operator
    return ACTOR if operator is None else operator.identity


def _operator_only(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Refuse ``action`` to viewers even if a page offered it (pages hide the buttons too)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not can(action):
                raise DashboardError("Only operators may do this; you are signed in as a viewer.")
            return func(*args, **kwargs)

        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper

    return decorate


def _guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn toolkit errors into DashboardError; anything else into a message without details."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DashboardError:
            raise
        except KeyFormatError as exc:
            named = exc.element is None or f"<{exc.element}>" in str(exc)
            where = "" if named else f" (element <{exc.element}>)"
            raise DashboardError(f"The private key cannot be used: {exc}{where}") from None
        except ToolkitError as exc:
            raise DashboardError(str(exc)) from None
        except Exception as exc:
            # Log the type only: an unexpected exception's text or locals may hold input values.
            logger.error("dashboard action %s failed: %s", func.__name__, type(exc).__name__)
            raise DashboardError(
                f"Unexpected error ({type(exc).__name__}); see the dashboard's log."
            ) from None

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


# -- activity (the audit trail) -------------------------------------------------------------------

# Events the Activity page shows and its filters are drawn from: the newest this many.
ACTIVITY_LIMIT = 1000
# Events one CSV export holds at most.
EXPORT_LIMIT = 100_000
ACTIVITY_COLUMNS = ["At", "Actor", "Action", "Application", "Tenant", "Summary"]


@dataclass(frozen=True)
class ActivityFilter:
    """The Activity page's filters; None means any. ``since`` inclusive, ``until`` exclusive."""

    application: str | None = None
    tenant: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ActivityChoices:
    applications: list[str]
    tenants: list[str]
    actors: list[str]
    actions: list[str]


def _events(chosen: ActivityFilter, limit: int) -> list[AuditEvent]:
    return workspace().repository.list_audit(
        application=chosen.application,
        context_identifier=chosen.tenant,
        actor=chosen.actor,
        action=chosen.action,
        since=chosen.since,
        until=chosen.until,
        limit=limit,
    )


@_guarded
def activity_choices() -> ActivityChoices:
    """The values the filters offer: the audit trail's distinct applications, actors and
    actions (tenants are typed: there can be 10,000 of them)."""
    workspace()
    return _activity_choices()


@_read_model
def _activity_choices() -> ActivityChoices:
    facets = workspace().repository.audit_facets()
    return ActivityChoices(
        applications=list(facets.applications),
        tenants=[],
        actors=list(facets.actors),
        actions=list(facets.actions),
    )


@_guarded
def activity(chosen: ActivityFilter, limit: int = ACTIVITY_LIMIT) -> pd.DataFrame:
    """Audit events matching ``chosen``, newest first; summaries as JSON (never a secret:
    the store refuses secret-looking keys in them)."""
    workspace()
    return _activity(chosen, limit)


@_read_model
def _activity(chosen: ActivityFilter, limit: int) -> pd.DataFrame:
    rows = (
        {
            "At": _when(event.at),
            "Actor": event.actor,
            "Action": event.action,
            "Application": event.application or "",
            "Tenant": event.context_identifier or "",
            "Summary": describe_event(event.action, event.summary),
        }
        for event in _events(chosen, limit)
    )
    return _frame(rows, ACTIVITY_COLUMNS)


@_guarded
def activity_csv(chosen: ActivityFilter) -> str:
    """The matching audit events as CSV (toolkit.audit.audit_csv: redacted, formula-safe).
    Built only when asked (the Activity page's Prepare export button): up to
    :data:`EXPORT_LIMIT` events."""
    return audit_csv(_events(chosen, EXPORT_LIMIT))


# -- small formatting helpers --------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """ "in 3 h", "2 days ago", "just now": a time as an operator reads it at a glance (the
    exact time goes beside it)."""
    if value is None:
        return ""
    seconds = (value - (now or utc_now())).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "just now"
    if size < 3570:
        amount = f"{round(size / 60)} min"
    elif size < 2 * 86400:
        amount = f"{round(size / 3600)} h"
    else:
        amount = f"{round(size / 86400)} days"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def _both(value: datetime | None, now: datetime | None = None) -> str:
    """Relative, then exact: "in 5 h (2025-03-01 18:00:00 UTC)"."""
    if value is None:
        return ""
    return f"{relative_time(value, now)} ({_when(value)})"


def _frame(rows: Iterable[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=columns)


def _application_names(ws: Workspace) -> dict[str, Application]:
    return {app.id: app for app in ws.repository.list_applications()}


# -- sidebar -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SidebarInfo:
    environment: str
    emulator_url: str | None
    public_url: str
    home: str
    database: str


@_guarded
def sidebar_info() -> SidebarInfo:
    """Where the toolkit points: environment or emulator, the partner endpoints, the store."""
    settings = _settings()
    if settings.database_url:
        # A database URL may carry a password: show it masked.
        database = make_url(settings.database_url).render_as_string(hide_password=True)
    else:
        database = f"SQLite at {settings.home / 'toolkit.db'}"
    return SidebarInfo(
        environment="emulator" if settings.emulator_url else settings.environment,
        emulator_url=settings.emulator_url,
        public_url=settings.public_url,
        home=str(settings.home),
        database=database,
    )


def emulator_enabled() -> bool:
    """True when ``SOTK_EMULATOR_URL`` is set (the emulator registration form is offered)."""
    try:
        return bool(_settings().emulator_url)
    except DashboardError:
        return False


@_guarded
def callback_url() -> str:
    """The default redirect URL for a new application: the partner's ``/callback``."""
    settings = _settings()
    # The partner endpoints are at SOTK_PUBLIC_URL + SOTK_PARTNER_PREFIX.
    return settings.public_url + settings.partner_prefix + CALLBACK_PATH


# -- applications --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationChoice:
    """What a page needs to offer an application (for Install, filters): no credentials."""

    name: str
    kind: str
    environment: str
    tenant: str | None


@_guarded
def application_choices() -> list[ApplicationChoice]:
    workspace()
    return _application_choices()


@_read_model
def _application_choices() -> list[ApplicationChoice]:
    return [
        ApplicationChoice(app.name, app.kind, app.environment, app.tenant)
        for app in workspace().repository.list_applications()
    ]


@_guarded
def applications_table() -> pd.DataFrame:
    """One row per registered application; credentials are never among the columns."""
    workspace()
    return _applications_table()


@_read_model
def _applications_table() -> pd.DataFrame:
    ws = workspace()
    counts = ws.repository.authorization_counts()
    approved = {app_id: n for (app_id, status), n in counts.items() if status == "active"}
    rows = (
        {
            "Name": app.name,
            "Environment": app.environment,
            "Environment URL": app.environment_url or "",
            "Client ID": app.client_id,
            "Kind": app.kind,
            "Model": app.model,
            "Tenant": app.tenant or "",
            "Redirect URL": app.redirect_uri or "",
            "Key fingerprint": app.key_fingerprint or ("" if app.private_key is None else "held"),
            "Approved tenants": approved.get(app.id, 0),
            "Created": _when(app.created_at),
        }
        for app in ws.repository.list_applications()
    )
    return _frame(rows, APPLICATION_COLUMNS)


def _approval_row(record: Authorization) -> dict[str, Any]:
    return {
        "Tenant": record.context_identifier,
        "Company": record.company_name or "",
        "Approved by": record.approved_by or "",
        "Approved at": _when(record.approved_at),
        "Status": record.status,
    }


@dataclass(frozen=True)
class Approvals:
    """The first :data:`APPROVALS_SHOWN` approvals of an application, and how many in all."""

    table: pd.DataFrame
    total: int


@_guarded
def approvals_for(app: str) -> Approvals:
    """The tenants that have approved application ``app`` (name), with who approved and when:
    the first :data:`APPROVALS_SHOWN` by tenant (the Tenants page searches them all)."""
    workspace()
    return _approvals_for(app)


@_read_model
def _approvals_for(app: str) -> Approvals:
    page = workspace().repository.authorization_page(app, limit=APPROVALS_SHOWN)
    return Approvals(
        _frame((_approval_row(record) for record in page.records), APPROVAL_COLUMNS), page.total
    )


def _key_input(private_key: bytes | str | None) -> bytes | str | None:
    """An empty upload or paste means "no key"."""
    if private_key is None or not private_key.strip():
        return None
    return private_key


@_action
@_operator_only("add_application")
@_guarded
def add_application(
    *,
    name: str,
    environment: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    kind: str = "standard",
    model: str = "internal",
    private_key: bytes | str | None = None,
    tenant: str | None = None,
    environment_url: str | None = None,
) -> dict[str, Any]:
    """Register what the Developer Portal gave the partner; returns the new app's public facts.

    ``private_key`` is the key file's bytes or pasted text (RSAKeyValue XML or PEM); the
    toolkit validates it (a malformed key names the element at fault) and stores it as PEM.
    """
    if not name.strip():
        raise DashboardError("Give the application a name.")
    if not client_id.strip() or not client_secret:
        raise DashboardError("An application needs its client id and client secret.")
    app = workspace().applications.register(
        name=name.strip(),
        environment=environment,
        client_id=client_id.strip(),
        client_secret=client_secret,
        redirect_uri=redirect_uri.strip(),
        kind=kind,
        model=model,
        private_key=_key_input(private_key),
        tenant=(tenant or "").strip() or None,
        environment_url=(environment_url or "").strip() or None,
        actor=actor_name(),
    )
    return _registered(app)


@_action
@_operator_only("add_application")
@_guarded
def add_emulator_application(
    *,
    name: str,
    kind: str = "standard",
    model: str = "internal",
    tenant: str | None = None,
    vendor: str = "",
) -> dict[str, Any]:
    """Register an application with the emulator (it makes the credentials, as the portal does),
    with its state-change URL at the partner endpoints (``SOTK_PUBLIC_URL``)."""
    settings = _settings()
    if not settings.emulator_url:
        raise DashboardError("SOTK_EMULATOR_URL is not set: there is no emulator to register with.")
    if not name.strip():
        raise DashboardError("Give the application a name.")
    app = workspace().applications.register_with_emulator(
        name=name.strip(),
        emulator_url=settings.emulator_url,
        redirect_uri=settings.public_url + settings.partner_prefix + CALLBACK_PATH,
        kind=kind,
        model=model,
        tenant=(tenant or "").strip() or None,
        vendor=vendor,
        # Notifications reach {prefix}/state-change/{client_id} at the partner endpoints.
        public_url=settings.public_url + settings.partner_prefix,
        actor=actor_name(),
    )
    return _registered(app)


def _registered(app: Application) -> dict[str, Any]:
    return {
        "name": app.name,
        "environment": app.environment,
        "client_id": app.client_id,
        "kind": app.kind,
        "model": app.model,
        "tenant": app.tenant,
        "key_fingerprint": app.key_fingerprint,
    }


@_guarded
def install_url(app: str, tenant: str | None = None) -> str:
    """The partner endpoint's ``/install`` URL for ``app``; it redirects the browser to SuperID."""
    ws = workspace()
    application = ws.applications.get(app)
    return ws.install_url(application.name, tenant=tenant or application.tenant)


@dataclass(frozen=True)
class InstallLink:
    """An install link for a customer's administrator (``tenant`` None: any tenant), and what a
    click on it in this browser does (``account_note``)."""

    url: str
    tenant: str | None
    account_note: str


@_guarded
def install_link(app: str, tenant: str | None = None) -> InstallLink:
    """The ``/install`` link for ``app`` into ``tenant`` (``CustNNNNN``; empty: any tenant).

    ``/install`` always asks SuperID for a fresh sign-in (``prompt=login``), so opening the
    link here never approves with the operator's own SuperID session.
    """
    ws = workspace()
    application = ws.applications.get(app)
    chosen = (tenant or "").strip() or application.tenant  # a custom app: its own tenant
    url = ws.install_url(application.name, tenant=chosen)
    identity = sign_in_state().identity
    yours = f" (yours: {identity})" if identity else ""
    target = f"an administrator of {chosen}" if chosen else "an administrator of the tenant"
    note = (
        "Opened here, the link shows SuperID's sign-in page for a fresh account: your own "
        f"SuperID session{yours} is not used. Sign in there as {target}, or copy the link to "
        "the customer's administrator."
    )
    return InstallLink(url=url, tenant=chosen, account_note=note)


@_guarded
def state_change_url(app: str) -> str:
    """The "Customer state change" URL to register for ``app``: the partner endpoints'
    ``/state-change/{client id}``."""
    return workspace().state_change_url(app)


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


def _ticket_state(status: TicketStatus, now: datetime) -> str:
    """valid (fresh), expiring (held, inside the refresh margin) or none (no usable ticket)."""
    if status.authorization_status != "active" or status.held is None:
        return "none"
    if status.valid_until is None or status.valid_until <= now:
        return "none"
    return "valid" if status.fresh else "expiring"


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
    active = ws.tenants.tickets.ticket_statuses(status="active")
    tickets = {(s.application_id, s.context_identifier): _ticket_state(s, now) for s in active}
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
    ticket_values = list(tickets.values())
    metrics = {
        "Applications": len(names),
        "Active tenants": by_status.get("active", 0),
        "Running": running,
        "Never checked": never_checked.total,
        "Tickets valid": ticket_values.count("valid"),
        "Tickets expiring": ticket_values.count("expiring"),
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
    expiring = [key for key, value in tickets.items() if value == "expiring"]
    for app_id, ctx in expiring[:ATTENTION_NAMED]:
        app = names.get(app_id, app_id)
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
    hidden = max(0, len(expiring) - ATTENTION_NAMED) + max(0, len(failed_now) - ATTENTION_NAMED)
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


# -- jobs (the job engine) ------------------------------------------------------------------------

# Jobs the Jobs page lists: the newest this many.
JOBS_LIMIT = 100
JOB_COLUMNS = [
    "Job",
    "Status",
    "Succeeded",
    "Skipped",
    "Failed",
    "Running",
    "Queued",
    "Total",
    "Started",
    "Seconds",
    "By",
    "Error",
]
JOB_TENANT_COLUMNS = [
    "Tenant",
    "Application",
    "Status",
    "Outcome",
    "State",
    "Host",
    "Worker",
    "Seconds",
    "Error",
]
JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]


def _job_row(job: Any) -> dict[str, Any]:
    counts = job.counts
    return {
        "Job": job.job_id,
        "Status": job.status,
        "Succeeded": counts.get("succeeded", 0),
        "Skipped": counts.get("skipped", 0),
        "Failed": counts.get("failed", 0),
        "Running": counts.get("running", 0),
        "Queued": counts.get("queued", 0),
        "Total": counts.get("total", 0),
        "Started": _when(job.created_at),
        "Seconds": None if job.seconds is None else round(job.seconds, 1),
        "By": job.actor or "",
        "Error": job.error or "",
    }


@_guarded
def jobs_table(status: str | None = None, limit: int = JOBS_LIMIT) -> pd.DataFrame:
    """Background jobs, newest first (read live: jobs move while the page is open); ``status``
    one of :data:`JOB_STATUSES` or None for all."""
    ws = workspace()
    return _frame((_job_row(job) for job in ws.jobs.list(status=status, limit=limit)), JOB_COLUMNS)


@_guarded
def job_tenants(job_id: str) -> pd.DataFrame:
    """One job's tenants: their status, outcome, state, host, worker, duration, error in words."""
    ws = workspace()
    return _frame(
        (
            {
                "Tenant": row.context_identifier,
                "Application": row.application,
                "Status": row.status,
                "Outcome": row.outcome or "",
                "State": row.state or "",
                "Host": row.host or "",
                "Worker": row.executor or "",
                "Seconds": None if row.seconds is None else round(row.seconds, 2),
                "Error": row.error or "",
            }
            for row in ws.jobs.tenants(job_id)
        ),
        JOB_TENANT_COLUMNS,
    )


@_action
@_operator_only("cancel_job")
@_guarded
def cancel_job(job_id: str) -> str:
    """Cancel a job and its unfinished tenants; a sentence saying so."""
    job = workspace().jobs.cancel(job_id)
    return f"Job {job.job_id} is {job.status}; a tenant step under way finishes first."


@_action
@_operator_only("retry_job")
@_guarded
def retry_job(job_id: str) -> str:
    """Run again what did not succeed (a cancelled job resumes; a finished job's failed tenants
    become a new job); a sentence naming the job that runs."""
    new_id = workspace().jobs.retry(job_id, actor=actor_name())
    if new_id == job_id:
        return f"Job {job_id} resumes where it stopped."
    return f"The failed tenants of {job_id} run again as job {new_id}."


@dataclass(frozen=True)
class JobsSummary:
    """The Overview's jobs: how many run or wait now, and the recent failed ones."""

    running: int
    queued: int
    failed: pd.DataFrame
    drifted: pd.DataFrame


@_guarded
def jobs_summary(limit: int = JOBS_LIMIT) -> JobsSummary:
    """Running, queued and failed jobs among the newest ``limit`` (for the Overview)."""
    from toolkit.jobs.upkeep import drifted_tenants

    ws = workspace()
    jobs = ws.jobs.list(limit=limit)
    failed = [job for job in jobs if job.status == "failed" or job.counts.get("failed")]
    drifted = (
        {"Application": app, "Tenant": ctx, "Pending steps": steps}
        for app, ctx, steps in drifted_tenants(ws.jobs)
    )
    return JobsSummary(
        running=sum(1 for job in jobs if job.status == "running"),
        queued=sum(1 for job in jobs if job.status == "queued"),
        failed=_frame((_job_row(job) for job in failed), JOB_COLUMNS),
        drifted=_frame(drifted, ["Application", "Tenant", "Pending steps"]),
    )
