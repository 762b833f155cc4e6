"""The emulator stays independent of the client code, and its world is thread-safe."""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import toolkit.emulator
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in

pytestmark = pytest.mark.emulator

FORBIDDEN = (
    "toolkit.auth",
    "toolkit.tenant",
    "toolkit.provisioning",
    "toolkit.keys",
    "toolkit.claims",
)


def test_emulator_never_imports_client_code() -> None:
    package = Path(toolkit.emulator.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{source.name} imports {name}"


def test_concurrent_sign_ins(emu: Emulator, app: dict[str, Any], flow: Any) -> None:
    flow.sign_in_and_exchange(app)  # the admin approves once

    def one(_: int) -> int:
        result = sign_in(flow.authorize_url(app["client_id"]), username="user@cust12345.test")
        return int(flow.exchange(app, result.params["code"]).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(16))) == [200] * 16
