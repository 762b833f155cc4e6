"""The running emulator: one server per test session, its world reset to the seed per test.

A test that takes ``emu`` starts from the seeded world (tenants, users, a clock at real time, no
webhooks, no faults), whatever the tests before it did; faults it set are cleared afterwards too,
for the tests that read ``emulator`` (the same server) without resetting it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:  # imported when a fixture runs: a run without the emulator never loads it
    from toolkit.emulator import Emulator

# One shared SSL context: httpx spends ~40 ms loading CA certificates for every new client.
LOOPBACK_SSL = ssl.create_default_context()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    from toolkit.emulator import Emulator

    with Emulator(port=0) as running:
        yield running


@pytest.fixture(scope="session")
def emulator_control(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{emulator.base_url}/__emulator__", verify=LOOPBACK_SSL) as client:
        yield client


@pytest.fixture
def emu(emulator: Emulator, emulator_control: httpx.Client) -> Iterator[Emulator]:
    """The session's emulator with its world reset to the seed."""
    response = emulator_control.post("/reset", timeout=10)
    assert response.status_code == 200, response.text
    yield emulator
    emulator.clear_faults()
