"""The ticket manager: caching, sliding window, single flight across threads and processes."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import event, select
from support.stores import migrated_home

from toolkit.auth.system_user import SystemUserTicket
from toolkit.auth.tickets import TICKET_REFRESH_MARGIN, TICKET_WINDOW, TicketManager
from toolkit.claims import CONTEXT_IDENTIFIER, SERIAL, TICKET
from toolkit.errors import (
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    InvalidSystemUserSignatureError,
    NeedsReapprovalError,
    NoSystemUserTokenError,
    TicketLeaseTimeoutError,
    TicketRejectedError,
)
from toolkit.keys import private_key_to_pem
from toolkit.store import Repository, generate_key_text, open_store
from toolkit.store.schema import tickets

CTX = "Cust12345"
APP = "demo"
KEY = generate_key_text("unit")
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def make_ticket(value: str, obtained_at: datetime, ctx: str = CTX) -> SystemUserTicket:
    return SystemUserTicket(
        ticket=value,
        context_identifier=ctx,
        serial="12345678",
        webapi_url=f"https://sod.superoffice.com/{ctx}/api/",
        netserver_url=None,
        obtained_at=obtained_at,
    )


class FakeExchange:
    """Hands out 7T:t1, 7T:t2, ...; can be slowed down or made to fail."""

    def __init__(self, clock: Clock, *, delay: float = 0.0, error: Exception | None = None):
        self.clock = clock
        self.delay = delay
        self.error = error
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *, application: Any, authorization: Any) -> SystemUserTicket:
        with self._lock:
            self.calls += 1
            number = self.calls
        assert authorization.system_user_token.reveal() == "DemoApp-abcdefghij"
        assert application.client_secret.reveal() == "secret"
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return make_ticket(f"7T:t{number}", self.clock())


def setup_store(path: Path, clock: Clock | None = None, *, token: bool = True) -> Repository:
    store = open_store(None, path, KEY, **({"now": clock} if clock else {}))
    store.add_application(APP, environment="sod", client_id="cid", client_secret="secret")
    store.put_authorization(
        APP,
        CTX,
        token_issued_at=START - timedelta(hours=1),
        system_user_token="DemoApp-abcdefghij" if token else None,
    )
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Repository]:
    repository = setup_store(migrated_home(tmp_path / "home"), clock)
    yield repository
    repository.close()


def manager_for(
    store: Repository, exchange: FakeExchange, clock: Clock, **kwargs: Any
) -> TicketManager:
    return TicketManager(store, exchange=exchange, now=clock, **kwargs)


def respond(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://sod.superoffice.com/"))


def test_memory_then_store_then_exchange(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    first = manager.ticket(APP, CTX)
    assert first.ticket == "7T:t1"
    assert first.valid_until == START + TICKET_WINDOW
    assert manager.ticket(APP, CTX).ticket == "7T:t1"
    assert exchange.calls == 1
    # Another manager (another process) finds it in the store.
    other = manager_for(store, exchange, clock)
    assert other.ticket(APP, CTX).ticket == "7T:t1"
    assert exchange.calls == 1
    # Sealed at rest: the raw column never holds the ticket.
    with store.engine.connect() as connection:
        raw = connection.execute(select(tickets.c.ticket)).scalar_one()
    assert raw.startswith("v1:")
    assert "7T:t1" not in raw
    assert "7T:t1" not in repr(first)


def count_statements(store: Repository, work: Callable[[], object]) -> list[str]:
    """The statements ``work`` sends to the store, SQLite's BEGIN included."""
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        work()
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    return sent


def test_a_renewal_costs_two_store_transactions(store: Repository, clock: Clock) -> None:
    """Issue 14: a renewal takes the lease and reads the records under it in one write, and
    stores the ticket, releasing the lease, in one more: 5 statements, SQLite's BEGIN included
    (it was 22 in 8 transactions, then 7 in 3). The first use is not written."""
    manager = manager_for(store, FakeExchange(clock), clock)
    manager.mark_used(APP, CTX)  # resolves the application's id once; nothing to mark yet

    def work() -> None:
        ticket = manager.ticket(APP, CTX)
        manager.mark_used(APP, CTX, ticket)  # within the touch interval of its obtained time
        assert manager.ticket(APP, CTX).ticket == ticket.ticket  # from memory

    sent = count_statements(store, work)
    assert len(sent) == 5
    assert sum(statement.startswith("BEGIN") for statement in sent) == 2


