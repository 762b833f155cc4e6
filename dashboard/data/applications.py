"""The Applications page: registered applications, approvals, install links, adding one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.core import (
    APPLICATION_COLUMNS,
    APPROVAL_COLUMNS,
    APPROVALS_SHOWN,
    CALLBACK_PATH,
    DashboardError,
    _action,
    _frame,
    _guarded,
    _operator_only,
    _read_model,
    _settings,
    _when,
    actor_name,
    sign_in_state,
    workspace,
)
from toolkit.store.records import (
    Application,
    Authorization,
)

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


def _blank_is_none(value: bytes | str | None) -> bytes | str | None:
    """An empty form field (a key not uploaded, no tenant) means "none"."""
    return value if value is not None and value.strip() else None


@_action
@_operator_only("add_application")
@_guarded
def add_application(
    *,
    private_key: bytes | str | None = None,
    tenant: str | None = None,
    environment_url: str | None = None,
    **credentials: str,
) -> dict[str, Any]:
    """Register what the Developer Portal gave the partner; returns the new app's public facts.

    ``credentials`` are :meth:`toolkit.applications.Applications.register`'s other fields (name,
    environment, client id and secret, redirect URL, kind, model): the toolkit checks them all
    (a malformed key names the element at fault) and stores nothing when one is wrong; here an
    empty optional field only means "none".
    """
    app = workspace().applications.register(
        **credentials,
        private_key=_blank_is_none(private_key),
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
