"""What the token endpoint hands out: id_token claims, `8A:` access tokens, refresh tokens,
and the PKCE check. Values come from protocol §2.4 and §2.5."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from toolkit.emulator.world import App, Authorization, Membership, Tenant, User

CLAIM_PREFIX = "http://schemes.superoffice.net/identity/"
IDENTITY_PROVIDER = "central-superid"  # the SD:validate example's value (protocol §2.5)
ID_TOKEN_LIFETIME = 300  # exp = iat + 300 in the SD:validate example [C example / I rule]
ID_TOKEN_NOT_BEFORE_SKEW = 60  # nbf = iat - 60 in the same example
# 3600 per the auth docs; best practice says 20 minutes (protocol open question 6).
ACCESS_TOKEN_LIFETIME = 3600
CODE_LIFETIME = 600  # "the code expires after 10 minutes" (protocol §2.3)
TOKEN_TYPE = "bearer"  # lower-case in the samples
ACCESS_TOKEN_PREFIX = "8A:"
PKCE_METHODS = ("S256", "plain")
PKCE_DEFAULT_METHOD = "plain"  # the reference's default (protocol §2.2)
_PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def tenant_base(tenant: Tenant, host_urls: Mapping[str, str], fallback: str) -> str:
    """`{tenant host URL}/{ctx}`: the tenant's CURRENT host (protocol §1); `fallback` (the
    login host) only when that host has no listener."""
    return f"{host_urls.get(tenant.host or '', fallback)}/{tenant.ctx}"


def id_token_claims(
    *,
    issuer: str,
    host_urls: Mapping[str, str],
    app: App,
    user: User,
    membership: Membership,
    tenant: Tenant,
    authorization: Authorization | None,
    nonce: str | None,
    now: float,
    iat_as_string: bool,
) -> dict[str, Any]:
    iat = int(now)
    base = tenant_base(tenant, host_urls, issuer)
    superoffice = {
        "ctx": tenant.ctx,
        "serial": tenant.serial,
        "associateid": str(membership.associate_id),
        "email": user.username,
        "is_administrator": "True" if membership.is_administrator else "False",
        "webapi_url": f"{base}/api/",
        "netserver_url": f"{base}/Remote/Services88/",
        "company_name": tenant.company_name,
        "identityprovider": IDENTITY_PROVIDER,
        "initials": membership.initials,
        "upn": user.username,
        "so_primary_email_address": user.username,
    }
    # system_token only for apps granted the SystemToken claim (protocol §3); given to every
    # user of the tenant, as the SD:validate example shows it for a non-admin (open question 8).
    if app.grant_system_token and authorization is not None and authorization.system_token:
        superoffice["system_token"] = authorization.system_token
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": app.client_id,
        "sub": user.username,
        # RFC 7519 makes iat a number (our default); SD:validate's example shows a string,
        # so the quirk `iat_as_string` reproduces that for clients that must cope with it.
        "iat": str(iat) if iat_as_string else iat,
        "nbf": iat - ID_TOKEN_NOT_BEFORE_SKEW,
        "exp": iat + ID_TOKEN_LIFETIME,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update({CLAIM_PREFIX + name: value for name, value in superoffice.items()})
    return claims


def new_access_token(ctx: str) -> str:
    # Reference token, not a JWT: `8A:{ctx}.{opaque base64}` (protocol §2.4).
    opaque = base64.b64encode(secrets.token_bytes(48)).decode()
    return f"{ACCESS_TOKEN_PREFIX}{ctx}.{opaque}"


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


def new_code() -> str:
    return secrets.token_urlsafe(32)


def valid_pkce_value(value: str) -> bool:
    return _PKCE_VALUE.fullmatch(value) is not None


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if not valid_pkce_value(verifier):
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return hmac.compare_digest(expected, challenge)
