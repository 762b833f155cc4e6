"""A port a test names before anything listens on it (a server it starts as a process, a second
run on the first run's ports, an address where nothing answers).

A port from ``bind(("127.0.0.1", 0))`` is free only until the socket closes: the kernel then
hands it out again to any ``bind(0)`` or ``connect()`` on the machine, and with tests running on
several processes (pytest-xdist) another process connects or listens many times a second.
:func:`unused_port` picks below the kernel's ephemeral range, which the kernel never hands out
by itself, so only another test naming the same port could take it (one in some ten thousand).
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Below the ephemeral range and above the ports services usually take.
LOWEST = 10_000
ATTEMPTS = 100


def ephemeral_start() -> int:
    """The first port the kernel hands out by itself (Linux; 32768, its default, elsewhere)."""
    try:
        return int(EPHEMERAL_RANGE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def unused_port(host: str = "127.0.0.1", *, besides: tuple[int, ...] = ()) -> int:
    """A port on ``host`` nothing is bound to now, outside the ephemeral range (and none of
    ``besides``, ports already picked)."""
    highest = max(ephemeral_start() - 1, LOWEST + 1_000)
    for _ in range(ATTEMPTS):
        port = LOWEST + secrets.randbelow(highest - LOWEST + 1)
        if port in besides:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no unused port between {LOWEST} and {highest} in {ATTEMPTS} tries")
