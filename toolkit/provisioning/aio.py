"""Provisioning plans through the async API: the sync planning code, async tenant calls.

A plan (``toolkit.provisioning.plan.make_plan``) reads the tenant through a small sync
interface and then diffs. The async API keeps that one implementation: the plan runs in a
worker thread and reads through :class:`LoopBridge`, which runs each tenant call as a coroutine
of the :class:`~toolkit.tenant.aio.AsyncWebApiClient` on the caller's event loop (its
``httpx.AsyncClient``, ticket single flight and state cache) and hands the answer back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from toolkit.tenant.aio import AsyncWebApiClient

__all__ = ["LoopBridge"]


class LoopBridge:
    """A sync face of ``api`` for code running in a worker thread: a call to any of the async
    client's methods waits for that coroutine, run on ``loop``. Never used on ``loop``'s own
    thread (it would wait for itself: :class:`RuntimeError`)."""

    def __init__(self, api: AsyncWebApiClient, loop: asyncio.AbstractEventLoop) -> None:
        self._api = api
        self._loop = loop

    @property
    def context_identifier(self) -> str:
        return self._api.context_identifier

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._api, name)
        if not asyncio.iscoroutinefunction(method):
            raise AttributeError(f"{name!r} is not a call of the tenant API")
        loop = self._loop

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise RuntimeError("LoopBridge waits for its loop: call it from a worker thread")
            return asyncio.run_coroutine_threadsafe(method(*args, **kwargs), loop).result()

        return call

    def __repr__(self) -> str:
        return f"LoopBridge({self._api!r})"
