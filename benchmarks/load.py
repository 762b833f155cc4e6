"""The machine's load during a case, and whether its figures may be reported as a result.

A case measured while the 1-minute load average is above the number of cores shared the CPU
with other work: its wall times (and, less so, its CPU times: caches, frequency) say more about
the neighbours than about the toolkit. Such a case is marked ``under_load`` and is never
reported as the result (``benchmarks.summary`` and the README's tables say so beside it).
Request counts and exchanges per tenant do not depend on load.
"""

from __future__ import annotations

import os
from typing import Any


def cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_average_1m() -> float:
    return round(os.getloadavg()[0], 2)


def load_fields(*samples: float) -> dict[str, Any]:
    """``load_average_1m`` (the highest of ``samples`` and now), ``cores`` and
    ``under_load``: that load was above the core count."""
    highest = max((*samples, load_average_1m()))
    count = cores()
    return {"load_average_1m": highest, "cores": count, "under_load": highest > count}
