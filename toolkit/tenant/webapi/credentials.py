"""How a tenant request authenticates: the system user (SOTicket) or a signed-in user (Bearer)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import httpx

from toolkit.claims import REDACTED
from toolkit.errors import ConfigurationError, UnexpectedResponseError
from toolkit.tenant.webapi.wire import APP_TOKEN_HEADER, USER_REFRESH_STATUSES

if TYPE_CHECKING:
    from toolkit.auth.oidc import SuperIdClient, TokenResponse
    from toolkit.auth.system_user import SystemUserTicket
    from toolkit.auth.tickets import TicketManager

__all__ = [
    "Credential",
    "SendWithHeaders",
    "SystemUserCredential",
    "UserCredential",
    "check_credential_tenant",
    "system_user_headers",
]

logger = logging.getLogger("toolkit.tenant.webapi")


def check_credential_tenant(credential_tenant: str | None, context_identifier: str) -> None:
    """:class:`~toolkit.errors.ConfigurationError` when a credential bound to one tenant is
    given to a client of another (shared by the sync and the async client)."""
    # Context identifiers match case-insensitively (protocol §1) [I].
    if (
        credential_tenant is not None
        and credential_tenant.casefold() != context_identifier.casefold()
    ):
        raise ConfigurationError(
            f"the credential is for {credential_tenant!r}, the client for {context_identifier!r}"
        )


def system_user_headers(ticket: SystemUserTicket, application_token: str) -> dict[str, str]:
    """A system user's request headers: ``SOTicket`` + ``SO-AppToken`` (§5)."""
    return {"Authorization": ticket.authorization_header(), APP_TOKEN_HEADER: application_token}


SendWithHeaders = Callable[[Mapping[str, str]], httpx.Response]
"""Sends the request with the given credential headers (Authorization, SO-AppToken)."""


class Credential(Protocol):
    """How a request authenticates: it calls ``send`` with its headers, and renews on its own
    terms (a ticket once after 401, an access token once after 401/403)."""

    def send(self, send: SendWithHeaders) -> httpx.Response: ...

    @property
    def context_identifier(self) -> str | None: ...


class SystemUserCredential:
    """The application's system user in one tenant: ``SOTicket`` + ``SO-AppToken`` (§5).

    Tickets come from ``ticket_manager`` (cached, one exchange at a time, renewed once after a
    401, then :class:`~toolkit.errors.TicketRejectedError`); ``application`` is the name or id
    in the store; ``application_token`` is the app's client secret (never shown in reprs).
    """

    def __init__(
        self,
        ticket_manager: TicketManager,
        application: str,
        context_identifier: str,
        application_token: str,
    ) -> None:
        if not application_token:
            raise ConfigurationError("SO-AppToken (the client secret) is mandatory with SOTicket")
        self.ticket_manager = ticket_manager
        self.application = application
        self._context_identifier = context_identifier
        self._application_token = application_token

    @property
    def context_identifier(self) -> str:
        return self._context_identifier

    def headers(self, ticket: SystemUserTicket) -> dict[str, str]:
        return system_user_headers(ticket, self._application_token)

    def send(self, send: SendWithHeaders) -> httpx.Response:
        return self.ticket_manager.call_with_ticket(
            self.application,
            self._context_identifier,
            lambda ticket: send(self.headers(ticket)),
        )

    def __repr__(self) -> str:
        return (
            f"SystemUserCredential(application={self.application!r}, "
            f"context_identifier={self._context_identifier!r}, application_token={REDACTED!r})"
        )


class UserCredential:
    """A signed-in user: ``Authorization: Bearer 8A:...`` (§5), refreshed once after 401/403.

    ``refresh`` returns a new access token (or a :class:`~toolkit.auth.oidc.TokenResponse`);
    without it an expired token surfaces as :class:`~toolkit.errors.ApiUnauthorizedError` /
    :class:`~toolkit.errors.ApiForbiddenError`. ``on_refresh`` is told the new tokens (to store
    them). ``application_token`` (the client secret of the application the user acts for)
    adds ``SO-AppToken``: the application's objects (``GetAppWebPanels``, panels it creates)
    need it (§7). Thread-safe: concurrent requests that all see a 401 refresh once between them.

    """

    def __init__(
        self,
        access_token: str,
        *,
        refresh: Callable[[], str | TokenResponse] | None = None,
        on_refresh: Callable[[str | TokenResponse], None] | None = None,
        application_token: str | None = None,
        context_identifier: str | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        self._access_token = access_token
        self._refresh = refresh
        self._on_refresh = on_refresh
        self._application_token = application_token
        self._context_identifier = context_identifier
        self._lock = threading.Lock()
        self.refresh_count = 0

    @classmethod
    def from_tokens(
        cls,
        tokens: TokenResponse,
        superid: SuperIdClient,
        *,
        on_refresh: Callable[[str | TokenResponse], None] | None = None,
        context_identifier: str | None = None,
    ) -> UserCredential:
        """A credential acting for ``superid``'s application: it sends that application's
        ``SO-AppToken`` with the Bearer token (§7) and refreshes through SuperID with the
        tokens' refresh token."""
        state = {"refresh_token": tokens.refresh_token}

        def refresh() -> TokenResponse:
            token = state["refresh_token"]
            if not token:
                raise ConfigurationError("the user's tokens hold no refresh token")
            renewed = superid.refresh(token)
            state["refresh_token"] = renewed.refresh_token or token
            return renewed

        return cls(
            tokens.access_token,
            refresh=refresh if tokens.refresh_token else None,
            on_refresh=on_refresh,
            application_token=superid.application_token,
            context_identifier=context_identifier,
        )

    @property
    def context_identifier(self) -> str | None:
        return self._context_identifier

    def headers(self, access_token: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {access_token or self._access_token}"}
        if self._application_token:
            headers[APP_TOKEN_HEADER] = self._application_token
        return headers

    def send(self, send: SendWithHeaders) -> httpx.Response:
        with self._lock:
            used = self._access_token
        response = send(self.headers(used))
        if response.status_code not in USER_REFRESH_STATUSES or self._refresh is None:
            return response
        response.close()
        logger.info("access token answered %s; refreshing once", response.status_code)
        return send(self.headers(self._renew(used)))

    def _renew(self, rejected: str) -> str:
        with self._lock:
            if self._access_token != rejected:  # another request refreshed meanwhile
                return self._access_token
            assert self._refresh is not None  # noqa: S101 - checked by send()
            result = self._refresh()
            token = result if isinstance(result, str) else result.access_token
            if not token:
                raise UnexpectedResponseError("the refresh gave no access token")
            self._access_token = token
            self.refresh_count += 1
        if self._on_refresh is not None:
            self._on_refresh(result)
        return token

    def __repr__(self) -> str:
        return (
            f"UserCredential(context_identifier={self._context_identifier!r}, "
            f"access_token={REDACTED!r}, refreshes={self.refresh_count})"
        )
