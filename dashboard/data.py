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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import pandas as pd
import streamlit as st
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from toolkit.applications import APPLICATION_KINDS, APPLICATION_MODELS
from toolkit.auth.tickets import TicketStatus
from toolkit.claims import SECRET_CLAIMS, SUPEROFFICE_CLAIM_PREFIX
from toolkit.config import Settings
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    KeyFormatError,
    NeedsReapprovalError,
    NotFoundError,
    ToolkitError,
)
from toolkit.store.records import Application, AuditEvent, Authorization
from toolkit.store.repository import utc_now
from toolkit.store.schema import ENVIRONMENTS
from toolkit.workspace import Workspace

__all__ = [
    "AUDIT_TRAIL_LIMIT",
    "ENVIRONMENTS",
    "KINDS",
    "MODELS",
    "ApplicationChoice",
    "DashboardError",
    "SidebarInfo",
    "TenantDetail",
    "add_application",
    "add_emulator_application",
    "application_choices",
    "applications_table",
    "approvals_for",
    "callback_url",
    "emulator_enabled",
    "install_url",
    "renew_ticket",
    "reset",
    "sidebar_info",
    "tenant_choices",
    "tenant_detail",
    "tenants_table",
    "workspace",
]

logger = logging.getLogger("dashboard")

# Who the audit trail names for changes made from the dashboard.
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
TENANT_COLUMNS = [
    "Tenant",
    "Company",
    "Application",
    "Environment",
    "Approved by",
    "Approved at",
    "Status",
    "System user token held",
    "Ticket",
]
CLAIM_COLUMNS = ["Claim", "Value", "URI"]
AUDIT_COLUMNS = ["At", "Actor", "Action", "Summary"]

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


# -- small formatting helpers --------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


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
    return _settings().public_url + CALLBACK_PATH


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
    return [
        ApplicationChoice(app.name, app.kind, app.environment, app.tenant)
        for app in workspace().repository.list_applications()
    ]


@_guarded
def applications_table() -> pd.DataFrame:
    """One row per registered application; credentials are never among the columns."""
    ws = workspace()
    approved: dict[str, int] = {}
    for record in ws.repository.list_authorizations():
        if record.status == "active":
            approved[record.application_id] = approved.get(record.application_id, 0) + 1
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


@_guarded
def approvals_for(app: str) -> pd.DataFrame:
    """The tenants that have approved application ``app`` (name), with who approved and when."""
    records = workspace().applications.approvals(app)
    return _frame((_approval_row(record) for record in records), APPROVAL_COLUMNS)


def _key_input(private_key: bytes | str | None) -> bytes | str | None:
    """An empty upload or paste means "no key"."""
    if private_key is None or not private_key.strip():
        return None
    return private_key


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
        actor=ACTOR,
    )
    return _registered(app)


