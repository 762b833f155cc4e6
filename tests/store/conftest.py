"""Store fixtures: every store test runs on SQLite (a temporary file) and on PostgreSQL (a schema
of its own; ``database_url`` and the server are in ``support.postgres``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_support import KEY_A, Clock
from support.stores import migrated_home

from toolkit.store import Repository, open_store


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str | None, home: Path, clock: Clock) -> Iterator[Repository]:
    if database_url is None:
        migrated_home(home)  # the migrations' own tests migrate their own stores
    repository = open_store(database_url, home, KEY_A, now=clock)
    yield repository
    repository.close()


@pytest.fixture
def is_sqlite(database_url: str | None) -> bool:
    return database_url is None
