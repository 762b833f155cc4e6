"""Shared pieces of the hostile-input suites (a plain module: conftest is not importable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from support.partner import SOD_CLIENT_ID

from toolkit.store.schema import metadata
from toolkit.workspace import Workspace

APP = "Acme Sync"
CLIENT_ID = SOD_CLIENT_ID  # the application of the hostile suites' workspace
CTX = "Cust12345"


def store_snapshot(workspace: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    with workspace.repository.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = connection.execute(select(table)).all()
            snapshot[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return snapshot


def home_of(workspace: Workspace) -> Path:
    return Path(workspace.settings.home)
