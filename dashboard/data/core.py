"""The workspace, read models and actions, operator sign-in and roles, and the helpers every
area shares (DashboardError, formatting)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, ParamSpec, TypeVar

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from toolkit.applications import APPLICATION_KINDS, APPLICATION_MODELS
from toolkit.config import Settings, is_loopback_host
from toolkit.errors import (
    KeyFormatError,
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
from toolkit.store.records import (
    Application,
)
from toolkit.store.repository import utc_now
from toolkit.workspace import Workspace

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
