"""The authorization request: state, nonce and PKCE, and SuperID's authorize URL (protocol §2.2)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

from toolkit.claims import REDACTED
from toolkit.errors import ConfigurationError, SignInError
from toolkit.http import redact_url

__all__ = [
    "CODE_VERIFIER_BYTES",
    "CONTEXT_IDENTIFIER_PATTERN",
    "MAX_LOGIN_HINT_LENGTH",
    "PROMPTS",
    "RESPONSE_MODES",
    "STATE_BYTES",
    "AuthorizationRequest",
    "ResponseMode",
    "build_authorization_url",
    "code_challenge_s256",
    "generate_code_verifier",
    "generate_nonce",
    "generate_state",
    "validate_context_identifier",
]

# Response modes SuperID documents for the authorize request (protocol §2.2). ``fragment`` is for
# browser (single-page) and native apps only: a fragment never reaches a server, so the app
# itself must read the redirect URL and hand it to callback_params_from_url.
RESPONSE_MODES = ("query", "form_post", "fragment")
# OIDC Core prompt values the toolkit sends: "login" forces a fresh sign-in [I] (see
# build_authorization_url).
PROMPTS = ("login",)
ResponseMode = Literal["query", "form_post", "fragment"]
# Random bytes behind state and nonce: 256 bits, well above the 128 bits OAuth asks for.
STATE_BYTES = 32
# Random bytes behind the PKCE verifier: 48 bytes -> 64 base64url characters, inside RFC 7636's
# 43..128 and made only of unreserved characters.
CODE_VERIFIER_BYTES = 48
# Context identifier: "Cust" + digits (protocol §1); docs also show lower case ("cust1234").
CONTEXT_IDENTIFIER_PATTERN = re.compile(r"Cust[0-9]{1,12}", re.IGNORECASE)
MAX_LOGIN_HINT_LENGTH = 256
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


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
