"""SuperIdClient: runs the sign-in, and refreshes, revokes and signs out (protocol §2)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import SecretStr

from toolkit.auth.jwks import JwksCache
from toolkit.auth.oidc.authorize import (
    MAX_LOGIN_HINT_LENGTH,
    RESPONSE_MODES,
    AuthorizationRequest,
    ResponseMode,
    build_authorization_url,
    code_challenge_s256,
    generate_code_verifier,
    generate_nonce,
    generate_state,
    validate_context_identifier,
)
from toolkit.auth.oidc.callback import CallbackParams, parse_callback
from toolkit.auth.oidc.discovery import ProviderMetadata, fetch_provider_metadata
from toolkit.auth.oidc.sign_out import (
    build_logout_url,
    build_revocation_request,
    carries_system_user_token,
    parse_revocation_response,
)
from toolkit.auth.oidc.token_endpoint import (
    TOKEN_AUTH_METHODS,
    TokenAuthMethod,
    TokenRequest,
    TokenResponse,
    authorization_code_grant,
    build_token_request,
    parse_token_response,
    post_token_request,
    refresh_token_grant,
)
from toolkit.auth.oidc.token_flow import TokenFlow, drive_token_flow
from toolkit.auth.tokens import ValidationPolicy, validate_id_token
from toolkit.auth.transactions import (
    InMemoryTransactionStore,
    SignInTransaction,
    TransactionStore,
    utc_now,
)
from toolkit.claims import IdTokenClaims
from toolkit.config import Environment, require_secure_url
from toolkit.errors import (
    AuthorizationDeniedError,
    ConfigurationError,
    SignInError,
    UnexpectedResponseError,
)
from toolkit.http import redact_text, url_for_error

__all__ = ["SignInResult", "SuperIdClient"]

logger = logging.getLogger("toolkit.auth.oidc")


@dataclass(frozen=True, repr=False)
class SignInResult:
    """A completed sign-in: the tokens and the validated, typed id_token claims.

    ``transaction`` is the pending sign-in the callback completed (tenant hint, ``return_to``).
    """

    tokens: TokenResponse
    claims: IdTokenClaims
    transaction: SignInTransaction | None = None

    def __repr__(self) -> str:
        return f"SignInResult(tokens={self.tokens!r}, claims={self.claims!r})"

    __str__ = __repr__


class SuperIdClient:
    """Signs users in through SuperID and manages their tokens (protocol §2).

    ``http`` is the toolkit's httpx client (see :func:`toolkit.http.create_client`); discovery
    is fetched through it lazily, once, and cached, and the :class:`~toolkit.auth.jwks.JwksCache`
    is built from its ``jwks_uri`` unless ``keys`` is given. ``now`` returns an aware UTC
    datetime; ``transactions`` defaults to an :class:`InMemoryTransactionStore` on that clock.
    """

    def __init__(
        self,
        environment: Environment,
        client_id: str,
        client_secret: str | SecretStr,
        redirect_uri: str,
        *,
        http: httpx.Client,
        keys: JwksCache | None = None,
        transactions: TransactionStore | None = None,
        policy: ValidationPolicy | None = None,
        now: Callable[[], datetime] = utc_now,
        token_auth_method: TokenAuthMethod = "client_secret_post",
    ) -> None:
        if not client_id:
            raise ConfigurationError("client_id is required")
        secret = (
            client_secret.get_secret_value()
            if isinstance(client_secret, SecretStr)
            else client_secret
        )
        if not secret:
            raise ConfigurationError("client_secret is required")
        if token_auth_method not in TOKEN_AUTH_METHODS:
            raise ConfigurationError(
                f"token_auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}"
            )
        self.environment = environment
        self.client_id = client_id
        self._client_secret = secret
        self.redirect_uri = require_secure_url(redirect_uri, what="redirect_uri")
        self.token_auth_method: TokenAuthMethod = token_auth_method
        self._http = http
        self._keys = keys
        self._policy = policy if policy is not None else ValidationPolicy()
        self._now = now
        self.transactions: TransactionStore = (
            transactions if transactions is not None else InMemoryTransactionStore(now=now)
        )
        self._metadata: ProviderMetadata | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"SuperIdClient(environment={self.environment.name!r}, client_id={self.client_id!r},"
            f" redirect_uri={self.redirect_uri!r})"
        )

    @property
    def application_token(self) -> str:
        """The application's client secret, which is also its application token: the
        ``SO-AppToken`` its tenant calls send (protocol §5, §8). Never log it."""
        return self._client_secret

    # -- discovery and keys

    @property
    def metadata(self) -> ProviderMetadata:
        """The provider metadata, fetched on first use and then cached."""
        with self._lock:
            if self._metadata is None:
                self._metadata = fetch_provider_metadata(self._http, self.environment)
            return self._metadata

    @property
    def keys(self) -> JwksCache:
        """The signing keys, built from the discovered ``jwks_uri`` on first use."""
        metadata = self.metadata
        with self._lock:
            if self._keys is None:
                self._keys = JwksCache(metadata.jwks_uri, self._http, now=self._now)
            return self._keys

    # -- sign-in

    def begin_sign_in(
        self,
        *,
        tenant: str | None = None,
        login_hint: str | None = None,
        response_mode: ResponseMode = "query",
        use_tenant_path: bool = False,
        return_to: str | None = None,
    ) -> AuthorizationRequest:
        """Start a sign-in: store a pending transaction, return the URL to redirect to.

        ``tenant`` (a context identifier) adds ``acr_values=tenant:{ctx}``; with
        ``use_tenant_path`` the authorize URL is the tenant path ``/login/{ctx}/oauth/authorize``
        (protocol §2.2 [S]: SuperOffice's samples use it for single sign-on from a web panel).
        ``response_mode`` is ``query`` (default), ``form_post`` (the callback arrives as a POST;
        SuperOffice recommends it for native apps) or ``fragment`` (browser apps only: a
        fragment never reaches a server).
        """
        if response_mode not in RESPONSE_MODES:
            raise ConfigurationError(f"response_mode must be one of {', '.join(RESPONSE_MODES)}")
        if tenant is not None:
            validate_context_identifier(tenant)
        if use_tenant_path and tenant is None:
            raise ConfigurationError("use_tenant_path needs a tenant")
        if login_hint is not None and (
            not login_hint.strip() or len(login_hint) > MAX_LOGIN_HINT_LENGTH
        ):
            raise SignInError("login_hint must be a SuperID user name")
        metadata = self.metadata
        if metadata.response_modes_supported and response_mode not in (
            metadata.response_modes_supported
        ):
            raise ConfigurationError(f"SuperID does not offer response_mode={response_mode}")
        endpoint = (
            self.environment.tenant_authorize_url(tenant)
            if use_tenant_path and tenant is not None
            else metadata.authorization_endpoint
        )
        transaction = SignInTransaction(
            state=generate_state(),
            nonce=generate_nonce(),
            code_verifier=generate_code_verifier(),
            redirect_uri=self.redirect_uri,
            created_at=self._now(),
            response_mode=response_mode,
            tenant=tenant,
            login_hint=login_hint,
            return_to=return_to,
        )
        url = build_authorization_url(
            endpoint,
            client_id=self.client_id,
            redirect_uri=transaction.redirect_uri,
            state=transaction.state,
            nonce=transaction.nonce,
            code_challenge=code_challenge_s256(transaction.code_verifier),
            response_mode=response_mode,
            tenant=tenant,
            login_hint=login_hint,
        )
        self.transactions.put(transaction)
        logger.info(
            "sign-in started (tenant=%s, response_mode=%s, tenant_path=%s)",
            tenant,
            response_mode,
            use_tenant_path,
        )
        return AuthorizationRequest(url=url, state=transaction.state)

    def complete_sign_in(self, params: CallbackParams) -> SignInResult:
        """Finish a sign-in from the callback parameters (query, form_post or fragment fields).

        The ``state`` is checked and consumed first (single use: a replay raises
        :class:`~toolkit.errors.StateMismatchError`), then an ``error=`` answer raises
        :class:`~toolkit.errors.AuthorizationDeniedError`, else the code is redeemed and the
        id_token validated against the transaction's nonce.
        """
        return drive_token_flow(self.sign_in_flow(params), self._post)

    def sign_in_flow(self, params: CallbackParams) -> TokenFlow[SignInResult]:
        """:meth:`complete_sign_in` as a flow: it yields the token request to send and takes
        the token endpoint's answer back, so a sync (:func:`drive_token_flow`) or an async
        driver (the async API) sends it. The checks, the parsing and the validation are the
        flow's; a driver only sends (and throws a transport error into the flow)."""
        callback = parse_callback(params)
        transaction = self.transactions.take(callback.state)
        if callback.issuer is not None and callback.issuer != self.environment.issuer:
            # RFC 9207 mix-up defence, when the server sends iss (SuperID does not document it).
            raise SignInError("the callback came from another issuer")
        if callback.error is not None:
            logger.info("sign-in answered with error %r", callback.error[:64])
            raise AuthorizationDeniedError(
                callback.error,
                redact_text(callback.error_description) if callback.error_description else None,
            )
        if callback.code is None:  # parse_callback guarantees a code or an error
            raise SignInError("the callback carries no code")
        metadata = self.metadata
        request = build_token_request(
            metadata.token_endpoint,
            authorization_code_grant(
                callback.code, transaction.redirect_uri, transaction.code_verifier
            ),
            client_id=self.client_id,
            client_secret=self._client_secret,
            auth_method=self.token_auth_method,
        )
        response = yield request
        tokens = parse_token_response(response, now=self._now)
        if tokens.id_token is None:
            raise UnexpectedResponseError(
                "the token endpoint returned no id_token for an openid sign-in",
                url=url_for_error(request.url),
            )
        claims = self._validate(tokens.id_token, nonce=transaction.nonce)
        logger.info("sign-in completed (tenant=%s)", claims.context_identifier)
        return SignInResult(tokens=tokens, claims=claims, transaction=transaction)

    # -- tokens

    def refresh(self, refresh_token: str) -> TokenResponse:
        """Exchange a refresh token for a new access token (protocol §2.4).

        A returned id_token is validated (no nonce is expected on refresh). SuperID's documented
        refresh response has no ``refresh_token``: the one passed in stays valid (refresh tokens
        are reusable), so it is carried over.
        """
        if not refresh_token:
            raise ValueError("refresh_token is required")
        request = build_token_request(
            self.metadata.token_endpoint,
            refresh_token_grant(refresh_token),
            client_id=self.client_id,
            client_secret=self._client_secret,
            auth_method=self.token_auth_method,
        )
        tokens = self._send_token_request(request)
        if tokens.id_token is not None:
            self._validate(tokens.id_token, nonce=None)
        if tokens.refresh_token is None:
            tokens = TokenResponse(
                access_token=tokens.access_token,
                token_type=tokens.token_type,
                expires_at=tokens.expires_at,
                refresh_token=refresh_token,
                id_token=tokens.id_token,
                scope=tokens.scope,
            )
        logger.debug("access token refreshed")
        return tokens

    def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """Revoke a refresh token (or reference access token) per RFC 7009 (protocol §2.4)."""
        if not token:
            raise ValueError("token is required")
        endpoint = self.metadata.revocation_endpoint or self.environment.revocation_url
        request = build_revocation_request(
            endpoint,
            token,
            token_type_hint=token_type_hint,
            client_id=self.client_id,
            client_secret=self._client_secret,
            auth_method=self.token_auth_method,
        )
        parse_revocation_response(self._post(request, "the revocation endpoint"))
        logger.info("token revoked")

    def logout_url(self, post_logout_redirect_uri: str, id_token_hint: str | None = None) -> str:
        """The SuperID end-session URL to redirect the browser to (protocol §2.5).

        An id_token that carries the secret ``system_token`` claim is refused as a hint: it would
        put the system user token into browser history and server logs.
        """
        if id_token_hint is not None and carries_system_user_token(id_token_hint):
            raise ConfigurationError(
                "this id_token carries the system user token and must not go into a URL;"
                " log out without id_token_hint"
            )
        endpoint = self.metadata.end_session_endpoint or self.environment.logout_url
        return build_logout_url(
            endpoint,
            post_logout_redirect_uri,
            client_id=self.client_id,
            id_token_hint=id_token_hint,
        )

    # -- I/O

    def _post(self, request: TokenRequest, what: str) -> httpx.Response:
        return post_token_request(self._http, request, what)

    def _send_token_request(self, request: TokenRequest) -> TokenResponse:
        return parse_token_response(self._post(request, "the token endpoint"), now=self._now)

    def _validate(self, id_token: str, *, nonce: str | None) -> IdTokenClaims:
        return validate_id_token(
            id_token,
            keys=self.keys,
            issuer=self.metadata.issuer,
            client_id=self.client_id,
            nonce=nonce,
            policy=self._policy,
            now=self._now,
        )
