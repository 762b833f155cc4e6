"""The benchmark world: an emulator, a workspace and N tenants installed through the real flow.

Setup, never measured: one *standard* application registered at the emulator with the
SystemToken claim granted; tenants ``Cust{1000000 + i}`` with one administrator each added
through the control plane; each one installed as an administrator would do it (the toolkit's
``installations.begin``, the emulator's SuperID pages driven by ``toolkit.emulator.driver``,
approve, ``installations.complete`` with the callback's parameters). The install phase runs
without latency and on a thread pool, so that setting up 1000 tenants takes a minute, not an
hour; the latency rule is set afterwards (:meth:`BenchWorld.set_latency`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url

from benchmarks.counting import CountingTransport, RequestCounter
from benchmarks.emulator_process import EmulatorHandle
from toolkit.auth.tickets import TicketManager
from toolkit.config import Environment, Settings
from toolkit.emulator.driver import sign_in
from toolkit.http import create_client
from toolkit.store import Application
from toolkit.tenant import TenantAccess
from toolkit.workspace import Workspace

APP_NAME = "Bench Sync"
PUBLIC_URL = "http://127.0.0.1:8000"
REDIRECT_URI = f"{PUBLIC_URL}/callback"
ADMIN_PASSWORD = "superid-demo"
FIRST_CUSTOMER = 1_000_000
# Setup parallelism: the emulator's SuperID pages and the store's writes are the bottleneck,
# more threads only queue.
SETUP_THREADS = 8
# The toolkit client's pool: at least the fleet's concurrency, all of it kept alive.
MAX_CONNECTIONS = 64

T = TypeVar("T")


def admin_sql(server: str, sql: str) -> None:
    """Run ``sql`` (our own identifiers only) on the PostgreSQL server ``server``, autocommit."""
    import psycopg

    plain = server.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]  # our own identifier, not input


@dataclass(frozen=True)
class BenchSchema:
    """A fresh schema on a PostgreSQL server, and a URL whose search path is that schema."""

    server: str
    name: str
    url: str

    @classmethod
    def create(cls, server: str) -> BenchSchema:
        name = f"sotk_bench_{uuid.uuid4().hex[:8]}"
        admin_sql(server, f'CREATE SCHEMA "{name}"')
        scoped = make_url(server).update_query_dict({"options": f"-csearch_path={name}"})
        return cls(server, name, scoped.render_as_string(hide_password=False))

    def drop(self) -> None:
        admin_sql(self.server, f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        # The job engine's schema beside it (toolkit.jobs.engine.jobs_schema).
        admin_sql(self.server, f'DROP SCHEMA IF EXISTS "{self.name}_jobs" CASCADE')


def ctx_of(index: int) -> str:
    return f"Cust{FIRST_CUSTOMER + index}"


def admin_of(ctx: str) -> str:
    return f"admin@{ctx.lower()}.test"


def parallel(items: Iterable[Any], fn: Callable[[Any], T], threads: int = SETUP_THREADS) -> list[T]:
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-setup") as pool:
        return list(pool.map(fn, items))


class BenchWorld:
    """Everything a case needs; build it with :meth:`create`, close it when done."""

    def __init__(
        self,
        emulator: EmulatorHandle,
        n: int,
        *,
        concurrency: int,
        database_url: str | None = None,
    ) -> None:
        self.emulator = emulator
        self.n = n
        self.concurrency = concurrency
        self.home = Path(tempfile.mkdtemp(prefix="sotk-bench-"))
        # A PostgreSQL server: the store (and the job engine, which shares its database) in a
        # schema of this run's own, dropped at the end; None: the embedded SQLite file.
        self.database = BenchSchema.create(database_url) if database_url else None
        self.counter = RequestCounter()
        self.id_tokens: list[str] = []
        self._tokens_lock = threading.Lock()
        transport = CountingTransport(
            httpx.HTTPTransport(
                limits=httpx.Limits(
                    max_connections=max(MAX_CONNECTIONS, concurrency),
                    max_keepalive_connections=max(MAX_CONNECTIONS, concurrency),
                )
            ),
            self.counter,
            on_token_response=self._keep_id_token,
        )
        self.http = create_client(transport=transport)
        settings = Settings(
            home=self.home,
            public_url=PUBLIC_URL,
            database_url=self.database.url if self.database else None,
            _env_file=None,
        )
        self.settings = settings
        self.workspace = Workspace.open(settings, http=self.http)
        self.repository = self.workspace.repository
        self.environment = Environment.emulator(emulator.base_url)
        self.application: Application | None = None
        self.access: TenantAccess = self.workspace.tenants

    # -- setup ---------------------------------------------------------------------------------

    def _keep_id_token(self, body: bytes) -> None:
        try:
            token = json.loads(body).get("id_token")
        except ValueError:
            return
        if isinstance(token, str):
            with self._tokens_lock:
                self.id_tokens.append(token)

    def install(self) -> None:
        """Register the application, add the tenants and their admins, install everywhere."""
        ws = self.workspace
        self.application = ws.applications.register_with_emulator(
            name=APP_NAME,
            emulator_url=self.emulator.base_url,
            redirect_uri=REDIRECT_URI,
            model="hybrid",
            actor="bench",
        )
        hosts = sorted(self.emulator.host_urls)
        contexts = [ctx_of(i) for i in range(self.n)]

        def add(index: int) -> None:
            ctx = ctx_of(index)
            self.emulator.post(
                "/tenants",
                {
                    "ctx": ctx,
                    "company_name": f"Bench Customer {index}",
                    "serial": str(3_000_000_000 + index),
                    "host": hosts[index % len(hosts)],
                },
            )
            self.emulator.post(
                "/users",
                {
                    "username": admin_of(ctx),
                    "password": ADMIN_PASSWORD,
                    "memberships": [
                        {"ctx": ctx, "is_administrator": True, "associate_id": 5, "initials": "BA"}
                    ],
                },
            )

        parallel(range(self.n), add)

        def approve(ctx: str) -> None:
            url = ws.installations.begin(APP_NAME, tenant=ctx)
            answer = sign_in(url, username=admin_of(ctx), password=ADMIN_PASSWORD, tenant=ctx)
            ws.installations.complete(answer.params, actor="bench")

        parallel(contexts, approve)

    def set_latency(self, latency_ms: float, jitter_ms: float, seed: int) -> None:
        self.emulator.set_latency(latency_ms, jitter_ms, seed)

    # -- what the cases use --------------------------------------------------------------------

    @property
    def targets(self) -> list[tuple[Application, str]]:
        app = self.repository.get_application(APP_NAME)
        records = self.repository.list_authorizations(APP_NAME, status="active")
        return [(app, record.context_identifier) for record in records]

    def new_access(self, ticket_manager: TicketManager | None = None) -> TenantAccess:
        """A fresh TenantAccess: no ticket in memory, no JWKS, no state cached (a cold start)."""
        self.access = TenantAccess(self.repository, self.http, ticket_manager=ticket_manager)
        return self.access

    def forget_tickets(self) -> None:
        """Delete every stored ticket (memory goes with :meth:`new_access`)."""
        for record in self.repository.list_authorizations(APP_NAME):
            self.repository.delete_ticket(record.id)

    def close(self) -> None:
        try:
            self.workspace.close()
            self.http.close()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
            if self.database is not None:
                self.database.drop()
