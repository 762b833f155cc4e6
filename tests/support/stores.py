"""A migrated store that was never started, built once per test process and copied into a test's
home.

Most tests want an empty SQLite store, and migrating one (every migration's DDL, about 50 ms of
CPU) was done some 500 times in one ``make check``. The copy holds only the migrated schema:
``open_store`` on it still checks the schema version (``migrate`` finds nothing to do), creates
the key file and seals the key ring canary, as on any first start. The tests of the migrations
themselves, of a first start's files and folder modes, and every PostgreSQL store migrate their
own.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

DATABASE = "toolkit.db"


@functools.cache
def _template() -> Path:
    from toolkit.store.database import create_engine_for
    from toolkit.store.migrations import migrate

    folder = Path(tempfile.mkdtemp(prefix="sotk-store-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    engine = create_engine_for(None, home=folder)
    try:
        migrate(engine)
    finally:
        engine.dispose()  # the last connection's close checkpoints the WAL into the file
    others = sorted(path.name for path in folder.iterdir() if path.name != DATABASE)
    assert not others, f"the migrated template left {others} beside the database"
    return folder / DATABASE


def migrated_home(home: Path) -> Path:
    """``home`` (created as the toolkit creates it) holding a migrated, never started store;
    a store already there is left as it is."""
    from toolkit.store.database import HOME_MODE

    home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
    database = home / DATABASE
    if not database.exists():
        shutil.copyfile(_template(), database)
    return home
