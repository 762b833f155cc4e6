"""``python -m benchmarks dashboard --n 10000``: the dashboard's pages at N tenants (issue 17).

A fresh toolkit home is seeded through the Repository API with 2 applications, N authorizations
(half with a stored system user ticket, one in 50 needing reconsent) and N tenant states,
10 x N audit events and N / 10 provisioning runs. About 2 N of the audit events are the
tenants' recorded state changes over 60 days (what the Overview's "States over time" reads):
each tenant's first state check at its install, a maintenance window for one tenant in two
(OfflineMaintenance, Running again hours later), a suspension for one in 25 and a suspension
lifted two days later for one in 100, each recorded as a state check does
(``put_tenant_state`` with an actor); the other events (ticket renewals, authorization
updates, unconfirmed state-change notifications) are spread over the last 30 days. Then
each page of ``dashboard/views/`` runs in Streamlit's AppTest through ``dashboard/app.py``, as
a signed-in operator, after the server's preload (``dashboard/serve.py``) and one warm-up run:

* ``first``: the page with no read model cached (the first view after the cache expired);
* ``second``: the same page run again (what moving back to it costs).

Each reports wall seconds and the SQL statements the run sent (a SQLAlchemy
``before_cursor_execute`` listener on every engine; SQLite's BEGIN counts, as in the issue).
Each page also has the 1-minute load average taken after its runs. The store's read behind
"States over time" (``Repository.tenant_states_by_day`` over the chart's 30 days) is timed
apart, with its statements and the rows the database answered (``state_history``). The
Activity CSV export, built only on request now, is timed apart for the last 7 days and for
every event (``export_seconds``). One JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.load import load_average_1m, load_fields

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "dashboard"
APP = DASHBOARD / "app.py"
VIEWS = DASHBOARD / "views"
# Streamlit's AppTest timeout for one run: a generous bound, never a measurement.
RUN_TIMEOUT = 300.0
# Seeded history: audit events per tenant, tenants per provisioning run, days they span.
AUDIT_PER_TENANT = 10
TENANTS_PER_RUN = 10
HISTORY_DAYS = 30
# The tenants' state changes span twice the Overview chart's 30 days (so the chart starts from
# the states recorded before it); the tenants are installed over the first 45 of them.
STATE_HISTORY_DAYS = 60
INSTALL_DAYS = 45
# One tenant in MAINTENANCE_EVERY goes through a maintenance window of MAINTENANCE_HOURS, one in
# SUSPENDED_EVERY ends suspended, one in REINSTATED_EVERY is suspended for REINSTATED_DAYS.
MAINTENANCE_EVERY = 2
MAINTENANCE_HOURS = 3
SUSPENDED_EVERY = 25
REINSTATED_EVERY = 100
REINSTATED_DAYS = 2
STATE_CHECKER = "state-refresh"
APPS = ("Bench Alpha", "Bench Bravo")
OPERATOR = "operator@bench.example"
ISSUER = "http://127.0.0.1:9"  # never contacted: the test seam stands in for st.user
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "b" * 40,
    "client_id": "bench-dashboard",
    "client_secret": "bench-dashboard-secret",
    "server_metadata_url": ISSUER + "/login/.well-known/openid-configuration",
}
TARGET_SECONDS = 2.0
# What seed() put in a home, kept beside the store for --home's later runs.
SEEDED_FILE = "bench-seeded.json"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Clock:
    """The seeding clock: ``STATE_HISTORY_DAYS`` ago at first, moved by :meth:`at`."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC) - timedelta(days=STATE_HISTORY_DAYS)

    def __call__(self) -> datetime:
        return self.current

    def at(self, moment: datetime) -> None:
        self.current = moment


