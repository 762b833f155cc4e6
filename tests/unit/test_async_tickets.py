"""The async ticket manager: the sync manager's cache, store and single flight, awaited.

The exchanges here are gated by events (never by time): a leader is held inside its exchange
until every other caller is known to be waiting, so "one exchange" is proved, not hoped for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit.auth.async_tickets import AsyncTicketManager
from toolkit.auth.system_user import SystemUserTicket
from toolkit.auth.tickets import TicketManager
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    TicketError,
    TicketRejectedError,
)
from toolkit.store import Repository, generate_key_text, open_store

CTX = "Cust12345"
APP = "demo"
KEY = generate_key_text("unit")
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_ticket(value: str) -> SystemUserTicket:
    return SystemUserTicket(
        ticket=value,
        context_identifier=CTX,
        serial="12345678",
        webapi_url=f"https://sod.superoffice.com/{CTX}/api/",
        netserver_url=None,
        obtained_at=START,
    )


class GatedExchange:
    """Hands out 7T:t1, 7T:t2, ...; each call says it started and waits for ``release``."""

    def __init__(self, *, error: Exception | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.error = error
        self._lock = threading.Lock()

    def __call__(self, *, application: Any, authorization: Any) -> SystemUserTicket:
        with self._lock:
            self.calls += 1
            number = self.calls
        self.started.set()
        assert self.release.wait(timeout=60)
        if self.error is not None:
            raise self.error
        return make_ticket(f"7T:t{number}")


class AsyncGatedExchange:
    """The async exchange's shape: awaited, gated by an asyncio event of the test's loop."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    async def __call__(
        self, *, application: Any, authorization: Any, transport: Any = None
    ) -> SystemUserTicket:
        self.calls += 1
        number = self.calls
        self.started.set()
        assert await asyncio.to_thread(self.release.wait, 60)
        return make_ticket(f"7T:a{number}")


class SpyManager(TicketManager):
    """Says when a caller joins a renewal another caller leads."""

    joined: threading.Event

    def _join_flight(self, key: tuple[str, str]) -> Any:
        flight, leader = super()._join_flight(key)
        if not leader:
            self.joined.set()
        return flight, leader


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Repository]:
    repository = open_store(None, tmp_path / "home", KEY)
    repository.add_application(APP, environment="sod", client_id="cid", client_secret="secret")
    repository.put_authorization(
        APP,
        CTX,
        token_issued_at=START - timedelta(hours=1),
        system_user_token="DemoApp-abcdefghij",
    )
    yield repository
    repository.close()


def now() -> datetime:
    return START


def test_a_sync_leader_serves_async_followers(store: Repository) -> None:
    exchange = GatedExchange()
    manager = SpyManager(store, exchange=exchange, now=now)
    manager.joined = threading.Event()
    tickets = AsyncTicketManager(manager)
    sync_result: list[SystemUserTicket] = []
    leader = threading.Thread(target=lambda: sync_result.append(manager.ticket(APP, CTX)))
    leader.start()
    assert exchange.started.wait(timeout=60)  # the sync caller leads and is inside its exchange

    async def followers() -> list[SystemUserTicket]:
        tasks = [asyncio.create_task(tickets.ticket(APP, CTX)) for _ in range(5)]
        # One coroutine joins the sync flight (waiting in a thread), the others queue on the
        # per-tenant asyncio lock; only then may the leader finish.
        assert await asyncio.to_thread(manager.joined.wait, 60)
        exchange.release.set()
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(followers())
    leader.join()
    assert {t.ticket for t in results + sync_result} == {"7T:t1"}
    assert exchange.calls == 1
    assert manager.exchange_count == 1


