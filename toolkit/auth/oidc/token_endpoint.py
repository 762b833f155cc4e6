"""The token endpoint: requests with client authentication, answers parsed, POSTs sent (§2.4)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx

from toolkit.auth.transactions import utc_now
from toolkit.claims import REDACTED
from toolkit.errors import ConfigurationError, TransportError, UnexpectedResponseError, oauth_error
from toolkit.http import async_send_request, redact_text, send_request, url_for_error

__all__ = [
    "TOKEN_AUTH_METHODS",
    "TokenAuthMethod",
    "TokenRequest",
    "TokenResponse",
    "async_post_token_request",
    "authorization_code_grant",
    "build_token_request",
    "parse_token_response",
    "post_token_request",
    "raise_for_oauth_error",
    "refresh_token_grant",
]

# How the client authenticates at the token endpoint. SuperOffice's own samples put the secret
# in the form body; ``client_secret_basic`` is listed only in a mock discovery document
# (protocol §2.1 [S], open question 7), so it is an option, not the default.
TOKEN_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
TokenAuthMethod = Literal["client_secret_post", "client_secret_basic"]


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


def raise_for_oauth_error(response: httpx.Response, what: str) -> None:
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
    raise_for_oauth_error(response, "the token endpoint")
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
