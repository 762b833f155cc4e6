"""The normal user context: a signed-in user inside a SuperOffice web panel (protocol §2, §5).

A web panel opens the partner's page with the tenant in the URL (``ctx`` or ``uctx``).
:meth:`UserContexts.begin` starts a sign-in through SuperID's *tenant path*
(``/login/{ctx}/oauth/authorize``, protocol §2.2 [S]: SuperOffice's samples use it for single
sign-on from a web panel), with PKCE, ``state`` and ``nonce`` kept server-side as a pending
sign-in of purpose ``user``. The shared ``/callback`` asks :meth:`UserContexts.handles` whether
a callback belongs to such a sign-in and then calls :meth:`UserContexts.complete`, which
validates the id_token and opens a **session**: an opaque random id for an HttpOnly cookie,
the user's tokens sealed in the store with an expiry. A user sign-in never creates or changes
an application authorization record.

With the session the user sees who they are (``GET v1/User/currentPrincipal`` with their *own*
access token, ``Bearer``, refreshed once after a 401/403: protocol §2.1, §5 and open question
6) and reads and saves their own options, stored per application × tenant × user (the
id_token's ``sub``) and validated against :data:`OPTION_SPECS`. Saving needs the session's CSRF
token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from toolkit.auth.oidc import (
    CallbackParams,
    SuperIdClient,
    TokenResponse,
    parse_callback,
    validate_context_identifier,
)
from toolkit.auth.tokens import ValidationPolicy
from toolkit.auth.transactions import utc_now
from toolkit.browser_sessions import (
    BrowserSession,
    SessionSignIn,
    find_session,
    hashed_cookie_name,
    open_session,
    page_path,
)
from toolkit.browser_sessions import check_csrf as _check_csrf
from toolkit.config import Environment
from toolkit.errors import (
    ConfigurationError,
    OptionValidationError,
    SessionExpiredError,
    SignInError,
    TenantMismatchError,
)
from toolkit.installation import (
    Installations,
    StoreTransactionStore,
    application_environment,
)
from toolkit.naming import same_tenant
from toolkit.store import Application, Repository, UserSession  # noqa: F401 (the inherited session fields name it: pdoc resolves them here)
from toolkit.store.repository import SIGN_IN_TTL
from toolkit.tenant import TenantAccess, UserCredential

__all__ = [
    "OPTION_SPECS",
    "PANEL_PATH",
    "SESSION_TTL",
    "USER_PURPOSE",
    "OptionSpec",
    "PanelSession",
    "UserContexts",
    "UserSignIn",
    "session_cookie_name",
]

logger = logging.getLogger("toolkit.user_context")

# The pending sign-in's purpose for a normal user (the store also knows "install").
USER_PURPOSE = "user"
# The partner endpoint a web panel opens (toolkit.web); sign-ins return there.
PANEL_PATH = "/panel"
# How long a panel session lasts before the user signs in again: a working day. The refresh
# token outlives it, but a browser cookie should not. [I: SuperOffice states no rule]
SESSION_TTL = timedelta(hours=8)
# Prefix of the session cookie; one cookie per application × tenant (see session_cookie_name).
SESSION_COOKIE_PREFIX = "sotk_panel_"
# How the access token's expiry is noticed: SuperOffice answers 401 or 403 (open question 6);
# UserCredential refreshes once on either.
_TRUE_VALUES = frozenset({"1", "true", "on", "yes"})
_FALSE_VALUES = frozenset({"", "0", "false", "off", "no"})


@dataclass(frozen=True)
class OptionSpec:
    """One allowed user option: its type (``text`` or ``bool``), bound and default."""

    kind: str
    default: Any
    max_length: int = 0
    label: str = ""

    def parse(self, key: str, value: Any) -> Any:
        """The validated value; :class:`OptionValidationError` when it does not fit."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE_VALUES:
                return True
            if isinstance(value, str) and value.strip().lower() in _FALSE_VALUES:
                return False
            raise OptionValidationError(f"option {key} must be true or false", key=key)
        if not isinstance(value, str):
            raise OptionValidationError(f"option {key} must be text", key=key)
        if len(value) > self.max_length:
            raise OptionValidationError(
                f"option {key} is longer than {self.max_length} characters", key=key
            )
        if any((ord(c) < 32 and c not in "\t") or ord(c) == 127 for c in value):
            raise OptionValidationError(f"option {key} contains control characters", key=key)
        return value