def test_an_async_leader_serves_sync_followers(store: Repository) -> None:
    manager = SpyManager(store, exchange=GatedExchange(), now=now)
    manager.joined = threading.Event()
    exchange = AsyncGatedExchange()
    tickets = AsyncTicketManager(manager, exchange=exchange)
    sync_results: list[SystemUserTicket] = []

    async def run() -> SystemUserTicket:
        lead = asyncio.create_task(tickets.ticket(APP, CTX))
        await asyncio.to_thread(exchange.started.wait, 60)  # the async caller leads
        followers = [
            threading.Thread(target=lambda: sync_results.append(manager.ticket(APP, CTX)))
            for _ in range(3)
        ]
        for thread in followers:
            thread.start()
        assert await asyncio.to_thread(manager.joined.wait, 60)  # in flight: they follow it
        exchange.release.set()
        result = await lead
        for thread in followers:
            await asyncio.to_thread(thread.join)
        return result

    mine = asyncio.run(run())
    assert mine.ticket == "7T:a1"
    assert [t.ticket for t in sync_results] == ["7T:a1"] * 3
    assert exchange.calls == 1
    assert manager.exchange_count == 1
    # Stored sealed like any ticket: a new manager (another process) finds it, no exchange.
    other = TicketManager(store, exchange=GatedExchange(), now=now)
    assert other.ticket(APP, CTX).ticket == "7T:a1"
    assert other.exchange_count == 0


def test_a_refusal_marks_the_authorization_and_reaches_every_caller(store: Repository) -> None:
    exchange = GatedExchange(error=AuthorizationRevokedError("Revoked", error_code="Revoked"))
    exchange.release.set()
    manager = TicketManager(store, exchange=exchange, now=now)
    tickets = AsyncTicketManager(manager)

    async def run() -> None:
        with pytest.raises(AuthorizationRevokedError):
            await tickets.ticket(APP, CTX)
        with pytest.raises(AuthorizationNotActiveError):  # no second exchange
            await tickets.ticket(APP, CTX)

    asyncio.run(run())
    assert exchange.calls == 1
    assert store.get_authorization(APP, CTX).status == "needs_reconsent"


def test_a_cancelled_async_leader_gives_followers_a_ticket_error(store: Repository) -> None:
    manager = SpyManager(store, exchange=GatedExchange(), now=now)
    manager.joined = threading.Event()
    exchange = AsyncGatedExchange()
    tickets = AsyncTicketManager(manager, exchange=exchange)
    errors: list[BaseException] = []

    def follower() -> None:
        try:
            manager.ticket(APP, CTX)
        except BaseException as exc:
            errors.append(exc)

    async def run() -> None:
        lead = asyncio.create_task(tickets.ticket(APP, CTX))
        await asyncio.to_thread(exchange.started.wait, 60)
        thread = threading.Thread(target=follower)
        thread.start()
        assert await asyncio.to_thread(manager.joined.wait, 60)
        lead.cancel()
        with pytest.raises(asyncio.CancelledError):
            await lead
        exchange.release.set()
        await asyncio.to_thread(thread.join)

    asyncio.run(run())
    assert len(errors) == 1
    assert isinstance(errors[0], TicketError)  # never a CancelledError in another thread


def test_a_401_renews_once_then_gives_up(store: Repository) -> None:
    exchange = GatedExchange()
    exchange.release.set()
    manager = TicketManager(store, exchange=exchange, now=now)
    tickets = AsyncTicketManager(manager)
    seen: list[str] = []

    async def answer(status: int, ticket: SystemUserTicket) -> httpx.Response:
        seen.append(ticket.ticket)
        return httpx.Response(status, request=httpx.Request("GET", "https://sod.superoffice.com/"))

    async def run() -> None:
        response = await tickets.call_with_ticket(APP, CTX, lambda t: answer(200, t))
        assert response.status_code == 200
        with pytest.raises(TicketRejectedError):
            await tickets.call_with_ticket(APP, CTX, lambda t: answer(401, t))

    asyncio.run(run())
    assert seen == ["7T:t1", "7T:t1", "7T:t2"]  # used, rejected, renewed once and rejected
    assert exchange.calls == 2
