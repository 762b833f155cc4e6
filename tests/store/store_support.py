"""Shared constants and helpers of the store tests (a plain module: conftest is not importable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from toolkit.store import generate_key_text

KEY_A = generate_key_text("alpha")
KEY_B = generate_key_text("beta")
OTHER_ALPHA = generate_key_text("alpha")  # same kid as KEY_A, different key material


class Clock:
    """An injectable clock (timezone-aware UTC) that tests move by hand."""

    def __init__(self) -> None:
        self.current = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def contend(attempt: Callable[[str], bool], contenders: int = 8) -> list[str]:
    """The owners for whom ``attempt(owner)`` succeeded when ``contenders`` threads try at once
    (released together by a barrier)."""
    barrier = threading.Barrier(contenders)
    winners: list[str] = []

    def one(owner: str) -> None:
        barrier.wait()
        if attempt(owner):
            winners.append(owner)

    threads = [threading.Thread(target=one, args=(f"owner-{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return winners