def test_a_ticket_found_in_the_store_leaves_no_lease(store: Repository, clock: Clock) -> None:
    """Another process's fresh ticket is found under a lease that is rolled back: one
    transaction, nothing written, and no lease left to hold up a third process."""
    exchange = FakeExchange(clock)
    manager_for(store, exchange, clock).ticket(APP, CTX)
    other = manager_for(store, exchange, clock)
    other.mark_used(APP, CTX)  # resolves the application's id once
    found: list[str] = []
    sent = count_statements(store, lambda: found.append(other.ticket(APP, CTX).ticket))
    assert found == ["7T:t1"]
    assert exchange.calls == 1
    assert sum(statement.startswith("BEGIN") for statement in sent) == 1
    assert len(sent) == 3
    authorization = store.get_authorization(APP, CTX)
    assert store.get_ticket_lease(authorization.id) is None
    stored = store.get_ticket(authorization.id)
    assert stored is not None
    assert stored.last_used_at is None  # the lookup wrote nothing


def test_ten_threads_cause_one_exchange(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock, delay=0.3)
    manager = manager_for(store, exchange, clock)
    barrier = threading.Barrier(10)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(manager.ticket(APP, CTX).ticket)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert results == ["7T:t1"] * 10
    assert exchange.calls == 1


