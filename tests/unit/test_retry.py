"""The retry policy of send_request: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from toolkit.errors import (
    RequestOutcomeUnknownError,
    RetryBudgetExceededError,
    RetryExhaustedError,
    TransportError,
)
from toolkit.http import (
    DEFAULT_RETRY_MAX_ATTEMPTS,
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUS_CODES,
    HttpTimeouts,
    RetryPolicy,
    create_client,
    parse_retry_after,
    send_request,
)

URL = "https://sod2.superoffice.com/Cust12345/api/v1/List"
NOW = datetime(2026, 2, 23, 9, 52, 1, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only moves when the policy sleeps; records every sleep."""

    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.monotonic += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def policy(fake_time: FakeTime, **overrides: float | int | bool) -> RetryPolicy:
    arguments: dict[str, object] = {
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
        "now": lambda: NOW,
        "jitter": 0.0,
    }
    arguments.update(overrides)
    return RetryPolicy(**arguments)  # type: ignore[arg-type]


class Script:
    """A MockTransport handler answering from a script; each entry a response or an exception."""

    def __init__(self, *steps: int | httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"ok": step})
        return step

    @property
    def count(self) -> int:
        return len(self.requests)


def client_for(script: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return create_client(transport=httpx.MockTransport(script))


def test_defaults_are_named_and_sane() -> None:
    default = RetryPolicy()
    assert default.max_attempts == DEFAULT_RETRY_MAX_ATTEMPTS
    assert default.retry_statuses == RETRYABLE_STATUS_CODES == {429, 502, 503, 504}
    assert default.idempotent_methods == IDEMPOTENT_METHODS
    assert {"POST", "PATCH"}.isdisjoint(IDEMPOTENT_METHODS)
    assert 0 < default.backoff_base <= default.backoff_cap <= default.total_budget
    assert default.retry_after_cap <= default.total_budget


@pytest.mark.parametrize(
    "overrides",
    [{"max_attempts": 0}, {"jitter": 1.5}, {"total_budget": 0}, {"backoff_base": -1}],
)
def test_nonsense_policies_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the field names vary
        RetryPolicy(**overrides)  # type: ignore[arg-type]


def test_503_503_200_succeeds(fake_time: FakeTime) -> None:
    script = Script(503, 503, 200)
    response = send_request(
        client_for(script), "GET", URL, what="test", retry=policy(fake_time, backoff_base=0.5)
    )
    assert response.status_code == 200
    assert script.count == 3
    assert fake_time.sleeps == [0.5, 1.0]  # exponential, no jitter


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_each_retryable_status_is_retried(fake_time: FakeTime, status: int) -> None:
    script = Script(status, 200)
    response = send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert response.status_code == 200
    assert script.count == 2


def test_without_a_policy_a_503_is_returned_after_one_request() -> None:
    script = Script(503, 200)
    assert send_request(client_for(script), "GET", URL, what="test").status_code == 503
    assert script.count == 1


def test_retry_after_seconds_is_waited_for(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), 200)
    send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert fake_time.sleeps == [7.0]


def test_retry_after_http_date_is_waited_for(fake_time: FakeTime) -> None:
    later = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": later}), 200)
    send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert fake_time.sleeps == [12.0]


def test_retry_after_is_capped(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}), 200)
    retry = policy(fake_time, retry_after_cap=5.0, total_budget=30.0)
    send_request(client_for(script), "GET", URL, what="test", retry=retry)
    assert fake_time.sleeps == [5.0]


def test_a_429_storm_stops_after_max_attempts(fake_time: FakeTime) -> None:
    script = Script(429)
    retry = policy(fake_time, max_attempts=4, backoff_base=0.1, total_budget=1000)
    with pytest.raises(RetryExhaustedError) as caught:
        send_request(client_for(script), "GET", URL, what="test", retry=retry)
    assert script.count == 4
    assert len(fake_time.sleeps) == 3
    assert caught.value.status_code == 429
    assert caught.value.attempts == 4
    assert not isinstance(caught.value, RetryBudgetExceededError)


def test_a_429_storm_stops_at_the_time_budget(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "10"}))
    retry = policy(fake_time, max_attempts=100, total_budget=25.0, retry_after_cap=20.0)
    with pytest.raises(RetryBudgetExceededError) as caught:
        send_request(client_for(script), "GET", URL, what="test", retry=retry)
    # Waits 10 + 10 = 20 s fit in 25 s; a third wait would not: 3 requests, no useless sleep.
    assert script.count == 3
    assert fake_time.sleeps == [10.0, 10.0]
    assert caught.value.retry_after == 10.0
    assert caught.value.status_code == 429
    assert isinstance(caught.value, TransportError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 421, 500])
def test_client_errors_are_never_retried(fake_time: FakeTime, status: int) -> None:
    script = Script(status, 200)
    response = send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert response.status_code == status
    assert script.count == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_requests_are_not_retried_on_503(fake_time: FakeTime, method: str) -> None:
    script = Script(503, 200)
    response = send_request(
        client_for(script), method, URL, what="test", retry=policy(fake_time), json={}
    )
    assert response.status_code == 503
    assert script.count == 1


@pytest.mark.parametrize("method", sorted(IDEMPOTENT_METHODS))
def test_idempotent_methods_are_retried(fake_time: FakeTime, method: str) -> None:
    script = Script(503, 200)
    send_request(client_for(script), method, URL, what="test", retry=policy(fake_time))
    assert script.count == 2