@_guarded
def add_emulator_application(
    *,
    name: str,
    kind: str = "standard",
    model: str = "internal",
    tenant: str | None = None,
    vendor: str = "",
) -> dict[str, Any]:
    """Register an application with the emulator (it makes the credentials, as the portal does)."""
    settings = _settings()
    if not settings.emulator_url:
        raise DashboardError("SOTK_EMULATOR_URL is not set: there is no emulator to register with.")
    if not name.strip():
        raise DashboardError("Give the application a name.")
    app = workspace().applications.register_with_emulator(
        name=name.strip(),
        emulator_url=settings.emulator_url,
        redirect_uri=settings.public_url + CALLBACK_PATH,
        kind=kind,
        model=model,
        tenant=(tenant or "").strip() or None,
        vendor=vendor,
        actor=ACTOR,
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
        return f"expired {_when(status.valid_until)}"
    return f"valid until {_when(status.valid_until)}"


def _ticket_texts(ws: Workspace, application: str | None) -> dict[tuple[str, str], str]:
    return {
        (status.application_id, status.context_identifier): _ticket_text(status)
        for status in ws.tenants.tickets.ticket_statuses(application)
    }


@_guarded
def tenants_table(application: str | None = None) -> pd.DataFrame:
    """The authorization records (all, or one application's), without any token."""
    ws = workspace()
    apps = _application_names(ws)
    tickets = _ticket_texts(ws, application)
    rows = []
    for record in ws.repository.list_authorizations(application):
        app = apps.get(record.application_id)
        rows.append(
            {
                "Tenant": record.context_identifier,
                "Company": record.company_name or "",
                "Application": app.name if app else record.application_id,
                "Environment": app.environment if app else "",
                "Approved by": record.approved_by or "",
                "Approved at": _when(record.approved_at),
                "Status": record.status,
                "System user token held": bool(record.has_system_user_token),
                "Ticket": tickets.get((record.application_id, record.context_identifier), "none"),
            }
        )
    return _frame(rows, TENANT_COLUMNS)


@_guarded
def tenant_choices(application: str | None = None) -> list[tuple[str, str]]:
    """(application name, context identifier) of every record, in table order."""
    ws = workspace()
    apps = _application_names(ws)
    choices = []
    for record in ws.repository.list_authorizations(application):
        app = apps.get(record.application_id)
        choices.append((app.name if app else record.application_id, record.context_identifier))
    return choices


@dataclass(frozen=True)
class TenantDetail:
    """One authorization record for display: facts, non-secret claims, audit trail."""

    application: str
    context_identifier: str
    facts: dict[str, str] = field(default_factory=dict)
    claims: pd.DataFrame = field(default_factory=lambda: _frame([], CLAIM_COLUMNS))
    audit: pd.DataFrame = field(default_factory=lambda: _frame([], AUDIT_COLUMNS))


def _claim_rows(claims: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for uri, value in sorted(claims.items()):
        if uri in SECRET_CLAIMS:  # the store refuses them; never show one regardless
            continue
        short = uri.removeprefix(SUPEROFFICE_CLAIM_PREFIX)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append({"Claim": short, "Value": text, "URI": uri})
    return rows


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "At": _when(event.at),
        "Actor": event.actor,
        "Action": event.action,
        "Summary": json.dumps(dict(event.summary), sort_keys=True, default=str),
    }


@_guarded
def tenant_detail(app: str, ctx: str) -> TenantDetail:
    """The record for ``app`` in tenant ``ctx``: its facts, non-secret claims and audit trail."""
    ws = workspace()
    try:
        application = ws.repository.get_application(app)
        record = ws.repository.get_authorization(application.name, ctx)
    except NotFoundError as exc:
        raise DashboardError(str(exc)) from None
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
        "Approved at": _when(record.approved_at),
        "Status": record.status,
        "System user token held": "yes" if record.has_system_user_token else "no",
        "System user ticket": _ticket_text(ws.tenants.tickets.ticket_status(application.id, ctx)),
        "Updated": _when(record.updated_at),
    }
    events = ws.repository.list_audit(
        application=application.name, context_identifier=ctx, limit=AUDIT_TRAIL_LIMIT
    )
    return TenantDetail(
        application=application.name,
        context_identifier=ctx,
        facts=facts,
        claims=_frame(_claim_rows(dict(record.claims)), CLAIM_COLUMNS),
        audit=_frame((_audit_row(event) for event in events), AUDIT_COLUMNS),
    )


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
        renewed = ws.tenants.tickets.renew(application.id, ctx)
    except (AuthorizationRevokedError, NeedsReapprovalError) as exc:
        raise DashboardError(f"{exc}. {NEEDS_RECONSENT_ADVICE}.") from None
    except AuthorizationNotActiveError as exc:
        if exc.status != "needs_reconsent":
            raise
        raise DashboardError(f"{exc}. {NEEDS_RECONSENT_ADVICE}.") from None
    return f"New system user ticket for {ctx}, valid until {_when(renewed.valid_until)}."
