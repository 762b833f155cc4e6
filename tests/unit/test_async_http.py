"""The async transport: create_async_client and async_send_request drive the one RetryPolicy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from toolkit.errors import (
    RequestOutcomeUnknownError,
    RetryBudgetExceededError,
    RetryExhaustedError,
    TransportError,
)
from toolkit.http import (
    USER_AGENT,
    HttpTimeouts,
    RetryPolicy,
    async_send_request,
    create_async_client,
    create_client,
    send_request,
)

URL = "https://sod.superoffice.com/Cust12345/api/v1/List"


class FakeTime:
    """A clock that moves only when the policy waits; records every wait (sync or async)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def policy(fake: FakeTime, **options: float) -> RetryPolicy:
    return RetryPolicy(
        sleep=fake.sleep, async_sleep=fake.async_sleep, clock=fake.clock, **options
    ).seeded(7)


def statuses(*codes: int) -> Callable[[httpx.Request], httpx.Response]:
    answers = list(codes)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.pop(0))

    return handler


def test_the_async_client_has_the_sync_clients_settings() -> None:
    async def run() -> None:
        async with create_async_client(timeout=HttpTimeouts(connect=1, read=2)) as client:
            assert client.headers["User-Agent"] == USER_AGENT
            assert client.follow_redirects is False
            assert client.timeout == httpx.Timeout(connect=1, read=2, write=10, pool=5)

    asyncio.run(run())


def test_retries_and_waits_are_the_same_on_both_transports() -> None:
    sync_time, async_time = FakeTime(), FakeTime()
    with create_client(transport=httpx.MockTransport(statuses(503, 502, 200))) as client:
        answer = send_request(client, "GET", URL, what="t", retry=policy(sync_time))
    assert answer.status_code == 200

    async def run() -> httpx.Response:
        transport = httpx.MockTransport(statuses(503, 502, 200))
        async with create_async_client(transport=transport) as client:
            return await async_send_request(client, "GET", URL, what="t", retry=policy(async_time))

    assert asyncio.run(run()).status_code == 200
    assert len(async_time.waits) == 2
    assert async_time.waits == sync_time.waits  # one policy, one seeded jitter, two transports


def test_retry_after_is_honoured_and_capped() -> None:
    fake = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        if not fake.waits:
            return httpx.Response(429, headers={"Retry-After": "3"})
        return httpx.Response(200)

    async def run() -> httpx.Response:
        async with create_async_client(transport=httpx.MockTransport(handler)) as client:
            return await async_send_request(client, "GET", URL, what="t", retry=policy(fake))

    assert asyncio.run(run()).status_code == 200
    assert fake.waits == [3.0]


def test_exhausted_attempts_and_budget_raise_typed_errors() -> None:
    fake = FakeTime()

    async def run(retry: RetryPolicy) -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(503))
        async with create_async_client(transport=transport) as client:
            await async_send_request(client, "GET", URL, what="tenant API", retry=retry)

    with pytest.raises(RetryExhaustedError) as exhausted:
        asyncio.run(run(policy(fake, max_attempts=3)))
    assert exhausted.value.attempts == 3
    assert exhausted.value.status_code == 503
    with pytest.raises(RetryBudgetExceededError):
        asyncio.run(
            run(policy(FakeTime(), backoff_base=20, backoff_cap=20, jitter=0, total_budget=30))
        )


def test_a_post_that_may_have_been_applied_is_never_repeated() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        raise httpx.ReadTimeout("no answer", request=request)

    async def run() -> None:
        async with create_async_client(transport=httpx.MockTransport(handler)) as client:
            await async_send_request(
                client, "POST", URL, what="tenant API", retry=policy(FakeTime()), json={}
            )

    with pytest.raises(RequestOutcomeUnknownError):
        asyncio.run(run())
    assert sent == ["POST"]


def test_without_a_policy_a_failure_is_a_transport_error_with_a_redacted_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def run() -> None:
        async with create_async_client(transport=httpx.MockTransport(handler)) as client:
            await async_send_request(client, "GET", f"{URL}?code=secret", what="tenant API")

    with pytest.raises(TransportError) as caught:
        asyncio.run(run())
    assert "secret" not in str(caught.value)
    assert caught.value.url == URL
