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
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import jwt
from pydantic import SecretStr

from toolkit.auth.jwks import JwksCache
from toolkit.auth.tokens import ValidationPolicy, validate_id_token
from toolkit.auth.transactions import (
    MAX_PENDING_SIGN_INS,
    SIGN_IN_TTL,
    InMemoryTransactionStore,
    SignInTransaction,
    TransactionStore,
    utc_now,
)
from toolkit.claims import REDACTED, SYSTEM_TOKEN, IdTokenClaims
from toolkit.config import Environment, require_secure_url
from toolkit.errors import (
    AuthorizationDeniedError,
    ConfigurationError,
    DiscoveryError,
    SignInError,
    StateMismatchError,
    TransportError,
    UnexpectedResponseError,
    oauth_error,
)
from toolkit.http import (
    async_send_request,
    get_json,
    redact_text,
    redact_url,
    send_request,
    url_for_error,
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

logger = logging.getLogger("toolkit.auth.oidc")

# Response modes SuperID documents for the authorize request (protocol §2.2). ``fragment`` is for
# browser (single-page) and native apps only: a fragment never reaches a server, so the app
# itself must read the redirect URL and hand it to :func:`callback_params_from_url`.
RESPONSE_MODES = ("query", "form_post", "fragment")
# OIDC Core prompt values the toolkit sends: "login" forces a fresh sign-in [I] (see
# build_authorization_url).
PROMPTS = ("login",)
ResponseMode = Literal["query", "form_post", "fragment"]
# How the client authenticates at the token endpoint. SuperOffice's own samples put the secret
# in the form body; ``client_secret_basic`` is listed only in a mock discovery document
# (protocol §2.1 [S], open question 7), so it is an option, not the default.
TOKEN_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
TokenAuthMethod = Literal["client_secret_post", "client_secret_basic"]
# Random bytes behind state and nonce: 256 bits, well above the 128 bits OAuth asks for.
STATE_BYTES = 32
# Random bytes behind the PKCE verifier: 48 bytes -> 64 base64url characters, inside RFC 7636's
# 43..128 and made only of unreserved characters.
CODE_VERIFIER_BYTES = 48
# Context identifier: "Cust" + digits (protocol §1); docs also show lower case ("cust1234").
CONTEXT_IDENTIFIER_PATTERN = re.compile(r"Cust[0-9]{1,12}", re.IGNORECASE)
# Bounds on callback parameters: SuperID's codes and our states are far shorter, and a bound
# keeps junk out of the store lookup and the token request.
MAX_CALLBACK_VALUE_LENGTH = 4096
MAX_LOGIN_HINT_LENGTH = 256
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


# --------------------------------------------------------------------------------- randomness


def generate_state() -> str:
    """A fresh, unguessable ``state`` (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(STATE_BYTES)


def generate_nonce() -> str:
    """A fresh, unguessable ``nonce`` (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(STATE_BYTES)


def generate_code_verifier() -> str:
    """A PKCE ``code_verifier``: 64 characters from the unreserved set (RFC 7636 §4.1)."""
    return secrets.token_urlsafe(CODE_VERIFIER_BYTES)


def code_challenge_s256(code_verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding (RFC 7636 §4.2, §2.2)."""
    if not _UNRESERVED.fullmatch(code_verifier):
        raise ValueError("a code_verifier is 43 to 128 characters from [A-Za-z0-9-._~]")
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_context_identifier(context_identifier: str) -> str:
    """Return ``context_identifier`` if it is ``Cust`` + digits (any case), else raise.

    Raises :class:`~toolkit.errors.SignInError`: the value usually comes from a request (a web
    panel's ``uctx``), so it must be checked before it goes into a URL path.
    """
    if not isinstance(context_identifier, str) or not CONTEXT_IDENTIFIER_PATTERN.fullmatch(
        context_identifier
    ):
        raise SignInError("the tenant must be a context identifier like Cust12345")
    return context_identifier


# ---------------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of SuperID's OpenID configuration the toolkit uses (protocol §2.1).

    ``end_session_endpoint`` and ``revocation_endpoint`` are filled from the environment's
    derived URLs when the document omits them (the official excerpt does, open question 10);
    ``derived_endpoints`` names the ones that were filled in that way.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    response_modes_supported: tuple[str, ...] = ("query", "fragment")
    response_types_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ("authorization_code", "implicit")
    derived_endpoints: frozenset[str] = field(default_factory=frozenset)


def _string_list(
    document: Mapping[str, Any], name: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DiscoveryError(f"OpenID configuration field {name} is not a list of strings")
    return tuple(value)


def _endpoint(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise DiscoveryError(f"OpenID configuration field {name} is not a URL")
    try:
        return require_secure_url(value, what=name)
    except ConfigurationError as exc:
        raise DiscoveryError(f"OpenID configuration field {name} is not usable: {exc}") from exc


def parse_provider_metadata(
    document: Mapping[str, Any], environment: Environment
) -> ProviderMetadata:
    """Check a discovery document against ``environment`` and keep what the toolkit needs.

    The ``issuer`` must equal ``environment.issuer`` character for character (no ``/login``
    suffix, no trailing slash, same case: protocol §2.1); every endpoint must be https (or http
    on loopback); the four core fields are required.
    """
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise DiscoveryError("OpenID configuration has no issuer")
    if issuer != environment.issuer:
        raise DiscoveryError(
            f"OpenID configuration issuer {issuer!r} is not the expected {environment.issuer!r}"
        )
    required = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        url = _endpoint(document, name)
        if url is None:
            raise DiscoveryError(f"OpenID configuration has no {name}")
        required[name] = url
    derived: set[str] = set()
    end_session = _endpoint(document, "end_session_endpoint")
    if end_session is None:
        # Only a third-party mock lists /login/logout (protocol §2.1 [S], open question 10).
        end_session = environment.logout_url
        derived.add("end_session_endpoint")
    revocation = _endpoint(document, "revocation_endpoint")
    if revocation is None:
        # Only a third-party mock lists /login/common/oauth/revoke (open question 10).
        revocation = environment.revocation_url
        derived.add("revocation_endpoint")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=required["authorization_endpoint"],
        token_endpoint=required["token_endpoint"],
        jwks_uri=required["jwks_uri"],
        end_session_endpoint=end_session,
        revocation_endpoint=revocation,
        # Defaults are OpenID Connect Discovery 1.0 §3's for absent fields.
        response_modes_supported=_string_list(
            document, "response_modes_supported", ("query", "fragment")
        ),
        response_types_supported=_string_list(document, "response_types_supported", ()),
        code_challenge_methods_supported=_string_list(
            document, "code_challenge_methods_supported", ()
        ),
        token_endpoint_auth_methods_supported=_string_list(
            document, "token_endpoint_auth_methods_supported", ("client_secret_basic",)
        ),
        id_token_signing_alg_values_supported=_string_list(
            document, "id_token_signing_alg_values_supported", ()
        ),
        scopes_supported=_string_list(document, "scopes_supported", ()),
        grant_types_supported=_string_list(
            document, "grant_types_supported", ("authorization_code", "implicit")
        ),
        derived_endpoints=frozenset(derived),
    )


def fetch_provider_metadata(client: httpx.Client, environment: Environment) -> ProviderMetadata:
    """GET ``environment.discovery_url`` and :func:`parse_provider_metadata` it."""
    document = get_json(client, environment.discovery_url, "OpenID configuration")
    if not isinstance(document, Mapping):
        raise DiscoveryError("OpenID configuration is not a JSON object")
    metadata = parse_provider_metadata(document, environment)
    logger.debug("fetched OpenID configuration for issuer %s", metadata.issuer)
    return metadata


# ------------------------------------------------------------------------- authorize request


@dataclass(frozen=True, repr=False)
class AuthorizationRequest:
    """Where to send the browser to sign in, and the ``state`` that identifies the sign-in."""

    url: str
    state: str

    def __repr__(self) -> str:
        return f"AuthorizationRequest(url={redact_url(self.url)!r}, state={REDACTED!r})"

    __str__ = __repr__


def build_authorization_url(
    authorization_endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_challenge: str,
    response_mode: str = "query",
    tenant: str | None = None,
    login_hint: str | None = None,
    prompt: str | None = None,
) -> str:
    """The SuperID authorize URL for the code flow with PKCE S256 (protocol §2.2).

    ``tenant`` adds ``acr_values=tenant:{ctx}``, which skips SuperID's tenant selection.
    ``response_mode`` is always sent, even the default ``query``, so the URL says what it asks.
    ``prompt="login"`` asks for a fresh sign-in even when SuperID has a session: OIDC Core
    §3.1.2.1; SuperOffice's parameter table (SuperOfficeDocs
    ``docs/en/api/authentication/online/sign-in-user/auth-code-flow.md``) does not list it [I].
    """
    if prompt is not None and prompt not in PROMPTS:
        raise ConfigurationError(f"prompt must be one of {', '.join(PROMPTS)}")
    if response_mode not in RESPONSE_MODES:
        raise ConfigurationError(f"response_mode must be one of {', '.join(RESPONSE_MODES)}")
    params: list[tuple[str, str]] = [
        ("client_id", client_id),
        ("response_type", "code"),
        # SuperID ignores every scope but openid (protocol §2.2, SD:native).
        ("scope", "openid"),
        ("redirect_uri", redirect_uri),
        ("response_mode", response_mode),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", code_challenge),
        ("code_challenge_method", "S256"),
    ]
    if tenant is not None:
        params.append(("acr_values", f"tenant:{validate_context_identifier(tenant)}"))
    if login_hint is not None:
        params.append(("login_hint", login_hint))
    if prompt is not None:
        params.append(("prompt", prompt))
    separator = "&" if urlsplit(authorization_endpoint).query else "?"
    return f"{authorization_endpoint}{separator}{urlencode(params, quote_via=quote)}"


# ---------------------------------------------------------------------------------- callback


# Callback parameters as they come: a plain mapping, (name, value) pairs, or a Starlette
# QueryParams / FormData (whose ``multi_items`` reveal repeated names).
CallbackParams = Mapping[str, Any] | Iterable[tuple[str, Any]]


@dataclass(frozen=True, repr=False)
class CallbackResponse:
    """What SuperID sent back to ``redirect_uri``: ``code`` or ``error``, always with ``state``."""

    state: str
    code: str | None = None
    error: str | None = None
    error_description: str | None = None
    error_uri: str | None = None
    issuer: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None

    def __repr__(self) -> str:
        code = None if self.code is None else REDACTED
        return (
            f"CallbackResponse(state={REDACTED!r}, code={code!r}, error={self.error!r}, "
            f"error_description={self.error_description!r})"
        )

    __str__ = __repr__


def _unique_params(pairs: Iterable[tuple[str, Any]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not isinstance(value, str):
            # e.g. a file upload in a form_post body
            raise SignInError("the callback carries a parameter that is not text")
        if key in params:
            # RFC 6749 §3.1: parameters must not be included more than once.
            raise SignInError(f"the callback carries the parameter {key!r} more than once")
        params[key] = value
    return params


def _pairs_of(params: CallbackParams) -> Iterable[tuple[str, Any]]:
    multi_items = getattr(params, "multi_items", None)
    if callable(multi_items):  # Starlette's QueryParams / FormData keep repeated keys
        items: Iterable[tuple[str, Any]] = multi_items()
        return items
    if isinstance(params, Mapping):
        return params.items()
    return params


def callback_params_from_url(url: str) -> dict[str, str]:
    """The callback parameters of a redirect URL: its query, or its fragment for fragment mode.

    A parameter repeated (within or across the two parts) is refused.
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    pairs += parse_qsl(parts.fragment, keep_blank_values=True)
    return _unique_params(pairs)


def callback_params_from_form(fields: CallbackParams) -> dict[str, str]:
    """The callback parameters of a ``response_mode=form_post`` POST (fields or a multi-dict)."""
    return _unique_params(_pairs_of(fields))


def _optional_text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CALLBACK_VALUE_LENGTH:
        raise SignInError(f"the callback parameter {name} is not usable")
    return value


def parse_callback(params: CallbackParams) -> CallbackResponse:
    """Check the shape of a callback and return it; it does **not** raise for ``error=``.

    Refused with :class:`~toolkit.errors.StateMismatchError`: no ``state``. Refused with
    :class:`~toolkit.errors.SignInError`: repeated parameters, both ``code`` and ``error``,
    neither, empty or oversized values. An ``error`` response is returned as data so that the
    caller can first check and consume the ``state`` (see :meth:`SuperIdClient.complete_sign_in`).
    """
    unique = _unique_params(_pairs_of(params))
    state = _optional_text(unique, "state")
    if not state:
        raise StateMismatchError("the callback has no state")
    code = _optional_text(unique, "code")
    error = _optional_text(unique, "error")
    if code is not None and error is not None:
        raise SignInError("the callback carries both a code and an error")
    if code is None and error is None:
        raise SignInError("the callback carries neither a code nor an error")
    if code is not None and not code:
        raise SignInError("the callback carries an empty code")
    if error is not None and not error:
        raise SignInError("the callback carries an empty error")
    return CallbackResponse(
        state=state,
        code=code,
        error=error,
        error_description=_optional_text(unique, "error_description"),
        error_uri=_optional_text(unique, "error_uri"),
        issuer=_optional_text(unique, "iss"),
    )


# ----------------------------------------------------------------------------- token endpoint


@dataclass(frozen=True, repr=False)
class TokenRequest:
    """A POST to the token or revocation endpoint: URL without secrets, headers, form body."""

    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str]

    def __repr__(self) -> str:
        return f"TokenRequest(url={self.url!r}, fields={sorted(self.form)!r})"

    __str__ = __repr__


def _basic_credentials(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: both parts form-urlencoded before base64, joined by a colon.
    user = quote(client_id, safe="").replace("%20", "+")
    password = quote(client_secret, safe="").replace("%20", "+")
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def build_token_request(
    endpoint: str,
    grant: Mapping[str, str],
    *,
    client_id: str,
    client_secret: str,
    auth_method: str = "client_secret_post",
) -> TokenRequest:
    """A token-endpoint POST: ``grant`` fields plus client authentication (protocol §2.4).

    ``client_secret_post`` puts ``client_id`` and ``client_secret`` in the form body, as
    SuperOffice's samples do; ``client_secret_basic`` sends them in ``Authorization: Basic``.
    Either way the URL carries nothing secret.
    """
    if auth_method not in TOKEN_AUTH_METHODS:
        raise ConfigurationError(f"auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}")
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    form = dict(grant)
    if auth_method == "client_secret_post":
        form["client_id"] = client_id
        form["client_secret"] = client_secret
    else:
        headers["Authorization"] = _basic_credentials(client_id, client_secret)
    return TokenRequest(url=endpoint, headers=headers, form=form)


def authorization_code_grant(code: str, redirect_uri: str, code_verifier: str) -> dict[str, str]:
    """The grant fields that redeem an authorization code (protocol §2.4)."""
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }


def refresh_token_grant(refresh_token: str) -> dict[str, str]:
    """The grant fields of a refresh (protocol §2.4; ``redirect_uri`` and scope are optional)."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def build_revocation_request(
    endpoint: str,
    token: str,
    *,
    token_type_hint: str | None = None,
    client_id: str,
    client_secret: str,
    auth_method: str = "client_secret_post",
) -> TokenRequest:
    """An RFC 7009 revocation POST.

    SuperOffice's one sample puts ``token`` in the query string (protocol §2.4 [S]); a token
    never goes into a URL here, so it travels in the form body, as RFC 7009 §2.1 specifies.
    """
    fields = {"token": token}
    if token_type_hint is not None:
        fields["token_type_hint"] = token_type_hint
    return build_token_request(
        endpoint, fields, client_id=client_id, client_secret=client_secret, auth_method=auth_method
    )


@dataclass(frozen=True, repr=False)
class TokenResponse:
    """A successful token-endpoint answer. Its repr shows no token.

    ``expires_at`` is computed from ``expires_in`` with the client's clock when the response
    arrived (None when the server sent no ``expires_in``).
    """

    access_token: str
    token_type: str
    expires_at: datetime | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None

    def is_expired(self, now: datetime, *, margin: timedelta = timedelta(0)) -> bool:
        return self.expires_at is not None and now + margin >= self.expires_at

    def __repr__(self) -> str:
        def shown(value: str | None) -> str | None:
            return None if value is None else REDACTED

        expires = None if self.expires_at is None else self.expires_at.isoformat()
        return (
            f"TokenResponse(token_type={self.token_type!r}, expires_at={expires!r}, "
            f"scope={self.scope!r}, access_token={shown(self.access_token)!r}, "
            f"refresh_token={shown(self.refresh_token)!r}, id_token={shown(self.id_token)!r})"
        )

    __str__ = __repr__


def _json_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # also a 4,300+ digit number, or deep nesting
        return None


def _response_url(response: httpx.Response) -> str | None:
    try:
        return url_for_error(response.request.url)
    except RuntimeError:  # a response built without a request (unit tests)
        return None


def _raise_for_oauth_error(response: httpx.Response, what: str) -> None:
    """Raise the OAuth error in the body, or a transport error for a bare non-2xx status."""
    body = _json_body(response)
    url = _response_url(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
        description = body.get("error_description")
        raise oauth_error(
            body["error"],
            redact_text(description) if isinstance(description, str) else None,
            status_code=response.status_code,
        )
    if not response.is_success:
        raise TransportError(
            f"{what} answered HTTP {response.status_code}",
            url=url,
            status_code=response.status_code,
        )


def _seconds(value: Any) -> int:
    """A non-negative whole number of seconds from a JSON number or digit string, else -1."""
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return -1


def parse_token_response(
    response: httpx.Response, *, now: Callable[[], datetime] = utc_now
) -> TokenResponse:
    """A token-endpoint answer as a :class:`TokenResponse` (protocol §2.4).

    An OAuth error body (any status) raises the matching :class:`~toolkit.errors.OAuthError`
    (``invalid_grant``, ``invalid_client``, ...); another non-2xx status raises
    :class:`~toolkit.errors.TransportError`; a 2xx that is not a JSON object with
    ``access_token`` and ``token_type`` raises :class:`~toolkit.errors.UnexpectedResponseError`.
    """
    _raise_for_oauth_error(response, "the token endpoint")
    url = _response_url(response)
    body = _json_body(response)
    if not isinstance(body, dict):
        raise UnexpectedResponseError(
            "the token endpoint did not answer with a JSON object",
            url=url,
            status_code=response.status_code,
        )

    def text(name: str) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise UnexpectedResponseError(
                f"the token response field {name} is not a non-empty string",
                url=url,
                status_code=response.status_code,
            )
        return value

    access_token = text("access_token")
    token_type = text("token_type")
    if access_token is None or token_type is None:
        raise UnexpectedResponseError(
            "the token response has no access_token or token_type",
            url=url,
            status_code=response.status_code,
        )
    expires_in = body.get("expires_in")
    expires_at: datetime | None = None
    if expires_in is not None:
        # SuperID documents 3600 (protocol §2.4; open question 6: another page says 20 min).
        seconds = _seconds(expires_in)
        if seconds < 0:
            raise UnexpectedResponseError(
                "the token response field expires_in is not a number of seconds",
                url=url,
                status_code=response.status_code,
            )
        expires_at = now() + timedelta(seconds=seconds)
    return TokenResponse(
        access_token=access_token,
        token_type=token_type,
        expires_at=expires_at,
        refresh_token=text("refresh_token"),
        id_token=text("id_token"),
        scope=text("scope"),
    )


def parse_revocation_response(response: httpx.Response) -> None:
    """RFC 7009 §2.2: 200 means revoked (or never valid, which is the same to the client)."""
    _raise_for_oauth_error(response, "the revocation endpoint")


# ------------------------------------------------------------------------------------ logout


def build_logout_url(
    end_session_endpoint: str,
    post_logout_redirect_uri: str,
    *,
    client_id: str | None = None,
    id_token_hint: str | None = None,
) -> str:
    """SuperID's end-session URL (protocol §2.5).

    SuperOffice's only sample (RZ) sends ``scope=openid&redirect_uri=...``; OpenID Connect
    RP-Initiated Logout names the same thing ``post_logout_redirect_uri``. Both are sent, with
    the same registered URL: SuperID as sampled reads ``redirect_uri``, a standards-following
    SuperID reads ``post_logout_redirect_uri``, and an authorization server ignores parameters
    it does not know (RFC 6749 §3.1). Which one SuperID really honours is open question 10 [I].
    """
    require_secure_url(post_logout_redirect_uri, what="post_logout_redirect_uri")
    params: list[tuple[str, str]] = [
        ("scope", "openid"),
        ("redirect_uri", post_logout_redirect_uri),
        ("post_logout_redirect_uri", post_logout_redirect_uri),
    ]
    if client_id is not None:
        params.append(("client_id", client_id))
    if id_token_hint is not None:
        params.append(("id_token_hint", id_token_hint))
    separator = "&" if urlsplit(end_session_endpoint).query else "?"
    return f"{end_session_endpoint}{separator}{urlencode(params, quote_via=quote)}"


def _carries_system_user_token(id_token: str) -> bool:
    """Whether an id_token's payload has the secret ``system_token`` claim.

    Decoded without verification, only to look: the token is the caller's own, and the answer
    merely decides whether it may go into a URL.
    """
    try:
        payload = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(payload, dict) and SYSTEM_TOKEN in payload


# ------------------------------------------------------------------------------------ client


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


def post_token_request(http: httpx.Client, request: TokenRequest, what: str) -> httpx.Response:
    """POST a token-endpoint request (never retried: a code is single use)."""
    return send_request(
        http, "POST", request.url, what=what, data=dict(request.form), headers=dict(request.headers)
    )


async def async_post_token_request(
    http: httpx.AsyncClient, request: TokenRequest, what: str
) -> httpx.Response:
    """:func:`post_token_request` on ``httpx.AsyncClient`` (the async API's transport)."""
    return await async_send_request(
        http, "POST", request.url, what=what, data=dict(request.form), headers=dict(request.headers)
    )


T = TypeVar("T")

TokenFlow = Generator[TokenRequest, httpx.Response, T]
"""A flow that yields token requests, takes the token endpoint's answers, and returns a ``T``."""


def drive_token_flow(flow: TokenFlow[T], post: Callable[[TokenRequest, str], httpx.Response]) -> T:
    """Run ``flow`` on a sync transport: ``post(request, what)`` sends each request it yields.

    A failure to send is thrown into the flow at its ``yield``, as if the flow had sent the
    request itself, so its own error handling (an audit, a ``finally``) runs as before.
    """
    try:
        request = next(flow)
        while True:
            try:
                response = post(request, "the token endpoint")
            except Exception as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return cast(T, done.value)


@dataclass(frozen=True)
class _FlowStep:
    done: bool
    request: TokenRequest | None = None
    value: Any = None


def _advance(
    flow: TokenFlow[Any], response: httpx.Response | None, error: Exception | None
) -> _FlowStep:
    try:
        if error is not None:
            request = flow.throw(error)
        elif response is not None:
            request = flow.send(response)
        else:
            request = next(flow)
    except StopIteration as done:
        return _FlowStep(True, value=done.value)
    return _FlowStep(False, request=request)


async def async_drive_token_flow(
    flow: TokenFlow[T], post: Callable[[TokenRequest, str], Awaitable[httpx.Response]]
) -> T:
    """Run ``flow`` on an async transport: ``await post(request, what)`` sends each request.

    The flow's own steps (store reads and writes, token validation: sync work) run in a worker
    thread, so the event loop is never blocked; failures to send are thrown into the flow as
    :func:`drive_token_flow` does. A cancelled caller closes the flow (its ``finally`` runs).
    """
    try:
        step = await asyncio.to_thread(_advance, flow, None, None)
        while not step.done:
            assert step.request is not None  # noqa: S101 - a step that is not done has one
            try:
                response = await post(step.request, "the token endpoint")
            except Exception as exc:
                step = await asyncio.to_thread(_advance, flow, None, exc)
            else:
                step = await asyncio.to_thread(_advance, flow, response, None)
    except BaseException:
        flow.close()
        raise
    return cast(T, step.value)


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
        if id_token_hint is not None and _carries_system_user_token(id_token_hint):
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
