"""SuperID sign-in: OpenID Connect authorization code flow with PKCE (protocol §2).

The flow, as :class:`SuperIdClient` runs it:

1. :meth:`SuperIdClient.begin_sign_in` creates a pending :class:`SignInTransaction` (random
   ``state`` and ``nonce``, a PKCE S256 ``code_verifier``), stores it server-side and returns the
   SuperID authorize URL to redirect the browser to.
2. SuperID signs the user in (and, for an administrator installing the app, asks for consent)
   and redirects back to ``redirect_uri`` with ``code`` + ``state`` (or ``error`` + ``state``).
3. :meth:`SuperIdClient.complete_sign_in` takes the transaction by ``state`` (single use),
   redeems the code at the token endpoint and validates the id_token (issuer, audience, nonce,
   signature) into typed :class:`~toolkit.claims.IdTokenClaims`.

Request building and response parsing are pure functions (``build_*`` / ``parse_*``) so that an
async twin only has to redo the thin I/O methods. Nothing here logs or puts into an exception a
code, token, state, nonce, verifier or secret; the client secret only ever travels in a POST
body or an ``Authorization`` header, never in a URL.

The package's modules, one seam each (everything is importable from here, as before):
:mod:`~toolkit.auth.oidc.discovery` (the OpenID configuration),
:mod:`~toolkit.auth.oidc.authorize` (state, nonce, PKCE and the authorize URL),
:mod:`~toolkit.auth.oidc.callback` (the redirect back),
:mod:`~toolkit.auth.oidc.token_endpoint` (token requests and answers),
:mod:`~toolkit.auth.oidc.token_flow` (driving a flow on a sync or an async transport),
:mod:`~toolkit.auth.oidc.sign_out` (revocation and the end-session URL) and
:mod:`~toolkit.auth.oidc.client` (:class:`SuperIdClient`).
"""

from __future__ import annotations

# ``X as X``: importable from here as before, though not in __all__ (helpers other modules use).
from toolkit.auth.oidc.authorize import CODE_VERIFIER_BYTES as CODE_VERIFIER_BYTES
from toolkit.auth.oidc.authorize import CONTEXT_IDENTIFIER_PATTERN as CONTEXT_IDENTIFIER_PATTERN
from toolkit.auth.oidc.authorize import MAX_LOGIN_HINT_LENGTH as MAX_LOGIN_HINT_LENGTH
from toolkit.auth.oidc.authorize import PROMPTS as PROMPTS
from toolkit.auth.oidc.authorize import (
    RESPONSE_MODES,
    AuthorizationRequest,
    build_authorization_url,
    code_challenge_s256,
    generate_code_verifier,
    generate_nonce,
    generate_state,
    validate_context_identifier,
)
from toolkit.auth.oidc.authorize import STATE_BYTES as STATE_BYTES
from toolkit.auth.oidc.authorize import ResponseMode as ResponseMode
from toolkit.auth.oidc.callback import MAX_CALLBACK_VALUE_LENGTH as MAX_CALLBACK_VALUE_LENGTH
from toolkit.auth.oidc.callback import (
    CallbackParams,
    CallbackResponse,
    callback_params_from_form,
    callback_params_from_url,
    parse_callback,
)
from toolkit.auth.oidc.client import SignInResult, SuperIdClient
from toolkit.auth.oidc.discovery import (
    ProviderMetadata,
    fetch_provider_metadata,
    parse_provider_metadata,
)
from toolkit.auth.oidc.sign_out import (
    build_logout_url,
    build_revocation_request,
    parse_revocation_response,
)
from toolkit.auth.oidc.token_endpoint import (
    TOKEN_AUTH_METHODS,
    TokenRequest,
    TokenResponse,
    build_token_request,
    parse_token_response,
)
from toolkit.auth.oidc.token_endpoint import TokenAuthMethod as TokenAuthMethod
from toolkit.auth.oidc.token_endpoint import async_post_token_request as async_post_token_request
from toolkit.auth.oidc.token_endpoint import authorization_code_grant as authorization_code_grant
from toolkit.auth.oidc.token_endpoint import post_token_request as post_token_request
from toolkit.auth.oidc.token_endpoint import refresh_token_grant as refresh_token_grant
from toolkit.auth.oidc.token_flow import TokenFlow as TokenFlow
from toolkit.auth.oidc.token_flow import async_drive_token_flow as async_drive_token_flow
from toolkit.auth.oidc.token_flow import drive_token_flow as drive_token_flow
from toolkit.auth.transactions import (
    MAX_PENDING_SIGN_INS,
    SIGN_IN_TTL,
    InMemoryTransactionStore,
    SignInTransaction,
    TransactionStore,
)

__all__ = [
    "MAX_PENDING_SIGN_INS",
    "RESPONSE_MODES",
    "SIGN_IN_TTL",
    "TOKEN_AUTH_METHODS",
    "AuthorizationRequest",
    "CallbackParams",
    "CallbackResponse",
    "InMemoryTransactionStore",
    "ProviderMetadata",
    "SignInResult",
    "SignInTransaction",
    "SuperIdClient",
    "TokenRequest",
    "TokenResponse",
    "TransactionStore",
    "build_authorization_url",
    "build_logout_url",
    "build_revocation_request",
    "build_token_request",
    "callback_params_from_form",
    "callback_params_from_url",
    "code_challenge_s256",
    "fetch_provider_metadata",
    "generate_code_verifier",
    "generate_nonce",
    "generate_state",
    "parse_callback",
    "parse_provider_metadata",
    "parse_revocation_response",
    "parse_token_response",
    "validate_context_identifier",
]
