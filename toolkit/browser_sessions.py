"""Browser sessions of signed-in SuperOffice users: what the panel and the installation pages share.

A web panel user (:mod:`toolkit.user_context`) and a tenant administrator on the installation
pages (:mod:`toolkit.installation_pages`) both hold an opaque random session id in an HttpOnly
cookie, with their tokens sealed in the store's user sessions. Opening such a session, finding
it again for one application × tenant, its CSRF check and the page URLs are one piece of code;
the two callers differ only in the session id's prefix, the cookie's name and the lifetime.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlencode

from toolkit.auth.oidc import TokenResponse
from toolkit.claims import IdTokenClaims
from toolkit.errors import (
    CsrfError,
    ExpiredError,
    NotFoundError,
    SessionExpiredError,
    SessionMismatchError,
)
from toolkit.naming import same_tenant
from toolkit.store import Application, Repository, UserSession

__all__ = [
    "CSRF_TOKEN_BYTES",
    "SESSION_ID_BYTES",
    "BrowserSession",
    "SessionSignIn",
    "check_csrf",
    "find_session",
    "hashed_cookie_name",
    "open_session",
    "page_path",
]

# Random bytes in a session id and a CSRF token (256 bits: unguessable).
SESSION_ID_BYTES: Final = 32
CSRF_TOKEN_BYTES: Final = 32


def hashed_cookie_name(prefix: str, *parts: str) -> str:
    """``prefix`` + a hash of ``parts`` (the last one a tenant, folded): one cookie per
    application × tenant, whose name shows neither."""
    *head, context_identifier = parts
    text = "\n".join([*head, context_identifier.casefold()])
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def page_path(path: str, application: str, context_identifier: str) -> str:
    """``{path}?app=NAME&ctx=CustNNNNN``: a partner page of one application × tenant."""
    return f"{path}?{urlencode({'app': application, 'ctx': context_identifier})}"


@dataclass(frozen=True, repr=False)
class SessionSignIn:
    """A new session: its id (the cookie value: a secret), cookie name, application, tenant and
    user, and where to send the browser."""

    session_id: str
    cookie_name: str
    application: Application
    context_identifier: str
    user: str
    return_to: str
    expires_at: datetime

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(application={self.application.name!r}, context_identifier="
            f"{self.context_identifier!r}, user={self.user!r}, session_id='<redacted>')"
        )

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class BrowserSession:
    """A live session, checked against the application and tenant the request names."""

    session_id: str
    application: Application
    record: UserSession

    @property
    def context_identifier(self) -> str:
        return self.record.context_identifier

    @property
    def user(self) -> str:
        return self.record.user

    @property
    def csrf_token(self) -> str:
        return self.record.csrf_token.reveal()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(application={self.application.name!r}, "
            f"context_identifier={self.context_identifier!r}, user={self.user!r})"
        )

    __str__ = __repr__


def open_session(
    repository: Repository,
    application: Application,
    context_identifier: str,
    claims: IdTokenClaims,
    tokens: TokenResponse,
    *,
    ttl: timedelta,
    prefix: str = "",
) -> tuple[str, UserSession]:
    """Store a new session of the signed-in user (tokens sealed, a fresh CSRF token); its id
    (``prefix`` + random) and record. Expired sessions are purged first."""
    session_id = prefix + secrets.token_urlsafe(SESSION_ID_BYTES)
    repository.purge_expired_user_sessions()
    record = repository.add_user_session(
        session_id,
        application_id=application.id,
        context_identifier=context_identifier,
        user=claims.subject,
        associate_id=claims.associate_id,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        access_expires_at=tokens.expires_at,
        csrf_token=secrets.token_urlsafe(CSRF_TOKEN_BYTES),
        ttl=ttl,
    )
    return session_id, record


def find_session(
    repository: Repository, session_id: str, application: Application, context_identifier: str
) -> UserSession:
    """The stored session ``session_id`` if it is live and belongs to ``application`` in the
    tenant. Raises :class:`~toolkit.errors.SessionExpiredError` (unknown, ended or expired)
    or :class:`~toolkit.errors.SessionMismatchError` (another application's or tenant's)."""
    try:
        record = repository.get_user_session(session_id)
    except ExpiredError:
        raise SessionExpiredError("the session expired; sign in again") from None
    except NotFoundError:
        raise SessionExpiredError("unknown or ended session; sign in again") from None
    if record.application_id != application.id or not same_tenant(
        record.context_identifier, context_identifier
    ):
        raise SessionMismatchError(
            "the session belongs to another application or tenant",
            expected=context_identifier,
            actual=record.context_identifier,
        )
    return record


def check_csrf(session: BrowserSession, csrf_token: str | None) -> None:
    """:class:`~toolkit.errors.CsrfError` unless ``csrf_token`` is the session's."""
    if not csrf_token or not hmac.compare_digest(
        csrf_token.encode("utf-8"), session.csrf_token.encode("utf-8")
    ):
        raise CsrfError("the form's CSRF token is missing or not this session's")
