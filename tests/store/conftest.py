"""Store fixtures: every store test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL tests use the local server (``SOTK_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each test gets its own schema, named
after this session, dropped afterwards, so parallel runs never collide. Without a reachable
server the PostgreSQL cases are skipped, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from store_support import KEY_A, POSTGRES_URL, Clock

from toolkit.store import Repository, open_store


def _connect(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or None,
        dbname=url.database or "postgres",
        connect_timeout=3,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def postgres_base() -> Iterator[tuple[URL, str]]:
    """The server URL and this session's schema prefix; leftover schemas dropped at the end."""
    url = make_url(POSTGRES_URL)
    try:
        _connect(url).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {url.host}:{url.port} is unreachable ({type(exc).__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI requires it")
        pytest.skip(reason)
    prefix = f"sotk_test_{uuid.uuid4().hex[:10]}"
    yield url, prefix
    with _connect(url) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)
        ).fetchall()
        for (name,) in rows:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the embedded SQLite default under ``home``) or a fresh PostgreSQL schema's URL."""
    if request.param == "sqlite":
        yield None
        return
    url, prefix = request.getfixturevalue("postgres_base")
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with _connect(url) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    yield scoped.render_as_string(hide_password=False)
    with _connect(url) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str | None, home: Path, clock: Clock) -> Iterator[Repository]:
    repository = open_store(database_url, home, KEY_A, now=clock)
    yield repository
    repository.close()


@pytest.fixture
def is_sqlite(database_url: str | None) -> bool:
    return database_url is None
