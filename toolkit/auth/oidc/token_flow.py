"""Token flows: generators that yield token requests, driven on a sync or an async transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx

from toolkit.auth.oidc.token_endpoint import TokenRequest

__all__ = ["TokenFlow", "async_drive_token_flow", "drive_token_flow"]

T = TypeVar("T")

TokenFlow = Generator[TokenRequest, httpx.Response, T]
"""A flow that yields token requests, takes the token endpoint's answers, and returns a ``T``."""


def drive_token_flow(flow: TokenFlow[T], post: Callable[[TokenRequest, str], httpx.Response]) -> T:
    """Run ``flow`` on a sync transport: ``post(request, what)`` sends each request it yields.

    A failure to send is thrown into the flow at its ``yield``, as if the flow had sent the
    request itself, so its own error handling (an audit, a ``finally``) runs as before.
    """
    try:
        request = next(flow)
        while True:
            try:
                response = post(request, "the token endpoint")
            except Exception as exc:
                request = flow.throw(exc)
            else:
                request = flow.send(response)
    except StopIteration as done:
        return cast(T, done.value)


@dataclass(frozen=True)
class _FlowStep:
    done: bool
    request: TokenRequest | None = None
    value: Any = None


def _advance(
    flow: TokenFlow[Any], response: httpx.Response | None, error: Exception | None
) -> _FlowStep:
    try:
        if error is not None:
            request = flow.throw(error)
        elif response is not None:
            request = flow.send(response)
        else:
            request = next(flow)
    except StopIteration as done:
        return _FlowStep(True, value=done.value)
    return _FlowStep(False, request=request)


async def async_drive_token_flow(
    flow: TokenFlow[T], post: Callable[[TokenRequest, str], Awaitable[httpx.Response]]
) -> T:
    """Run ``flow`` on an async transport: ``await post(request, what)`` sends each request.

    The flow's own steps (store reads and writes, token validation: sync work) run in a worker
    thread, so the event loop is never blocked; failures to send are thrown into the flow as
    :func:`drive_token_flow` does. A cancelled caller closes the flow (its ``finally`` runs).
    """
    try:
        step = await asyncio.to_thread(_advance, flow, None, None)
        while not step.done:
            assert step.request is not None  # noqa: S101 - a step that is not done has one
            try:
                response = await post(step.request, "the token endpoint")
            except Exception as exc:
                step = await asyncio.to_thread(_advance, flow, None, exc)
            else:
                step = await asyncio.to_thread(_advance, flow, response, None)
    except BaseException:
        flow.close()
        raise
    return cast(T, step.value)
