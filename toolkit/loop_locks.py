"""One ``asyncio.Lock`` per key and event loop, for async clients used from several loops.

An ``asyncio.Lock`` belongs to the loop that first waits on it, so a client shared by several
loops (a web server's and a notebook's) keeps one lock per loop; a loop that ends drops its
locks with it (weak keys). The async tenant status client and ticket manager both use it for
their single flight per tenant.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LoopLocks"]

K = TypeVar("K", bound=Hashable)


class LoopLocks(Generic[K]):
    """``locks.get(key)``: the running loop's lock for ``key`` (created on first use)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[K, asyncio.Lock]]
        self._locks = weakref.WeakKeyDictionary()

    def get(self, key: K) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            locks = self._locks.setdefault(loop, {})
            lock = locks.get(key)
            if lock is None:
                lock = locks[key] = asyncio.Lock()
            return lock
