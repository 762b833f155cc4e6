"""Hostile-input suites: a workspace with the partner endpoints (the Hypothesis profile is the
suite-wide one, in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hostile_support import APP, CTX
from support.partner import app_client, authorized_sod_application, open_workspace_at

from toolkit.workspace import Workspace

if TYPE_CHECKING:
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    # Nothing outside is reachable: hostile input must be refused before any call out.
    with open_workspace_at(tmp_path_factory.mktemp("hostile") / "home", offline=True) as ws:
        authorized_sod_application(ws, CTX, APP)
        yield ws


@pytest.fixture(scope="module")
def client(workspace: Workspace) -> Iterator[TestClient]:
    with app_client(workspace) as test_client:
        yield test_client