def seed(home: Path, n: int) -> dict[str, Any]:
    """The store under ``home``, through the Repository API; returns what was seeded."""
    from toolkit.store import open_store

    clock = Clock()
    begun = time.perf_counter()
    repository = open_store(None, home, None, now=clock)
    try:
        apps = [
            repository.add_application(
                name,
                environment="sod",
                client_id=f"bench-client-{i}",
                client_secret=f"bench-secret-{i}",
                redirect_uri="https://partner.example/callback",
                actor="bench",
            )
            for i, name in enumerate(APPS)
        ]
        origin = clock.current
        now = origin + timedelta(days=STATE_HISTORY_DAYS)
        installed = [origin + timedelta(days=INSTALL_DAYS) * i / n for i in range(n)]
        for i in range(n):
            app = apps[i % len(apps)]
            ctx = f"Cust{1_000_000 + i}"
            clock.at(installed[i])
            record, _ = repository.put_authorization(
                app.id,
                ctx,
                token_issued_at=clock(),
                system_user_token=f"Bench-{i:08d}",
                approved_by=f"admin{i}@cust{i}.example",
                approved_by_associate_id=5,
                company_name=f"Customer {i} AS",
                serial=str(10_000_000 + i),
                webapi_url=f"https://sod{2 + i % 2}.superoffice.com/{ctx}/api/",
                claims={"http://schemes.superoffice.net/identity/ctx": ctx},
            )
            if i % 2 == 0:
                repository.put_ticket(
                    record.id,
                    ticket=f"7T:bench{i:08d}",
                    obtained_at=clock(),
                    expires_at=clock() + timedelta(hours=6),
                )
            if i % 50 == 49:
                repository.set_authorization_status(app.id, ctx, "needs_reconsent")
        log(f"seeded {n} authorizations")
        changes = state_changes(n, installed, now)
        for moment, i, state in changes:
            clock.at(moment)
            ctx = f"Cust{1_000_000 + i}"
            repository.put_tenant_state(
                apps[i % len(apps)].id,
                ctx,
                state=state,
                endpoint=f"https://sod{2 + i % 2}.superoffice.com/{ctx}",
                api=f"https://sod{2 + i % 2}.superoffice.com/{ctx}/api",
                actor=STATE_CHECKER,
            )
        log(f"seeded {len(changes)} recorded state changes over {STATE_HISTORY_DAYS} days")
        events = n * AUDIT_PER_TENANT - len(changes)
        start = now - timedelta(days=HISTORY_DAYS)
        step = timedelta(days=HISTORY_DAYS) / max(1, events)
        actions = ("tenant.state_change_unconfirmed", "ticket.renewed", "authorization.updated")
        for i in range(events):
            clock.at(start + step * i)
            ctx = f"Cust{1_000_000 + i % n}"
            repository.record_audit(
                ("ticket-manager", "webhook", "cli:ops", OPERATOR)[i % 4],
                actions[i % len(actions)],
                application=APPS[i % n % len(APPS)],
                context_identifier=ctx,
                summary={"state": "Running", "endpoint": f"https://sod2.superoffice.com/{ctx}"},
            )
        log(f"seeded {events} other audit events over {HISTORY_DAYS} days")
        runs = max(1, n // TENANTS_PER_RUN)
        for i in range(runs):
            clock.at(start + timedelta(days=HISTORY_DAYS) * i / runs)
            app = apps[i % len(apps)]
            run = repository.start_provisioning_run(
                app.id,
                f"Cust{1_000_000 + (i * TENANTS_PER_RUN) % n}",
                operation="apply",
                actor="cli:ops",
                plan={"steps": 3},
                fingerprint=None,
                steps_total=3,
            )
            repository.finish_provisioning_run(run.id, "failed" if i % 10 == 0 else "succeeded")
        log(f"seeded {runs} provisioning runs")
    finally:
        repository.close()
    return {
        "applications": len(APPS),
        "authorizations": n,
        "tenant_states": n,
        "audit_events": n * AUDIT_PER_TENANT,
        "state_changes": len(changes),
        "provisioning_runs": max(1, n // TENANTS_PER_RUN),
        "seed_seconds": round(time.perf_counter() - begun, 1),
    }


def state_changes(
    n: int, installed: list[datetime], now: datetime
) -> list[tuple[datetime, int, str]]:
    """The fleet's state changes in time order: (when, tenant number, new state)."""
    chance = random.Random(n)  # noqa: S311 (the same history for the same N, no secret)
    changes = [(installed[i], i, "Running") for i in range(n)]

    def between(first: datetime, room: timedelta) -> datetime:
        return first + (now - room - first) * chance.random()

    for i in range(n):
        settled = installed[i]  # the end of the tenant's last change so far
        if i % MAINTENANCE_EVERY == 1:
            begins = between(settled, timedelta(hours=MAINTENANCE_HOURS + 2))
            settled = begins + timedelta(hours=MAINTENANCE_HOURS)
            changes += [(begins, i, "OfflineMaintenance"), (settled, i, "Running")]
        if i % SUSPENDED_EVERY == 0:
            changes.append((between(settled, timedelta(hours=1)), i, "Suspended"))
        elif i % REINSTATED_EVERY == REINSTATED_EVERY // 2:
            suspended = between(settled, timedelta(days=REINSTATED_DAYS + 1))
            lifted = suspended + timedelta(days=REINSTATED_DAYS)
            changes += [(suspended, i, "Suspended"), (lifted, i, "Running")]
    return sorted(changes)


class StatementCounter:
    """SQL statements sent by any engine of this process (SQLAlchemy's cursor event)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self)


@contextmanager
def environment(home: Path) -> Iterator[None]:
    """The dashboard's settings: this home, no other SOTK_* variable, no .env; sign-in on."""
    saved = dict(os.environ)
    cwd = Path.cwd()
    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        del os.environ[name]
    os.environ.update(
        SOTK_HOME=str(home),
        SOTK_PUBLIC_URL="http://127.0.0.1:8000",
        SOTK_OPERATORS=f"{OPERATOR}:operator",
        SOTK_OPERATOR_ISSUER=ISSUER,
    )
    os.chdir(home.parent)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


def pages() -> list[str]:
    """Every page of dashboard/views/, as AppTest names them (relative to app.py)."""
    return [f"views/{path.name}" for path in sorted(VIEWS.glob("*.py"))]


def _app_test() -> Any:
    import data  # dashboard/data/: on sys.path after serve.preload()
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.secrets["auth"] = AUTH
    at.session_state[data.USER_OVERRIDE] = {"iss": ISSUER, "sub": OPERATOR, "aud": "x"}
    return at


def _timed(run: Callable[[], Any], counter: StatementCounter) -> tuple[float, int]:
    statements = counter.count
    begun = time.perf_counter()
    at = run()
    seconds = time.perf_counter() - begun
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception[0].message}")
    return round(seconds, 3), counter.count - statements


def measure_pages(repeat: int) -> dict[str, dict[str, Any]]:
    """Each page's first (no read model cached) and second run: seconds and SQL statements."""
    import streamlit as st

    sys.path.insert(0, str(DASHBOARD))
    import serve  # dashboard/serve.py

    serve.preload()  # what the server process does before any session
    at = _app_test()
    at.run()  # a warm-up: the app's own modules, the store opened once (st.cache_resource)
    if at.exception:
        raise RuntimeError(f"the dashboard failed: {at.exception[0].message}")
    results: dict[str, dict[str, Any]] = {}
    with StatementCounter() as counter:
        for page in pages():
            firsts, seconds, first_statements, second_statements = [], [], [], []
            name = page.removeprefix("views/").removesuffix(".py")
            try:
                for _ in range(repeat):
                    st.cache_data.clear()  # no read model cached: the page reads the store
                    took, sent = _timed(lambda a=at, p=page: a.switch_page(p).run(), counter)
                    firsts.append(took)
                    first_statements.append(sent)
                    took, sent = _timed(at.run, counter)
                    seconds.append(took)
                    second_statements.append(sent)
            except Exception as exc:  # reported for this page; the other pages still run
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                log(f"{name}: {results[name]['error']}")
                at = _app_test()
                at.run()
                continue
            results[name] = {
                "first_seconds": round(statistics.median(firsts), 3),
                "first_seconds_runs": firsts,
                "second_seconds": round(statistics.median(seconds), 3),
                "second_seconds_runs": seconds,
                "statements_first": max(first_statements),
                "statements_first_runs": first_statements,
                "statements_second": max(second_statements),
                "statements_second_runs": second_statements,
                "load_average_1m": load_average_1m(),
            }
            log(f"{name}: {results[name]}")
    return results


def measure_state_history(home: Path) -> dict[str, Any]:
    """The store's read behind "States over time": seconds, SQL statements, the rows the
    database answered (a row per day and state moved) and the chart's rows (days x states)."""
    from toolkit.store import open_store
    from toolkit.store.areas.state_history import state_history_query

    repository = open_store(None, home, None)
    try:
        today = datetime.now(UTC).date()
        first = today - timedelta(days=HISTORY_DAYS - 1)
        with StatementCounter() as counter:
            begun = time.perf_counter()
            counts = repository.tenant_states_by_day(first, today)
            seconds = time.perf_counter() - begun
        with repository.engine.connect() as connection:
            answered = connection.execute(
                state_history_query(connection.dialect.name, first, today)
            ).all()
        return {
            "seconds": round(seconds, 3),
            "statements": counter.count,
            "rows_answered": len(answered),
            "chart_rows": len(counts),
            "days": len({count.day for count in counts}),
            "load_average_1m": load_average_1m(),
        }
    finally:
        repository.close()


def measure_export(home: Path) -> dict[str, float]:
    """The Activity export (what data.activity_csv builds on request): last 7 days, all."""
    from toolkit.audit import audit_csv
    from toolkit.store import open_store

    repository = open_store(None, home, None)
    try:
        timings: dict[str, float] = {}
        for label, since in (
            ("last_7_days", datetime.now(UTC) - timedelta(days=7)),
            ("all", None),
        ):
            begun = time.perf_counter()
            events = repository.list_audit(since=since, limit=1_000_000)
            audit_csv(events)
            timings[label] = round(time.perf_counter() - begun, 3)
            timings[f"{label}_events"] = len(events)
    finally:
        repository.close()
    return timings


def seeded_once(home: Path, n: int) -> dict[str, Any]:
    """``home`` seeded for N tenants: by :func:`seed` the first time, reused afterwards (what
    was seeded is kept beside the store; its history ends when it was seeded)."""
    kept = home / SEEDED_FILE
    if kept.exists():
        seeded: dict[str, Any] = json.loads(kept.read_text())
        if seeded.get("authorizations") != n:
            raise SystemExit(f"{home} was seeded for {seeded.get('authorizations')} tenants")
        log(f"reusing the store seeded at {home}")
        return {**seeded, "reused": True}
    seeded = seed(home, n)
    kept.write_text(json.dumps(seeded))
    return seeded


def run(n: int, repeat: int, home: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sotk-bench-dashboard-") as folder:
        home = home or Path(folder) / "home"
        seeded = seeded_once(home, n)
        with environment(home):
            measured = measure_pages(repeat)
        state_history = measure_state_history(home)
        export = measure_export(home)
    timed = [p for p in measured.values() if "error" not in p]
    slowest = max((max(p["first_seconds"], p["second_seconds"]) for p in timed), default=0.0)
    return {
        "case": "dashboard",
        "n": n,
        "repeats": repeat,
        "seeded": seeded,
        "pages": measured,
        "state_history": state_history,
        "export_seconds": export,
        "wall_seconds": round(sum(p["first_seconds"] for p in timed), 3),
        **load_fields(),
        "targets": {
            "every_page_under_seconds": TARGET_SECONDS,
            "slowest_page_seconds": slowest,
            "met": len(timed) == len(measured) and slowest < TARGET_SECONDS,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--home",
        type=Path,
        help="seed this toolkit home once and reuse it on later runs (default: a fresh one)",
    )
    args = parser.parse_args(argv)
    if args.n < 2 or args.repeat < 1:
        parser.error("--n must be at least 2 and --repeat at least 1")
    print(json.dumps(run(args.n, args.repeat, args.home)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