# The options a user may keep: a small allow-list with types; anything else is refused.
OPTION_SPECS: Mapping[str, OptionSpec] = {
    "greeting": OptionSpec("text", "", max_length=200, label="Greeting"),
    "show_closed": OptionSpec("bool", False, label="Show closed items"),
}


def session_cookie_name(application_id: str, context_identifier: str) -> str:
    """The cookie holding the panel session of one application × tenant.

    One cookie per pair, so panels of several applications or tenants do not sign each other
    out; the name is a hash, so it shows neither.
    """
    return hashed_cookie_name(SESSION_COOKIE_PREFIX, application_id, context_identifier)


def panel_return_path(
    application: str, context_identifier: str, panel_path: str = PANEL_PATH
) -> str:
    """The local path a sign-in returns to: ``/panel?app=NAME&ctx=CustNNNNN`` (``panel_path``
    carries a mount prefix)."""
    return page_path(panel_path, application, context_identifier)


@dataclass(frozen=True, repr=False)
class UserSignIn(SessionSignIn):
    """A completed user sign-in: the new panel session (see :class:`SessionSignIn`)."""


@dataclass(frozen=True, repr=False)
class PanelSession(BrowserSession):
    """A live panel session, checked against the application and tenant the request names."""


class UserContexts:
    """Sign-in, sessions, the current principal and options of normal users (``/panel``)."""

    def __init__(
        self,
        repository: Repository,
        http: httpx.Client,
        installations: Installations,
        tenants: TenantAccess,
        *,
        policy: ValidationPolicy | None = None,
        now: Callable[[], datetime] | None = None,
        session_ttl: timedelta = SESSION_TTL,
        sign_in_ttl: timedelta = SIGN_IN_TTL,
    ) -> None:
        if session_ttl <= timedelta(0):
            raise ConfigurationError("session_ttl must be positive")
        self._repository = repository
        self._http = http
        self._installations = installations
        self._tenants = tenants
        self._policy = policy if policy is not None else ValidationPolicy()
        self._now = now or utc_now
        self._session_ttl = session_ttl
        self._sign_in_ttl = sign_in_ttl
        self._clients: dict[str, SuperIdClient] = {}
        self._lock = threading.Lock()
        # Where /panel is as the browser sees it (a mount prefix included: Workspace.use_paths).
        self.panel_path = PANEL_PATH

    def __repr__(self) -> str:
        return "UserContexts()"

    @property
    def session_ttl(self) -> timedelta:
        return self._session_ttl

    def client_for(self, application: Application) -> SuperIdClient:
        """The SuperID client for user sign-ins of ``application``: pending sign-ins in the store
        with purpose ``user``; discovery and keys shared with the install client."""
        with self._lock:
            client = self._clients.get(application.id)
            if client is None:
                install_client = self._installations.client_for(application)
                client = SuperIdClient(
                    application_environment(application),
                    application.client_id,
                    application.client_secret.reveal(),
                    install_client.redirect_uri,
                    http=self._http,
                    keys=install_client.keys,
                    transactions=StoreTransactionStore(
                        self._repository,
                        application.id,
                        purpose=USER_PURPOSE,
                        ttl=self._sign_in_ttl,
                    ),
                    policy=self._policy,
                    now=self._now,
                )
                self._clients[application.id] = client
            return client

    def frame_ancestors(self, application: str) -> tuple[str, ...]:
        """Who may frame the panel (CSP ``frame-ancestors``): SuperOffice's hosts [I].

        SuperOffice CRM Online runs on ``*.superoffice.com`` hosts (protocol §1); an emulator
        application is framed by the emulator's loopback hosts (any port).
        """
        app = self._repository.get_application(application)
        environment = application_environment(app)
        if environment.is_emulator:
            parts = urlsplit(environment.base_url)
            return (f"{parts.scheme}://{parts.hostname}:*",)
        return ("https://*.superoffice.com",)

    # -- sign-in ---------------------------------------------------------------------------

    def begin(self, application: str, context_identifier: str) -> str:
        """Start a user's sign-in for ``application`` in the tenant; the authorize URL.

        Uses SuperID's tenant path (single sign-on, protocol §2.2 [S]) with
        ``response_mode=form_post`` (the code stays out of URLs and logs); the sign-in returns
        to ``/panel?app=...&ctx=...``. Raises :class:`~toolkit.errors.NotFoundError` for an
        unknown application, :class:`~toolkit.errors.ConfigurationError` for a malformed tenant
        or another tenant than a custom application's own.
        """
        app = self._repository.get_application(application)
        try:
            ctx = validate_context_identifier(context_identifier.strip())
        except SignInError as exc:
            raise ConfigurationError(str(exc)) from None
        if app.kind == "custom" and (app.tenant is None or not same_tenant(ctx, app.tenant)):
            raise ConfigurationError(f"custom application {app.name!r} belongs to {app.tenant}")
        client = self.client_for(app)
        self._repository.purge_expired_sign_ins()
        request = client.begin_sign_in(
            tenant=ctx,
            use_tenant_path=True,
            response_mode="form_post",
            return_to=panel_return_path(app.name, ctx, self.panel_path),
        )
        logger.info("user sign-in to %s in %s started", app.name, ctx)
        return request.url

    def handles(self, params: CallbackParams) -> bool:
        """Whether a callback belongs to a pending *user* sign-in (else it is an install's)."""
        try:
            callback = parse_callback(params)
        except SignInError:
            return False
        pending = self._repository.peek_pending_sign_in(callback.state)
        return pending is not None and pending[1] == USER_PURPOSE

    def complete(self, params: CallbackParams) -> UserSignIn:
        """Finish a user sign-in from the callback and open a session.

        Raises what :meth:`~toolkit.auth.oidc.SuperIdClient.complete_sign_in` raises
        (:class:`~toolkit.errors.StateMismatchError`, ``AuthorizationDeniedError``,
        ``OAuthError``, a ``TokenValidationError``) and
        :class:`~toolkit.errors.TenantMismatchError` when SuperID signed in to another tenant
        than the panel asked for. Never touches an application authorization record.
        """
        callback = parse_callback(params)
        pending = self._repository.peek_pending_sign_in(callback.state)
        if pending is None or pending[1] != USER_PURPOSE:
            raise SignInError("this callback is not a user sign-in")
        app = self._repository.get_application(pending[0])
        result = self.client_for(app).complete_sign_in(params)
        claims = result.claims
        ctx = claims.context_identifier
        if not ctx:
            raise SignInError("the id_token names no tenant (no ctx claim)")
        asked = result.transaction.tenant if result.transaction is not None else None
        return_to = result.transaction.return_to if result.transaction is not None else None
        asked = asked or _tenant_of_return(return_to)
        if asked is not None and not same_tenant(asked, ctx):
            raise TenantMismatchError(
                f"the panel asked for {asked} but SuperID signed in to {ctx}",
                expected=asked,
                actual=ctx,
            )
        session_id, record = open_session(
            self._repository, app, ctx, claims, result.tokens, ttl=self._session_ttl
        )
        logger.info("user signed in to %s in %s", app.name, ctx)
        return UserSignIn(
            session_id=session_id,
            cookie_name=session_cookie_name(app.id, ctx),
            application=app,
            context_identifier=ctx,
            user=claims.subject,
            return_to=return_to or panel_return_path(app.name, ctx, self.panel_path),
            expires_at=record.expires_at,
        )

    # -- sessions --------------------------------------------------------------------------

    def cookie_name(self, application: str, context_identifier: str) -> str:
        """The session cookie's name for ``application`` (name or id) in the tenant."""
        app = self._repository.get_application(application)
        return session_cookie_name(app.id, context_identifier)

    def session(
        self, session_id: str | None, application: str, context_identifier: str
    ) -> PanelSession:
        """The live session ``session_id`` for ``application`` in the tenant.

        Raises :class:`~toolkit.errors.SessionExpiredError` (no, unknown, ended or expired
        session) or :class:`~toolkit.errors.SessionMismatchError` (the session is another
        application's or tenant's).
        """
        app = self._repository.get_application(application)
        if not session_id:
            raise SessionExpiredError("not signed in")
        record = find_session(self._repository, session_id, app, context_identifier)
        return PanelSession(session_id=session_id, application=app, record=record)

    def end(self, session: PanelSession, csrf_token: str | None) -> bool:
        """Sign the user out (the CSRF token is required); False if the session was gone."""
        self.check_csrf(session, csrf_token)
        return self._repository.delete_user_session(session.session_id)

    def logout_url(self, application: str, post_logout_redirect_uri: str | None = None) -> str:
        """SuperID's end-session URL (protocol §2.5, open question 10), to offer after sign-out.

        ``post_logout_redirect_uri`` defaults to ``/panel/logout`` on the origin of the
        application's redirect URL (what SuperID already knows of the partner; it must be
        registered as a post-logout URL too).
        """
        app = self._repository.get_application(application)
        client = self.client_for(app)
        if post_logout_redirect_uri is None:
            parts = urlsplit(client.redirect_uri)
            post_logout_redirect_uri = f"{parts.scheme}://{parts.netloc}{self.panel_path}/logout"
        return client.logout_url(post_logout_redirect_uri)

    @staticmethod
    def check_csrf(session: PanelSession, csrf_token: str | None) -> None:
        """:class:`~toolkit.errors.CsrfError` unless ``csrf_token`` is the session's."""
        _check_csrf(session, csrf_token)

    # -- the user's own view ---------------------------------------------------------------

    def _credential(self, session: PanelSession) -> UserCredential:
        record = session.record
        tokens = TokenResponse(
            access_token=record.access_token.reveal(),
            token_type="bearer",
            expires_at=record.access_expires_at,
            refresh_token=record.refresh_token.reveal() if record.refresh_token else None,
        )

        def keep(renewed: str | TokenResponse) -> None:
            if isinstance(renewed, str):
                access, refresh, expires = renewed, tokens.refresh_token, None
            else:
                access = renewed.access_token
                refresh = renewed.refresh_token or tokens.refresh_token
                expires = renewed.expires_at
            self._repository.update_user_session_tokens(
                session.session_id,
                access_token=access,
                refresh_token=refresh,
                access_expires_at=expires,
            )

        return UserCredential.from_tokens(
            tokens,
            self.client_for(session.application),
            on_refresh=keep,
            context_identifier=record.context_identifier,
        )

    def environment_of(self, session: PanelSession) -> Environment:
        return application_environment(session.application)

    def principal(self, session: PanelSession) -> dict[str, Any]:
        """``GET v1/User/currentPrincipal`` with the user's own access token (§2.1, §5).

        A 401/403 refreshes the access token once (and stores the new one in the session);
        errors are the tenant client's (``ApiError``, ``TenantNotRunningError``, ...).
        """
        api = self._tenants.user_api(
            self.environment_of(session), session.context_identifier, self._credential(session)
        )
        return api.current_principal()

    def options(self, session: PanelSession) -> dict[str, Any]:
        """The user's options: every allowed key, the stored value or its default."""
        stored = self._repository.get_user_options(
            session.application.id, session.context_identifier, session.user
        )
        return {key: stored.get(key, spec.default) for key, spec in OPTION_SPECS.items()}

    def save_options(
        self, session: PanelSession, values: Mapping[str, Any], csrf_token: str | None
    ) -> dict[str, Any]:
        """Validate and save the user's options (all allowed keys; an absent bool is False).

        Raises :class:`~toolkit.errors.CsrfError` without the session's CSRF token and
        :class:`~toolkit.errors.OptionValidationError` for an unknown key or a bad value;
        nothing is saved then. Returns the options now stored.
        """
        self.check_csrf(session, csrf_token)
        unknown = sorted(set(values) - set(OPTION_SPECS))
        if unknown:
            shown = unknown[0][:40]
            raise OptionValidationError(f"option {shown!r} is not allowed", key=shown)
        parsed: dict[str, Any] = {}
        for key, spec in OPTION_SPECS.items():
            if key in values:
                parsed[key] = spec.parse(key, values[key])
            elif spec.kind == "bool":
                parsed[key] = False  # an unchecked checkbox is not sent
        for key, value in parsed.items():
            self._repository.set_user_option(
                session.application.id, session.context_identifier, session.user, key, value
            )
        return self.options(session)


def _tenant_of_return(return_to: str | None) -> str | None:
    """The ``ctx`` of a panel return path written by :func:`panel_return_path`."""
    if not return_to:
        return None
    values = parse_qs(urlsplit(return_to).query).get("ctx")
    if not values:
        return None
    try:
        return validate_context_identifier(values[0])
    except SignInError:
        return None
