"""The emulator clock: every token time (iat, exp, code and transaction expiry) reads it.

Tests move it through the control plane (offset or freeze) instead of sleeping or patching.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any


class Clock:
    """Wall clock plus an offset, or frozen at one instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return time.time() + self._offset

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = float(seconds)

    def freeze(self, at: float | None) -> None:
        """Freeze at epoch seconds `at`; None unfreezes."""
        with self._lock:
            self._frozen_at = None if at is None else float(at)

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def describe(self) -> dict[str, Any]:
        now = self.now()
        with self._lock:
            return {
                "now": now,
                "now_iso": datetime.fromtimestamp(now, UTC).isoformat(),
                "offset": self._offset,
                "frozen_at": self._frozen_at,
            }
