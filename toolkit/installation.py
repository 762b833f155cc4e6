"""Installing an application into a tenant: the admin's approval, end to end (protocol §2, §3).

:meth:`Installations.begin` starts the authorization code flow for one registered application:
``state``, ``nonce`` and the PKCE verifier are kept server-side in the store's pending sign-ins
(single use, expiring after :data:`~toolkit.store.repository.SIGN_IN_TTL`); only the authorize
URL leaves the server. :meth:`Installations.complete` takes the pending sign-in back by
``state``, redeems the code with that application's credentials, validates the id_token with
SuperOffice's rules (issuer, audience = client id, nonce, signature, times), checks the tenant,
and creates or updates the application authorization record, the system user token and the
refresh token sealed at rest.

Who may install. Only a tenant administrator can approve an application in SuperID (protocol
§3); SuperID shows the consent page to administrators only. But once an application is approved
for a tenant, SuperID signs *any* user of that tenant in to it without consent, and the id_token
still carries the tenant's ``system_token`` (protocol §3, open question 8). So ``complete``
decides on the ``is_administrator`` claim:

* an administrator's sign-in creates or updates the record, and the record names them as the
  approver (``approved_by`` = ``sub``, ``approved_by_associate_id``, ``approved_at``);
* a non-administrator's sign-in never *creates* a record: it raises
  :class:`NotAdministratorError` and stores nothing;
* a non-administrator's sign-in for a tenant that already has a record only *refreshes* it
  (system user token, tenant URLs, company name); the approver, the approval time, the approval's
  claims and the administrator's refresh token are kept as they were.

A missing ``is_administrator`` claim counts as "not an administrator" (fail closed).

The tenant travels in the ``state`` as ``{random}.{ctx}``. The store keeps only the SHA-256 of
the whole state, so a state whose tenant part was changed is simply unknown: the binding cannot
be tampered with, and the pending sign-in needs no tenant column. (The tenant is no secret: it is
also in ``acr_values``.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from toolkit.auth.oidc import (
    CallbackParams,
    SuperIdClient,
    TokenFlow,
    TokenResponse,
    build_authorization_url,
    code_challenge_s256,
    drive_token_flow,
    generate_code_verifier,
    generate_nonce,
    generate_state,
    parse_callback,
    post_token_request,
    validate_context_identifier,
)
from toolkit.auth.tokens import ValidationPolicy
from toolkit.auth.transactions import SignInTransaction, utc_now
from toolkit.claims import SECRET_CLAIMS, IdTokenClaims
from toolkit.config import EMULATOR, Environment
from toolkit.errors import (
    ConfigurationError,
    ExpiredError,
    NotAdministratorError,
    NotFoundError,
    RedirectUriNotRegisteredError,
    SignInError,
    StateMismatchError,
    TenantMismatchError,
    ToolkitError,
)
from toolkit.naming import check_context_identifier, resolve_application, same_tenant
from toolkit.store import Application, Authorization, PutOutcome, Repository
from toolkit.store.repository import SIGN_IN_TTL

__all__ = [
    "CALLBACK_PATH",
    "INSTALL_PURPOSE",
    "INSTALL_RESPONSE_MODES",
    "InstallResult",
    "Installations",
    "NotAdministratorError",
    "StoreTransactionStore",
    "TenantMismatchError",
    "application_environment",
    "tenant_of_state",
]

logger = logging.getLogger("toolkit.installation")

# The partner endpoint SuperID redirects back to (toolkit.web serves it): an application's
# redirect URI is normally {public URL}{CALLBACK_PATH}, which `sotk doctor` checks.
CALLBACK_PATH = "/callback"
# The pending sign-in's purpose for an install (the store also knows "user" sign-ins).
INSTALL_PURPOSE = "install"
# A server receives query and form_post callbacks; a fragment never reaches it (protocol §2.3).
INSTALL_RESPONSE_MODES = ("form_post", "query")
# Separates the random part of the state from the tenant it is bound to; token_urlsafe never
# produces a dot.
_STATE_TENANT_SEPARATOR = "."
# Claim names (last URI segment) that must never reach the stored, non-secret claims, beyond
# SECRET_CLAIMS: the nonce is a one-time value of the sign-in.
_PRIVATE_CLAIM_NAMES = frozenset({"nonce"})
_PRIVATE_CLAIM_SUFFIXES = ("token", "ticket", "secret", "password")


@dataclass(frozen=True, repr=False)
class InstallResult:
    """A completed install: the application, its record for the tenant, what changed, the claims.

    ``outcome`` is :class:`~toolkit.store.PutOutcome` (created, updated, unchanged, stale);
    ``return_to`` is what :meth:`Installations.begin` was given; ``tokens`` the code flow's
    tokens (the administrator's credential for the installation pages; never shown).
    """

    application: Application
    authorization: Authorization
    outcome: PutOutcome
    claims: IdTokenClaims
    return_to: str | None = None
    tokens: TokenResponse | None = None

    def __repr__(self) -> str:
        return (
            f"InstallResult(application={self.application.name!r}, tenant="
            f"{self.authorization.context_identifier!r}, outcome={self.outcome.value!r}, "
            f"approved_by={self.authorization.approved_by!r})"
        )

    __str__ = __repr__


def bind_tenant(state: str, tenant: str | None) -> str:
    """``state`` with the tenant appended (``{state}.{ctx}``), or ``state`` when no tenant."""
    return state if tenant is None else f"{state}{_STATE_TENANT_SEPARATOR}{tenant}"


def tenant_of_state(state: str) -> str | None:
    """The tenant an install ``state`` is bound to, or None.

    Only meaningful for a state the store has just given back: the store found it by the hash
    of the whole value, so the tenant part is the one :meth:`Installations.begin` wrote.
    """
    _, separator, tenant = state.rpartition(_STATE_TENANT_SEPARATOR)
    if not separator or not tenant:
        return None
    try:
        return validate_context_identifier(tenant)
    except SignInError:
        return None


def application_environment(application: Application) -> Environment:
    """The SuperOffice environment an application is registered in (or its emulator)."""
    if application.environment == EMULATOR:
        if not application.environment_url:
            raise ConfigurationError(
                f"application {application.name!r} is an emulator application without its URL"
            )
        return Environment.emulator(application.environment_url)
    return Environment.named(application.environment)


def _is_private_claim(name: str) -> bool:
    if name in SECRET_CLAIMS:
        return True
    last = name.rstrip("/").rsplit("/", 1)[-1].lower()
    return last in _PRIVATE_CLAIM_NAMES or last.endswith(_PRIVATE_CLAIM_SUFFIXES)


def stored_claims(claims: IdTokenClaims) -> dict[str, Any]:
    """The id_token's claims that may be kept in the record: no secret, no one-time value."""
    return {k: v for k, v in claims.public_claims().items() if not _is_private_claim(k)}


class StoreTransactionStore:
    """A :class:`~toolkit.auth.transactions.TransactionStore` on the store's pending sign-ins.

    Works across processes and workers (the in-memory store does not). ``take`` is atomic and
    single-use (the repository deletes the row and returns it in one statement) and raises
    :class:`~toolkit.errors.StateMismatchError` for an unknown, used or expired state, or one
    started for another application or purpose. ``application_id`` None accepts any
    application; the returned transaction's ``extra`` names the one it belongs to.
    """

    def __init__(
        self,
        repository: Repository,
        application_id: str | None = None,
        *,
        purpose: str = INSTALL_PURPOSE,
        ttl: timedelta = SIGN_IN_TTL,
    ) -> None:
        self._repository = repository
        self._application_id = application_id
        self._purpose = purpose
        self._ttl = ttl

    def put(self, transaction: SignInTransaction) -> None:
        if self._application_id is None:
            raise ConfigurationError("a StoreTransactionStore needs an application to put into")
        self._repository.add_pending_sign_in(
            transaction.state,
            application_id=self._application_id,
            purpose=self._purpose,
            nonce=transaction.nonce,
            code_verifier=transaction.code_verifier,
            redirect_uri=transaction.redirect_uri,
            return_to=transaction.return_to,
            ttl=self._ttl,
        )

    def take(self, state: str) -> SignInTransaction:
        if not state:
            raise StateMismatchError("the callback has no state")
        try:
            pending = self._repository.take_pending_sign_in(state)
        except ExpiredError:
            raise StateMismatchError("the sign-in expired; start it again") from None
        except NotFoundError:
            raise StateMismatchError("unknown or already used sign-in state") from None
        if pending.purpose != self._purpose or (
            self._application_id is not None and pending.application_id != self._application_id
        ):
            raise StateMismatchError("this sign-in state belongs to another flow")
        return SignInTransaction(
            state=state,
            nonce=pending.nonce.reveal(),
            code_verifier=pending.code_verifier.reveal(),
            redirect_uri=pending.redirect_uri,
            created_at=pending.created_at,
            tenant=tenant_of_state(state),
            return_to=pending.return_to,
            extra={"application_id": pending.application_id, "purpose": pending.purpose},
        )


class _HandOver:
    """Gives transactions already taken from the store to ``SuperIdClient.complete_sign_in``.

    :meth:`Installations.complete` must take the pending sign-in first, to learn which
    application (and so which client) the callback belongs to; the client then asks its
    transaction store for it by ``state`` and finds it here, once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, SignInTransaction] = {}

    def put(self, transaction: SignInTransaction) -> None:
        with self._lock:
            self._held[transaction.state] = transaction

    def take(self, state: str) -> SignInTransaction:
        with self._lock:
            transaction = self._held.pop(state, None)
        if transaction is None:
            raise StateMismatchError("unknown or already used sign-in state")
        return transaction

    def discard(self, state: str) -> None:
        with self._lock:
            self._held.pop(state, None)


@dataclass(frozen=True)
class _Recorded:
    authorization: Authorization
    outcome: PutOutcome


class Installations:
    """Start and complete installs (admin approvals) of registered applications."""

    def __init__(
        self,
        repository: Repository,
        http: httpx.Client,
        *,
        policy: ValidationPolicy | None = None,
        now: Callable[[], datetime] | None = None,
        ttl: timedelta = SIGN_IN_TTL,
    ) -> None:
        self._repository = repository
        self._http = http
        self._policy = policy if policy is not None else ValidationPolicy()
        self._now = now or utc_now
        self._ttl = ttl
        self._hand_over = _HandOver()
        self._clients: dict[str, SuperIdClient] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Installations()"

    # -- clients -----------------------------------------------------------------------------

    def client_for(self, application: Application) -> SuperIdClient:
        """The SuperID client of ``application`` (cached: discovery and keys are fetched once).

        Applications are immutable in the store, so the id identifies the credentials.
        """
        with self._lock:
            client = self._clients.get(application.id)
            if client is None:
                if not application.redirect_uri:
                    raise ConfigurationError(
                        f"application {application.name!r} has no redirect URL to install with"
                    )
                client = SuperIdClient(
                    application_environment(application),
                    application.client_id,
                    application.client_secret.reveal(),
                    application.redirect_uri,
                    http=self._http,
                    transactions=self._hand_over,
                    policy=self._policy,
                    now=self._now,
                )
                self._clients[application.id] = client
            return client

    # -- begin -------------------------------------------------------------------------------

    def begin(
        self,
        application: str,
        *,
        tenant: str | None = None,
        response_mode: str = "form_post",
        return_to: str | None = None,
        prompt: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """Start installing ``application`` (name or id); returns the SuperID authorize URL.

        ``tenant`` (``CustNNNNN``) asks SuperID for that tenant (``acr_values``); a custom
        application is always installed into its own tenant (a different one is refused).
        ``response_mode`` is ``form_post`` (default: the code does not end up in URLs and
        logs) or ``query``. ``return_to`` is a local path (``/...``) to send the user to
        afterwards. ``prompt="login"`` asks SuperID for a fresh sign-in, so a SuperID session
        of someone else in this browser (an operator's) never approves by accident [I].
        ``redirect_uri`` is where the caller will receive the callback (its public URL and
        callback path); it must be the application's registered one, exactly (protocol §2.2).

        Raises, before SuperID is asked anything, :class:`~toolkit.errors.UnknownApplicationError`
        for an unknown application, :class:`~toolkit.errors.InvalidContextIdentifierError` for
        a malformed tenant and :class:`~toolkit.errors.RedirectUriNotRegisteredError` for a
        redirect URI the application has not registered (SuperID's "InvalidRedirectUrl (2)").
        """
        app = resolve_application(self._repository, application)
        if response_mode not in INSTALL_RESPONSE_MODES:
            raise ConfigurationError(
                f"response_mode must be one of {', '.join(INSTALL_RESPONSE_MODES)} for an install"
            )
        if tenant is not None:
            tenant = check_context_identifier(tenant)
        if redirect_uri is not None and redirect_uri != app.redirect_uri:
            raise RedirectUriNotRegisteredError(
                f"{app.name} has registered the redirect URI {app.redirect_uri!r}, not"
                f" {redirect_uri[:200]!r}; SuperID refuses any other (InvalidRedirectUrl):"
                " register this one too, or serve the callback at the registered one",
                redirect_uri=redirect_uri,
                registered=(app.redirect_uri,) if app.redirect_uri else (),
            )
        if app.kind == "custom":
            if tenant is not None and not same_tenant(tenant, app.tenant):
                raise ConfigurationError(
                    f"custom application {app.name!r} belongs to {app.tenant}, not {tenant}"
                )
            tenant = app.tenant
        if return_to is not None and (
            not return_to.startswith("/") or return_to.startswith("//") or "\\" in return_to
        ):
            raise ConfigurationError("return_to must be a local path starting with one /")
        client = self.client_for(app)
        metadata = client.metadata
        if metadata.response_modes_supported and response_mode not in (
            metadata.response_modes_supported
        ):
            raise ConfigurationError(f"SuperID does not offer response_mode={response_mode}")
        transaction = SignInTransaction(
            state=bind_tenant(generate_state(), tenant),
            nonce=generate_nonce(),
            code_verifier=generate_code_verifier(),
            redirect_uri=client.redirect_uri,
            created_at=self._now(),
            response_mode=response_mode,
            tenant=tenant,
            return_to=return_to,
        )
        url = build_authorization_url(
            metadata.authorization_endpoint,
            client_id=app.client_id,
            redirect_uri=transaction.redirect_uri,
            state=transaction.state,
            nonce=transaction.nonce,
            code_challenge=code_challenge_s256(transaction.code_verifier),
            response_mode=response_mode,
            tenant=tenant,
            prompt=prompt,
        )
        self._repository.purge_expired_sign_ins()
        StoreTransactionStore(self._repository, app.id, ttl=self._ttl).put(transaction)
        logger.info("install of %s started (tenant=%s)", app.name, tenant or "any")
        return url

    # -- complete ----------------------------------------------------------------------------

    def complete(self, params: CallbackParams, *, actor: str = "partner-endpoint") -> InstallResult:
        """Finish an install from the callback's parameters (query or form_post fields).

        Raises :class:`~toolkit.errors.StateMismatchError` (unknown, used or expired state),
        :class:`~toolkit.errors.AuthorizationDeniedError` (``error=`` from SuperID),
        :class:`~toolkit.errors.OAuthError` (code refused), a
        :class:`~toolkit.errors.TokenValidationError` (id_token refused),
        :class:`TenantMismatchError` or :class:`NotAdministratorError`. In every one of those
        cases nothing is stored but an audit event saying why.
        """
        http = self._http
        return drive_token_flow(
            self.complete_flow(params, actor=actor),
            lambda request, what: post_token_request(http, request, what),
        )

    def complete_flow(
        self, params: CallbackParams, *, actor: str = "partner-endpoint"
    ) -> TokenFlow[InstallResult]:
        """:meth:`complete` as a flow that yields the token request and takes the answer back
        (:func:`~toolkit.auth.oidc.drive_token_flow` drives it sync; the async API sends it on
        ``httpx.AsyncClient`` and runs each step of the flow in a worker thread)."""
        callback = parse_callback(params)
        transaction = StoreTransactionStore(self._repository, ttl=self._ttl).take(callback.state)
        app = self._repository.get_application(transaction.extra["application_id"])
        try:
            client = self.client_for(app)
            self._hand_over.put(transaction)
            try:
                result = yield from client.sign_in_flow(params)
            finally:
                self._hand_over.discard(transaction.state)
            claims = result.claims
            context_identifier = self._check_tenant(app, transaction, claims)
            install = self._record(
                app,
                context_identifier,
                claims,
                refresh_token=result.tokens.refresh_token,
                actor=actor,
            )
        except ToolkitError as exc:
            self._audit_refusal(app, transaction, exc, actor)
            raise
        logger.info(
            "install of %s in %s: %s (approved by %s)",
            app.name,
            install.authorization.context_identifier,
            install.outcome.value,
            install.authorization.approved_by,
        )
        return InstallResult(
            application=app,
            authorization=install.authorization,
            outcome=install.outcome,
            claims=claims,
            return_to=transaction.return_to,
            tokens=result.tokens,
        )

    @staticmethod
    def _check_tenant(
        app: Application, transaction: SignInTransaction, claims: IdTokenClaims
    ) -> str:
        actual = claims.context_identifier
        if not actual:
            raise SignInError("the id_token names no tenant (no ctx claim)")
        validate_context_identifier(actual)
        if transaction.tenant is not None and not same_tenant(actual, transaction.tenant):
            raise TenantMismatchError(
                f"the install was started for {transaction.tenant} but SuperID signed in to"
                f" {actual}",
                expected=transaction.tenant,
                actual=actual,
            )
        if app.kind == "custom" and not same_tenant(actual, app.tenant):
            raise TenantMismatchError(
                f"custom application {app.name!r} belongs to {app.tenant}, not {actual}",
                expected=app.tenant,
                actual=actual,
            )
        return actual

    def _record(
        self,
        app: Application,
        context_identifier: str,
        claims: IdTokenClaims,
        *,
        refresh_token: str | None,
        actor: str,
    ) -> _Recorded:
        try:
            existing: Authorization | None = self._repository.get_authorization(
                app.id, context_identifier
            )
        except NotFoundError:
            existing = None
        tenant_fields: dict[str, Any] = {
            "company_name": claims.company_name,
            "serial": claims.serial,
            "webapi_url": claims.webapi_url,
            "netserver_url": claims.netserver_url,
        }
        if claims.is_administrator is True:
            authorization, outcome = self._repository.put_authorization(
                app.id,
                context_identifier,
                token_issued_at=claims.issued_at,
                system_user_token=claims.system_user_token,
                refresh_token=refresh_token,
                approved_by=claims.subject,
                approved_by_associate_id=claims.associate_id,
                approved_at=claims.issued_at,
                claims=stored_claims(claims),
                actor=actor,
                **tenant_fields,
            )
        elif existing is None:
            raise NotAdministratorError(
                f"only a tenant administrator can install {app.name!r} into"
                f" {context_identifier}; this sign-in is not an administrator's",
                context_identifier=context_identifier,
            )
        else:
            # Refresh only: keep who approved, when, with which claims, and the admin's
            # refresh token; take the tenant's current system user token and URLs.
            kept_refresh = existing.refresh_token.reveal() if existing.refresh_token else None
            system_user_token = claims.system_user_token
            if system_user_token is None and existing.system_user_token is not None:
                system_user_token = existing.system_user_token.reveal()
            authorization, outcome = self._repository.put_authorization(
                app.id,
                context_identifier,
                token_issued_at=claims.issued_at,
                system_user_token=system_user_token,
                refresh_token=kept_refresh,
                approved_by=existing.approved_by,
                approved_by_associate_id=existing.approved_by_associate_id,
                approved_at=existing.approved_at,
                claims=dict(existing.claims),
                actor=actor,
                **tenant_fields,
            )
        if outcome in (PutOutcome.UNCHANGED, PutOutcome.STALE):
            # put_authorization audits only the changes it makes; say what happened anyway.
            self._repository.record_audit(
                actor,
                f"install.{outcome.value}",
                application=app.name,
                context_identifier=context_identifier,
                summary={"outcome": outcome.value, "administrator": claims.is_administrator},
            )
        return _Recorded(authorization, outcome)

    def _audit_refusal(
        self,
        app: Application,
        transaction: SignInTransaction,
        error: ToolkitError,
        actor: str,
    ) -> None:
        reason = getattr(error, "reason", None) or getattr(error, "error", None)
        summary: Mapping[str, Any] = {
            "outcome": "refused",
            "error": type(error).__name__,
            # OAuth error codes come from the wire: bounded, never a description.
            "reason": reason[:64] if isinstance(reason, str) else None,
        }
        try:
            self._repository.record_audit(
                actor,
                "install.refused",
                application=app.name,
                context_identifier=getattr(error, "context_identifier", None) or transaction.tenant,
                summary=summary,
            )
        except ToolkitError:  # pragma: no cover - auditing must not hide the real error
            logger.exception("could not record the refused install of %s", app.name)
