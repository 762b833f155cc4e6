"""A read-only or full database gives a typed error naming the database and the cause.

What is real and what is simulated (these tests run as root in CI, where chmod stops nothing):

* read-only, real: SQLite opened with ``mode=ro`` (``SQLITE_OPEN_READONLY``); a read-only bind
  mount of the store folder in a private mount namespace (only where ``unshare -m`` is allowed);
  chmod 0500/0400 (only when not root); a PostgreSQL session with
  ``default_transaction_read_only`` (what a hot standby answers).
* read-only, approximated: ``PRAGMA query_only`` on the store's connections (SQLite answers
  ``SQLITE_READONLY`` exactly as for a read-only file).
* full disk, real within SQLite: ``PRAGMA max_page_count`` caps the file (``SQLITE_FULL``,
  "database or disk is full"); a process with ``RLIMIT_FSIZE`` set gets a real EFBIG from the
  kernel on write. A genuinely full file system is not created (that needs a root mount).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from durability_support import KEY_OLD
from sqlalchemy import event
from sqlalchemy.engine import make_url
from support.postgres import POSTGRES_URL

from toolkit.errors import StoreUnavailableError
from toolkit.store import Repository, open_store
from toolkit.store.database import unavailable_error

pytestmark = pytest.mark.slow

ISSUED = datetime(2025, 3, 1, tzinfo=UTC)


def make_store(home: Path) -> None:
    with open_store(None, home, KEY_OLD) as store:
        store.add_application(
            "Full App",
            environment="sod",
            client_id="0123456789abcdef0123456789abcdef",
            client_secret="durability-client-secret",
        )


def put(store: Repository, ctx: str, size: int = 100) -> None:
    store.put_authorization(
        "Full App",
        ctx,
        token_issued_at=ISSUED,
        system_user_token="x" * size,
        company_name=ctx,
    )


def on_every_connection(store: Repository, statement: str) -> None:
    store.engine.dispose()

    @event.listens_for(store.engine, "connect")
    def _apply(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(statement)


def test_a_read_only_sqlite_file_reads_and_refuses_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_store(home)
    database = home / "toolkit.db"
    with open_store(f"sqlite:///{database}?mode=ro&uri=true", home, KEY_OLD) as store:
        assert store.list_applications()  # a read-only store still reads
        with pytest.raises(StoreUnavailableError) as caught:
            put(store, "Cust10001")
    assert caught.value.cause == "read_only"
    assert caught.value.location == str(database)
    assert str(database) in str(caught.value)
    assert "read-only" in str(caught.value)


def test_a_missing_read_only_sqlite_file_is_refused_at_open(tmp_path: Path) -> None:
    database = tmp_path / "toolkit.db"
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(f"sqlite:///{database}?mode=ro&uri=true", tmp_path, KEY_OLD)
    assert caught.value.cause == "cannot_open"
    assert str(database) in str(caught.value)


def test_a_store_that_turns_read_only_fails_at_write(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_store(home)
    with open_store(None, home, KEY_OLD) as store:
        on_every_connection(store, "PRAGMA query_only = ON")
        assert store.list_applications()  # reading still works
        with pytest.raises(StoreUnavailableError, match="read-only") as caught:
            put(store, "Cust10001")
        assert caught.value.cause == "read_only"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_a_read_only_folder_and_file_by_mode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_store(home)
    for name in ("toolkit.db", "toolkit.db-wal", "toolkit.db-shm"):
        if (home / name).exists():
            (home / name).chmod(0o400)
    home.chmod(0o500)
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            open_store(None, home, KEY_OLD)
        assert caught.value.cause in ("read_only", "cannot_open")
    finally:
        home.chmod(0o700)


BIND_MOUNT_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from toolkit.errors import StoreUnavailableError
    from toolkit.store import open_store
    try:
        open_store(None, Path(sys.argv[1]), sys.argv[2])
    except StoreUnavailableError as error:
        print("unavailable", error.cause, error)
    else:
        print("opened")
    """
)


def test_a_read_only_mount_is_refused_at_open(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs unshare -m as root")
    home = tmp_path / "home"
    make_store(home)
    result = subprocess.run(
        [
            unshare,
            "-m",
            "sh",
            "-c",
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" '
            '&& exec "$2" -c "$3" "$1" "$4"',
            "sh",
            str(home),
            sys.executable,
            BIND_MOUNT_CHILD,
            KEY_OLD,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"no mount namespace here: {result.stderr.strip()[:200]}")
    assert result.stdout.startswith("unavailable"), result.stdout + result.stderr
    assert str(home) in result.stdout


def test_a_full_sqlite_file_fails_at_write_with_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_store(home)
    with open_store(None, home, KEY_OLD) as store:
        with store.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        on_every_connection(store, f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreUnavailableError, match="full") as caught:  # noqa: PT012
            for number in range(200):
                put(store, f"Cust{number:05d}", size=4000)
        assert caught.value.cause == "disk_full"
        assert str(home / "toolkit.db") in str(caught.value)
    with open_store(None, home, KEY_OLD) as store:  # nothing half-written
        assert store.verify_secrets() == []


FILE_SIZE_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from toolkit.errors import StoreUnavailableError
    from toolkit.store import open_store
    store = open_store(None, Path(sys.argv[1]), sys.argv[2])
    size = Path(sys.argv[1], "toolkit.db").stat().st_size
    wal = Path(sys.argv[1], "toolkit.db-wal").stat().st_size
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    limit = max(size, wal) + 64 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        for number in range(1000):
            store.put_authorization(
                "Full App", f"Cust{number:05d}",
                token_issued_at=datetime(2025, 3, 1, tzinfo=UTC), system_user_token="x" * 4000,
            )
    except StoreUnavailableError as error:
        print("unavailable", error.cause, error)
    else:
        print("wrote everything")
    """
)


def test_a_file_size_limit_fails_at_write_with_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_store(home)
    result = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_CHILD, str(home), KEY_OLD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.startswith("unavailable"), result.stdout + result.stderr[-2000:]
    cause = result.stdout.split()[1]
    assert cause in ("disk_full", "io_error"), result.stdout
    with open_store(None, home, KEY_OLD) as store:
        assert store.verify_secrets() == []


def test_the_embedded_store_folder_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreUnavailableError, match="cannot be created") as caught:
        open_store(None, tmp_path / "file" / "home", KEY_OLD)
    assert caught.value.cause == "cannot_open"


def test_a_read_only_postgresql_session_fails_at_write(tmp_path: Path) -> None:
    url = make_url(POSTGRES_URL).update_query_dict(
        {"options": "-cdefault_transaction_read_only=on"}
    )
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(url.render_as_string(hide_password=False), tmp_path, KEY_OLD)
    if caught.value.cause == "unreachable" and not os.environ.get("CI"):
        pytest.skip("PostgreSQL is unreachable")
    assert caught.value.cause == "read_only"
    assert "read-only" in str(caught.value)
    assert str(caught.value.location).startswith("postgresql+psycopg://")


def test_an_unreachable_postgresql_server_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://sotk:hunter2-password@127.0.0.1:1/nothing"
    with pytest.raises(StoreUnavailableError, match="cannot be reached") as caught:
        open_store(url, tmp_path, KEY_OLD)
    assert caught.value.cause == "unreachable"
    assert "hunter2-password" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


def test_other_driver_errors_are_left_alone() -> None:
    assert unavailable_error(sqlite3.OperationalError("no such table: x"), "db") is None
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    error = unavailable_error(full, "/x/toolkit.db")
    assert error is not None
    assert error.cause == "disk_full"