def test_a_post_that_timed_out_after_sending_is_not_repeated(fake_time: FakeTime) -> None:
    script = Script(httpx.ReadTimeout("stalled"), 200)
    with pytest.raises(RequestOutcomeUnknownError) as caught:
        send_request(
            client_for(script), "POST", URL, what="test", retry=policy(fake_time), json={"a": 1}
        )
    assert script.count == 1
    assert caught.value.url == URL


@pytest.mark.parametrize("error", [httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset")])
def test_a_post_whose_connection_dropped_is_not_repeated(
    fake_time: FakeTime, error: Exception
) -> None:
    script = Script(error, 200)
    with pytest.raises(RequestOutcomeUnknownError):
        send_request(client_for(script), "POST", URL, what="test", retry=policy(fake_time))
    assert script.count == 1


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
def test_a_post_is_retried_after_a_connect_error(fake_time: FakeTime, error: Exception) -> None:
    script = Script(error, 200)
    response = send_request(
        client_for(script), "POST", URL, what="test", retry=policy(fake_time), json={"a": 1}
    )
    assert response.status_code == 200
    assert script.count == 2
    assert script.requests[1].content == b'{"a":1}' or script.requests[1].content == b'{"a": 1}'


def test_connect_errors_exhaust_into_a_typed_error(fake_time: FakeTime) -> None:
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(RetryExhaustedError) as caught:
        send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert script.count == DEFAULT_RETRY_MAX_ATTEMPTS
    assert caught.value.status_code is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_get_dropped_connection_is_retried(fake_time: FakeTime) -> None:
    script = Script(httpx.RemoteProtocolError("dropped"), 200)
    send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert script.count == 2


def test_a_read_timeout_is_not_retried_by_default(fake_time: FakeTime) -> None:
    script = Script(httpx.ReadTimeout("stalled"), 200)
    with pytest.raises(TransportError) as caught:
        send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert "timed out" in str(caught.value)
    assert not isinstance(caught.value, RetryExhaustedError | RequestOutcomeUnknownError)
    assert script.count == 1


def test_read_timeouts_may_be_retried_for_idempotent_requests(fake_time: FakeTime) -> None:
    script = Script(httpx.ReadTimeout("stalled"), 200)
    retry = policy(fake_time, retry_read_timeouts=True)
    assert send_request(client_for(script), "GET", URL, what="x", retry=retry).status_code == 200
    assert script.count == 2


def test_a_pool_timeout_is_not_retried(fake_time: FakeTime) -> None:
    script = Script(httpx.PoolTimeout("busy"), 200)
    with pytest.raises(TransportError):
        send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert script.count == 1


def test_backoff_is_capped_exponential_with_bounded_full_jitter() -> None:
    retry = RetryPolicy(backoff_base=0.5, backoff_cap=4.0, jitter=1.0).seeded(7)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    waits = [retry.backoff(n) for n in range(1, 7)]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert 0.0 <= wait <= ceiling
    assert len(set(waits)) == len(waits)  # jittered, not constant
    again = RetryPolicy(backoff_base=0.5, backoff_cap=4.0, jitter=1.0).seeded(7)
    assert [again.backoff(n) for n in range(1, 7)] == waits  # seeded: repeatable
    exact = RetryPolicy(backoff_base=0.5, backoff_cap=4.0, jitter=0.0)
    assert [exact.backoff(n) for n in range(1, 7)] == ceilings
    assert exact.backoff(10_000) == 4.0  # no overflow


def test_partial_jitter_keeps_a_floor() -> None:
    retry = RetryPolicy(backoff_base=2.0, backoff_cap=2.0, jitter=0.25, random=lambda: 0.999)
    assert 1.5 <= retry.backoff(1) <= 2.0


def test_jittered_sleeps_stay_within_the_backoff(fake_time: FakeTime) -> None:
    script = Script(503)
    retry = policy(fake_time, jitter=1.0, backoff_base=1.0, backoff_cap=2.0).seeded(3)
    with pytest.raises(RetryExhaustedError):
        send_request(client_for(script), "GET", URL, what="test", retry=retry)
    assert len(fake_time.sleeps) == 3
    assert all(0.0 <= s <= c for s, c in zip(fake_time.sleeps, [1.0, 2.0, 2.0], strict=True))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        ("1.5", 1.5),
        ("soon", None),
        ("-3", None),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Mon, 23 Feb 2026 09:52:11 GMT", 10.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_a_stalled_response_times_out_within_the_bound(fake_time: FakeTime) -> None:
    script = Script(httpx.ReadTimeout("stalled"))
    with pytest.raises(TransportError, match="timed out"):
        send_request(client_for(script), "GET", URL, what="test", retry=policy(fake_time))
    assert fake_time.sleeps == []


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback TCP server that accepts connections (in the kernel backlog) and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    host, port = server.getsockname()
    try:
        yield f"http://{host}:{port}/Cust12345/api/v1/List"
    finally:
        server.close()


@pytest.mark.server
def test_a_real_stalled_socket_times_out_within_the_read_timeout(silent_server: str) -> None:
    timeouts = HttpTimeouts(connect=2.0, read=0.5, write=2.0, pool=2.0)
    with create_client(timeout=timeouts) as client:
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out"):
            send_request(client, "GET", silent_server, what="stall", retry=RetryPolicy())
        elapsed = time.monotonic() - started
    assert elapsed >= 0.4  # it did wait for the read timeout; no upper bound (machine speed)
