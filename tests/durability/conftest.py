"""Durability fixtures: fresh databases on SQLite (a file per database) and on PostgreSQL (a
schema per database on the server of ``support.postgres``, dropped at the end of the session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from durability_support import Databases
from support.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    """A factory of fresh, empty databases on one backend."""
    if request.param == "sqlite":
        return Databases("sqlite", tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Databases("postgresql", tmp_path, server=server)