def test_name_and_id_share_one_cached_ticket(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    by_name = manager.ticket(APP, CTX)
    store_reads_before = exchange.calls
    by_id = manager.ticket(store.get_application(APP).id, CTX)
    assert by_id.ticket == by_name.ticket
    assert exchange.calls == store_reads_before == 1


def test_ten_threads_share_one_failure(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(
        clock, delay=0.3, error=InvalidSystemUserSignatureError("x", error_code="InvalidSignature")
    )
    manager = manager_for(store, exchange, clock)
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            manager.ticket(APP, CTX)
        except InvalidSystemUserSignatureError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(errors) == 10
    assert exchange.calls == 1  # no retry storm
    assert store.get_ticket(store.get_authorization(APP, CTX).id) is None  # nothing cached
    assert store.get_authorization(APP, CTX).status == "active"


def test_renewal_after_the_refresh_margin(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    manager.ticket(APP, CTX)
    clock.advance(seconds=(TICKET_WINDOW - TICKET_REFRESH_MARGIN).total_seconds() - 1)
    assert manager.ticket(APP, CTX).ticket == "7T:t1"
    clock.advance(seconds=2)  # now inside the margin
    assert manager.ticket(APP, CTX).ticket == "7T:t2"
    assert manager.ticket(APP, CTX).ticket == "7T:t2"
    assert exchange.calls == 2  # renewed once


def test_use_slides_the_window(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    ticket = manager.ticket(APP, CTX)
    clock.advance(hours=5)
    manager.mark_used(APP, CTX, ticket)
    clock.advance(hours=5)  # 10 h after the exchange, 5 h after the last use
    renewed = manager.ticket(APP, CTX)
    assert renewed.ticket == "7T:t1"
    assert renewed.last_used_at == START + timedelta(hours=5)
    assert renewed.valid_until == START + timedelta(hours=11)
    assert exchange.calls == 1
    # The use reached the store: another process sees the same window.
    stored = store.get_ticket(store.get_authorization(APP, CTX).id)
    assert stored is not None
    assert stored.last_used_at == START + timedelta(hours=5)
    assert manager_for(store, exchange, clock).ticket(APP, CTX).ticket == "7T:t1"
    assert exchange.calls == 1


def test_a_401_renews_once_then_succeeds(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    seen: list[str] = []

    def call(ticket: SystemUserTicket) -> httpx.Response:
        seen.append(ticket.ticket)
        return respond(401 if ticket.ticket == "7T:t1" else 200)

    assert manager.call_with_ticket(APP, CTX, call).status_code == 200
    assert seen == ["7T:t1", "7T:t2"]
    assert exchange.calls == 2
    stored = store.get_ticket(store.get_authorization(APP, CTX).id)
    assert stored is not None
    assert stored.ticket.reveal() == "7T:t2"


def test_a_401_twice_is_a_typed_error(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    calls: list[str] = []

    def call(ticket: SystemUserTicket) -> httpx.Response:
        calls.append(ticket.ticket)
        return respond(401)

    with pytest.raises(TicketRejectedError) as caught:
        manager.call_with_ticket(APP, CTX, call)
    assert caught.value.status_code == 401
    assert calls == ["7T:t1", "7T:t2"]
    assert exchange.calls == 2
    assert store.get_ticket(store.get_authorization(APP, CTX).id) is None


@pytest.mark.parametrize(
    "error",
    [
        AuthorizationRevokedError("Revoked", error_code="Revoked"),
        NeedsReapprovalError("NeedsReapproval", error_code="NeedsReapproval"),
    ],
)
def test_revoked_marks_needs_reconsent_and_is_not_retried(
    store: Repository, clock: Clock, error: Exception
) -> None:
    exchange = FakeExchange(clock, error=error)
    manager = manager_for(store, exchange, clock)
    with pytest.raises(type(error)):
        manager.ticket(APP, CTX)
    assert exchange.calls == 1
    assert store.get_authorization(APP, CTX).status == "needs_reconsent"
    events = store.list_audit(context_identifier=CTX)
    assert events[0].actor == "ticket-manager"
    assert events[0].action == "authorization.status_changed"
    assert events[0].summary["to"] == "needs_reconsent"
    with pytest.raises(AuthorizationNotActiveError) as caught:
        manager.ticket(APP, CTX)
    assert caught.value.status == "needs_reconsent"
    assert exchange.calls == 1  # no exchange for an authorization that is not active


def test_an_inactive_authorization_gets_no_exchange(store: Repository, clock: Clock) -> None:
    store.set_authorization_status(APP, CTX, "revoked")
    exchange = FakeExchange(clock)
    with pytest.raises(AuthorizationNotActiveError):
        manager_for(store, exchange, clock).ticket(APP, CTX)
    assert exchange.calls == 0


def test_no_system_user_token(tmp_path: Path, clock: Clock) -> None:
    store = setup_store(tmp_path / "home", clock, token=False)
    exchange = FakeExchange(clock)
    try:
        with pytest.raises(NoSystemUserTokenError):
            manager_for(store, exchange, clock).ticket(APP, CTX)
    finally:
        store.close()
    assert exchange.calls == 0


def test_a_waiter_takes_the_ticket_the_lease_holder_stores(store: Repository, clock: Clock) -> None:
    authorization = store.get_authorization(APP, CTX)
    assert store.acquire_ticket_lease(authorization.id, "other-process", ttl=timedelta(minutes=1))

    def other_process_finishes() -> None:
        time.sleep(0.3)
        store.put_ticket(
            authorization.id,
            ticket="7T:other",
            obtained_at=clock(),
            expires_at=clock() + TICKET_WINDOW,
            lease_owner="other-process",
        )

    thread = threading.Thread(target=other_process_finishes)
    thread.start()
    exchange = FakeExchange(clock)
    assert manager_for(store, exchange, clock, poll_interval=0.05).ticket(APP, CTX).ticket == (
        "7T:other"
    )
    thread.join()
    assert exchange.calls == 0
    assert store.get_ticket_lease(authorization.id) is None


def test_a_crashed_holders_lease_expires(store: Repository, clock: Clock) -> None:
    authorization = store.get_authorization(APP, CTX)
    assert store.acquire_ticket_lease(authorization.id, "crashed", ttl=timedelta(seconds=90))
    exchange = FakeExchange(clock)

    def sleep(_seconds: float) -> None:
        clock.advance(seconds=30)

    manager = manager_for(store, exchange, clock, sleep=sleep)
    assert manager.ticket(APP, CTX).ticket == "7T:t1"
    assert exchange.calls == 1
    assert store.get_ticket_lease(authorization.id) is None


def test_waiting_for_a_lease_is_bounded(store: Repository, clock: Clock) -> None:
    authorization = store.get_authorization(APP, CTX)
    assert store.acquire_ticket_lease(authorization.id, "slow", ttl=timedelta(minutes=5))
    exchange = FakeExchange(clock)
    manager = manager_for(
        store, exchange, clock, lease_wait=timedelta(seconds=0.3), poll_interval=0.05
    )
    with pytest.raises(TicketLeaseTimeoutError):
        manager.ticket(APP, CTX)
    assert exchange.calls == 0


def test_invalidate_only_removes_that_ticket(store: Repository, clock: Clock) -> None:
    exchange = FakeExchange(clock)
    manager = manager_for(store, exchange, clock)
    manager.ticket(APP, CTX)
    manager.invalidate(APP, CTX, "7T:someone-elses")
    assert manager.ticket(APP, CTX).ticket == "7T:t1"
    manager.invalidate(APP, CTX, "7T:t1")
    assert store.get_ticket(store.get_authorization(APP, CTX).id) is None
    assert manager.peek(APP, CTX) is None
    assert manager.ticket(APP, CTX).ticket == "7T:t2"


# -- the real exchange behind the manager, over a MockTransport ---------------------------------


def test_the_default_exchange_uses_the_stored_credentials(tmp_path: Path, clock: Clock) -> None:
    idp = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(idp.public_key(), as_dict=True)

    class Keys:
        def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
            return jwt.PyJWK(dict(jwk), algorithm=alg)

    now = int(START.timestamp())
    token = jwt.encode(
        {
            "iss": "SuperOffice AS",
            "aud": "spn:42",
            "iat": now,
            "exp": now + 300,
            SERIAL: "42",
            CONTEXT_IDENTIFIER: CTX,
            TICKET: "7T:real",
        },
        idp,
        algorithm="RS256",
    )
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"IsSuccessful": True, "Token": token})

    store = open_store(None, tmp_path / "home", KEY, now=clock)
    store.add_application(
        "emu",
        environment="emulator",
        environment_url="http://127.0.0.1:9",
        client_id="cid",
        client_secret="the-secret",
        private_key=private_key_to_pem(app_key),
    )
    store.put_authorization("emu", CTX, token_issued_at=START, system_user_token="Emu-abc")
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        manager = TicketManager(store, http=http, keys=Keys(), now=clock)
        assert manager.ticket("emu", CTX).ticket == "7T:real"
    store.close()
    assert str(requests[0].url) == "http://127.0.0.1:9/Login/api/PartnerSystemUser/Authenticate"
    assert json.loads(requests[0].content)["ApplicationToken"] == "the-secret"


# -- two processes sharing one SQLite store -----------------------------------------------------


class CountingExchange:
    """Appends a line to a file per exchange (visible across processes)."""

    def __init__(self, counter: str) -> None:
        self.counter = counter

    def __call__(self, *, application: Any, authorization: Any) -> SystemUserTicket:
        with open(self.counter, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # a slow exchange: the other process must wait, not exchange too
        return make_ticket(f"7T:pid{os.getpid()}", datetime.now(UTC))


def _process_main(home: str, key: str, counter: str, barrier: Any, results: Any) -> None:
    store = open_store(None, Path(home), key)
    try:
        manager = TicketManager(store, exchange=CountingExchange(counter), poll_interval=0.05)
        barrier.wait()
        results.put(manager.ticket(APP, CTX).ticket)
    finally:
        store.close()


@pytest.mark.slow
def test_two_processes_cause_one_exchange(tmp_path: Path) -> None:
    home = tmp_path / "home"
    setup_store(home).close()
    counter = tmp_path / "exchanges.txt"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(target=_process_main, args=(str(home), KEY, str(counter), barrier, results))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    got = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert len(counter.read_text().splitlines()) == 1
    assert got[0] == got[1]


def test_a_fleets_first_exchanges_load_the_private_key_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fleet's first exchanges start together; the application's key (~55 ms of CPU to
    load) is loaded by one of them and shared, not loaded by each (issue 14)."""
    from toolkit.auth import tickets as tickets_module
    from toolkit.store import Application, Secret

    loads: list[str] = []
    loaded = object()

    def load(text: str) -> object:
        loads.append(text)
        time.sleep(0.05)  # a load takes a while: the others arrive meanwhile
        return loaded

    monkeypatch.setattr(tickets_module, "load_private_key", load)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    app = Application(
        id="id-1",
        name="Acme Sync",
        environment="sod",
        environment_url=None,
        client_id="c",
        client_secret=Secret.of("s"),
        private_key=Secret.of("the pem"),
        redirect_uri=None,
        kind="standard",
        model="internal",
        tenant=None,
        key_fingerprint="f1",
        created_at=now,
        updated_at=now,
    )
    keys = tickets_module.PrivateKeys()
    barrier = threading.Barrier(16)
    got: list[object] = []

    def exchange() -> None:
        barrier.wait()
        got.append(keys.of(app))

    threads = [threading.Thread(target=exchange) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert loads == ["the pem"]
    assert got == [loaded] * 16
    # A new key (another fingerprint) is loaded anew.
    renewed = dataclasses.replace(app, key_fingerprint="f2")
    assert keys.of(renewed) is loaded
    assert loads == ["the pem", "the pem"]
