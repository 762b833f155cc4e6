"""PostgreSQL for the store and durability tests: one schema per database, dropped afterwards.

The local server is ``SOTK_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). A session's schemas share a random
prefix, so parallel runs never collide, and whatever a test left behind is dropped at the end of
the session. Without a reachable server the PostgreSQL cases are skipped, except under CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when a database is made: the unit tests' start-up stays light
    import psycopg
    from sqlalchemy.engine import URL

POSTGRES_URL = os.environ.get(
    "SOTK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_connect(url: URL) -> psycopg.Connection[tuple[Any, ...]]:
    import psycopg

    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or None,
        dbname=url.database or "postgres",
        connect_timeout=3,
        autocommit=True,
    )


@dataclass(frozen=True)
class PostgresServer:
    """The reachable server and this session's schema prefix."""

    url: URL
    prefix: str

    def new_schema(self) -> tuple[str, str]:
        """A fresh, empty schema: its name and a URL whose search path is that schema."""
        from psycopg import sql

        schema = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        with postgres_connect(self.url) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        scoped = self.url.update_query_dict({"options": f"-csearch_path={schema}"})
        return schema, scoped.render_as_string(hide_password=False)

    def drop_schema(self, schema: str) -> None:
        from psycopg import sql

        with postgres_connect(self.url) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The server, or a skip (a failure under CI); this session's schemas dropped at the end."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    try:
        postgres_connect(url).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {url.host}:{url.port} is unreachable ({type(exc).__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI requires it")
        pytest.skip(reason)
    server = PostgresServer(url, f"sotk_test_{uuid.uuid4().hex[:10]}")
    yield server
    with postgres_connect(url) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (server.prefix + "%",)
        ).fetchall()
        for (name,) in rows:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the embedded SQLite file under the toolkit home) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    schema, url = server.new_schema()
    yield url
    server.drop_schema(schema)
