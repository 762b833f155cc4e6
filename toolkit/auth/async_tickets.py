"""System user tickets for asyncio callers, in the same single flight as the sync API.

:class:`AsyncTicketManager` is a thin async face of a :class:`~toolkit.auth.tickets.TicketManager`:
the same memory cache, the same store, the same per-tenant flights and the same store lease, so
a Starlette handler and a notebook cell (or a worker thread) asking for a cold tenant's ticket
at once still cause exactly one exchange (every exchange makes a credentials record in the
tenant: protocol §4.7; and one ticket may serve any number of callers, its expiry sliding with
each use: SuperOfficeDocs docs/api/authentication/tickets/issue-ticket.md). What changes is only
how it waits:

* coroutines of one event loop asking for one tenant queue on an ``asyncio.Lock`` first, so at
  most one of them joins the manager's flight;
* store calls (sync SQLAlchemy) run in worker threads (``asyncio.to_thread``), and a coroutine
  that follows a sync leader waits for it in a thread, so the event loop never blocks;
* the exchange itself is a coroutine on ``httpx.AsyncClient`` (:func:`async_system_user_exchange`:
  the sync exchange's pure request builders and parsers, :mod:`toolkit.auth.system_user`); a
  manager built with an injected sync exchange runs that one in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal, Protocol

import httpx

from toolkit.auth.jwks import SigningKeySource
from toolkit.auth.system_user import (
    EXCHANGE_MAX_ATTEMPTS,
    EXCHANGE_RETRY_DELAY_SECONDS,
    SystemUserTicket,
    exchange_codec,
    raise_for_exchange_result,
    retry_exchange,
)
from toolkit.auth.tickets import (
    PrivateKeys,
    TicketManager,
    Transport,
    environment_of,
    system_user_token_of,
)
from toolkit.auth.tokens import DEFAULT_POLICY, ValidationPolicy, validate_system_user_token
from toolkit.config import Environment
from toolkit.errors import (
    SystemUserError,
    TicketError,
    TicketLeaseTimeoutError,
    TicketRejectedError,
    TransportError,
)
from toolkit.http import async_send_request
from toolkit.keys import sign_system_user_token
from toolkit.loop_locks import LoopLocks
from toolkit.store.records import Application, Authorization

__all__ = ["AsyncTicketExchange", "AsyncTicketManager", "async_system_user_exchange"]

logger = logging.getLogger("toolkit.auth.tickets")

TicketKey = tuple[str, str]


class AsyncTicketExchange(Protocol):
    """The async exchange: ``await exchange(application=..., authorization=..., transport=...)``."""

    def __call__(
        self,
        *,
        application: Application,
        authorization: Authorization,
        transport: Transport | None = None,
    ) -> Awaitable[SystemUserTicket]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def async_system_user_exchange(
    *,
    http: httpx.AsyncClient,
    keys: Callable[[Environment], SigningKeySource],
    transport: Transport = "rest",
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: Callable[[], datetime] = _utc_now,
) -> AsyncTicketExchange:
    """The PartnerSystemUser exchange (§4.3-4.6) on ``httpx.AsyncClient``.

    The same requests (``build_rest_request`` / ``build_soap_request`` of
    :mod:`toolkit.auth.system_user`, a fresh signature per attempt), the same parsers and
    refusal errors, the same one re-signed second attempt after ``InvalidTimestamp`` or a
    connection that could not be made, and the same validation of the returned JWT as
    :func:`~toolkit.auth.system_user.exchange_system_user_token`. Signing and the JWT check
    (which may fetch SuperID's keys through the sync client) run in a worker thread.
    """
    default_transport = transport
    private_keys = PrivateKeys()

    async def exchange(
        *,
        application: Application,
        authorization: Authorization,
        transport: Transport | None = None,
    ) -> SystemUserTicket:
        system_user_token = system_user_token_of(authorization)
        chosen: Literal["rest", "soap"] = transport or default_transport
        build, parse = exchange_codec(chosen)
        environment = environment_of(application)
        context_identifier = authorization.context_identifier

        def signed_token() -> str:  # RSA work (and the key's first load): in a worker thread
            return sign_system_user_token(system_user_token, private_keys.of(application), now=now)

        for attempt in range(1, EXCHANGE_MAX_ATTEMPTS + 1):
            signed = await asyncio.to_thread(signed_token)
            request = build(
                environment,
                signed_system_token=signed,
                application_token=application.client_secret.reveal(),
                context_identifier=context_identifier,
            )
            try:
                response = await async_send_request(
                    http,
                    "POST",
                    request.url,
                    what="system user exchange",
                    headers=dict(request.headers),
                    content=request.content,
                )
                token = raise_for_exchange_result(
                    parse(response.status_code, response.content, url=request.url)
                )
            except (SystemUserError, TransportError) as exc:
                if not retry_exchange(attempt, exc, context_identifier):
                    raise
                if isinstance(exc, TransportError):
                    await asyncio.sleep(EXCHANGE_RETRY_DELAY_SECONDS)
                continue
            claims = await asyncio.to_thread(
                validate_system_user_token,
                token,
                keys=keys(environment),
                context_identifier=context_identifier,
                policy=policy,
                now=now,
            )
            logger.info(
                "system user ticket obtained for %s (serial %s, %s, async)",
                claims.context_identifier,
                claims.serial,
                chosen,
            )
            return SystemUserTicket(
                ticket=claims.ticket,
                context_identifier=claims.context_identifier,
                serial=claims.serial,
                webapi_url=claims.webapi_url,
                netserver_url=claims.netserver_url,
                obtained_at=now(),
                claims=claims,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    return exchange


class AsyncTicketManager:
    """The async face of ``manager`` (see the module docstring); one per workspace.

    ``exchange`` is the async exchange (:func:`async_system_user_exchange`); without it the
    manager's own (sync) exchange runs in a worker thread. Usable from several event loops.
    """

    def __init__(
        self, manager: TicketManager, *, exchange: AsyncTicketExchange | None = None
    ) -> None:
        self.manager = manager
        self._exchange = exchange
        # One asyncio.Lock per tenant and event loop (a lock belongs to the loop that used it).
        self._locks: LoopLocks[TicketKey] = LoopLocks()

    def __repr__(self) -> str:
        return f"AsyncTicketManager({self.manager!r})"

    async def ticket(
        self, application: str, context_identifier: str, *, transport: Transport | None = None
    ) -> SystemUserTicket:
        """A fresh ticket: memory, store, or one exchange shared with every other caller (sync
        or async, this process or another sharing the store). Errors as
        :meth:`TicketManager.ticket <toolkit.auth.tickets.TicketManager.ticket>`."""
        key = await self._key(application, context_identifier)
        cached = self.manager._fresh_entry(key, rejected=None)
        if cached is not None:
            return cached
        return await self._renew(key, rejected=None, transport=transport)

    async def call_with_ticket(
        self,
        application: str,
        context_identifier: str,
        fn: Callable[[SystemUserTicket], Awaitable[httpx.Response]],
    ) -> httpx.Response:
        """``await fn(ticket)``; after a 401, renew once and call again (as the sync manager).

        A second 401 raises :class:`~toolkit.errors.TicketRejectedError`.
        """
        manager = self.manager
        current = await self.ticket(application, context_identifier)
        response = await fn(current)
        if response.status_code != 401:
            await asyncio.to_thread(manager.mark_used, application, context_identifier, current)
            return response
        await response.aclose()
        logger.info("ticket for %s answered 401; renewing once", context_identifier)
        await asyncio.to_thread(manager.invalidate, application, context_identifier, current)
        key = await self._key(application, context_identifier)
        renewed = await self._renew(key, rejected=current.ticket)
        response = await fn(renewed)
        if response.status_code == 401:
            await response.aclose()
            await asyncio.to_thread(manager.invalidate, application, context_identifier, renewed)
            raise TicketRejectedError(
                f"the tenant {context_identifier!r} answered 401 to a renewed system user "
                "ticket too",
                status_code=401,
            )
        await asyncio.to_thread(manager.mark_used, application, context_identifier, renewed)
        return response

    # -- internals ----------------------------------------------------------------------------

    async def _key(self, application: str, context_identifier: str) -> TicketKey:
        manager = self.manager
        with manager._lock:
            application_id = manager._application_ids.get(application)
        if application_id is not None:
            return application_id, context_identifier
        return await asyncio.to_thread(manager._key, application, context_identifier)

    async def _renew(
        self, key: TicketKey, rejected: str | None, transport: Transport | None = None
    ) -> SystemUserTicket:
        manager = self.manager
        async with self._locks.get(key):
            # A coroutine that held the lock before us may have renewed already.
            cached = manager._fresh_entry(key, rejected)
            if cached is not None:
                return cached
            for _round in (1, 2):
                flight, leader = manager._join_flight(key)
                if leader:
                    try:
                        result = await self._lead(key, rejected, transport)
                        flight.result = result
                        return result
                    except asyncio.CancelledError:
                        # Followers (threads too) must not receive a cancellation as their error.
                        flight.error = TicketError(
                            f"the renewal of the ticket for {key[1]!r} was cancelled; ask again"
                        )
                        raise
                    except BaseException as exc:
                        flight.error = exc
                        raise
                    finally:
                        manager._land_flight(key, flight)
                landed = await asyncio.to_thread(flight.done.wait, manager._flight_wait_seconds())
                ticket = flight.outcome(landed, rejected, key[1])
                if ticket is not None:
                    return ticket
            raise TicketRejectedError(f"no ticket other than the rejected one for {key[1]!r}")

    async def _lead(
        self, key: TicketKey, rejected: str | None, transport: Transport | None
    ) -> SystemUserTicket:
        """:meth:`TicketManager._renew_leader` with awaits: the store's ticket, else the lease
        and one exchange. The store steps before and after the exchange are one worker-thread
        hop each (:meth:`TicketManager._store_or_lease`, :meth:`_store`)."""
        manager = self.manager
        cached = manager._fresh_entry(key, rejected)
        if cached is not None:
            return cached
        deadline = time.monotonic() + manager._lease_wait.total_seconds()
        while True:
            step = await asyncio.to_thread(manager._store_or_lease, key, rejected)
            if isinstance(step, SystemUserTicket):
                return step
            if step is not None:
                app, authorization = step
                return await self._exchange_and_store(key, app, authorization, transport)
            if time.monotonic() >= deadline:
                raise TicketLeaseTimeoutError(
                    f"another process kept renewing the ticket for {key[1]!r} "
                    f"for more than {manager._lease_wait.total_seconds():.0f} s"
                )
            await asyncio.sleep(manager._poll)

    async def _exchange_and_store(
        self,
        key: TicketKey,
        app: Application,
        authorization: Authorization,
        transport: Transport | None,
    ) -> SystemUserTicket:
        """The lease is held: one exchange, then store the ticket and release the lease."""
        manager = self.manager
        manager._count_exchange()
        options = {} if transport is None else {"transport": transport}
        try:
            if self._exchange is not None:
                ticket = await self._exchange(
                    application=app, authorization=authorization, transport=transport
                )
            else:
                ticket = await asyncio.to_thread(
                    manager._exchange, application=app, authorization=authorization, **options
                )
        except BaseException as exc:
            await asyncio.to_thread(manager._refused, key, app, authorization, exc)
            raise
        return await asyncio.to_thread(self._store, key, app, authorization, ticket)

    def _store(
        self,
        key: TicketKey,
        app: Application,
        authorization: Authorization,
        ticket: SystemUserTicket,
    ) -> SystemUserTicket:
        """In a worker thread: store the ticket (which releases the lease), or on a failure
        release the lease here."""
        try:
            return self.manager._store_exchanged(key, authorization, ticket)
        except BaseException as exc:
            self.manager._refused(key, app, authorization, exc)
            raise
