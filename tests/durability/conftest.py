"""Durability fixtures: fresh databases on SQLite (a file per database) and on PostgreSQL.

PostgreSQL databases are schemas on the local server (``SOTK_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) named after this session and dropped
afterwards. Without a reachable server the PostgreSQL cases are skipped, except under CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from durability_support import POSTGRES_URL, Databases, postgres_connect
from psycopg import sql
from sqlalchemy.engine import URL, make_url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[URL, str]]:
    """The server URL and this session's schema prefix; its schemas are dropped at the end."""
    url = make_url(POSTGRES_URL)
    try:
        postgres_connect(url).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {url.host}:{url.port} is unreachable ({type(exc).__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI requires it")
        pytest.skip(reason)
    prefix = f"sotk_durability_{uuid.uuid4().hex[:8]}"
    yield url, prefix
    with postgres_connect(url) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)
        ).fetchall()
        for (name,) in rows:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    """A factory of fresh, empty databases on one backend."""
    if request.param == "sqlite":
        return Databases("sqlite", tmp_path)
    url, prefix = request.getfixturevalue("postgres_server")
    return Databases("postgresql", tmp_path, server=url, prefix=prefix)
