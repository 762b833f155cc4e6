"""Ending a session: token revocation (RFC 7009) and the end-session URL (protocol §2.4, §2.5)."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt

from toolkit.auth.oidc.token_endpoint import (
    TokenRequest,
    build_token_request,
    raise_for_oauth_error,
)
from toolkit.claims import SYSTEM_TOKEN
from toolkit.config import require_secure_url

__all__ = [
    "build_logout_url",
    "build_revocation_request",
    "carries_system_user_token",
    "parse_revocation_response",
]


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


def parse_revocation_response(response: httpx.Response) -> None:
    """RFC 7009 §2.2: 200 means revoked (or never valid, which is the same to the client)."""
    raise_for_oauth_error(response, "the revocation endpoint")


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


def carries_system_user_token(id_token: str) -> bool:
    """Whether an id_token's payload has the secret ``system_token`` claim.

    Decoded without verification, only to look: the token is the caller's own, and the answer
    merely decides whether it may go into a URL.
    """
    try:
        payload = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(payload, dict) and SYSTEM_TOKEN in payload
