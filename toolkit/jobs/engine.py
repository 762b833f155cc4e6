"""The durable engine (DBOS Transact) set up from the toolkit's settings, one per process.

DBOS keeps workflows, their steps' results and the queues in a *system database*: here the
toolkit's own database (the same SQLite file by default; on PostgreSQL its own schema,
:data:`JOBS_SCHEMA`), created and migrated by DBOS when an engine starts. Nothing else to
install or run.

DBOS is a process-wide singleton: :func:`start_engine` launches it (destroying one this module
launched before), :meth:`JobEngine.close` destroys it, and :func:`running_engine` is the one
running now. A process that only enqueues or reads jobs (the CLI with ``--detach``,
``sotk jobs``, the dashboard) needs no engine: :class:`~toolkit.jobs.client.Jobs` talks to the
system database directly.

Workflows reach the toolkit's services (store, tenant access, provisioning) through the engine
that runs them (:func:`services`), since the engine calls them by name with pickled arguments.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

from toolkit.errors import ConfigurationError, JobError
from toolkit.jobs.queues import NOTIFICATIONS_QUEUE, QueueLimits, register_queues
from toolkit.jobs.takeover import DEFAULT_TAKEOVER_SECONDS, Takeover
from toolkit.store.database import BUSY_TIMEOUT_MS, writer_turn

if TYPE_CHECKING:
    from toolkit.jobs.client import Jobs
    from toolkit.provisioning.service import Provisioning
    from toolkit.store import Repository
    from toolkit.tenant import TenantAccess

__all__ = [
    "APPLICATION_VERSION",
    "ENGINE_NAME",
    "JOBS_SCHEMA",
    "JobEngine",
    "JobServices",
    "client_engine",
    "default_executor_id",
    "engine_config",
    "jobs_schema",
    "required_engine",
    "running_engine",
    "services",
    "start_engine",
    "system_database_url",
]

logger = logging.getLogger("toolkit.jobs")

ENGINE_NAME: Final = "sotk"
# Every process (workers, CLI, partner endpoints, dashboard) must agree on it: DBOS hands a
# queued workflow only to executors of the version it was enqueued with. Bump it when a
# workflow's steps change shape, so old workers do not resume new workflows (and let the
# workers drain the queues before an upgrade: workflows queued under the old version wait for
# an old worker). 3: a fleet job enqueues its tenants in one step, as sotk.fleet_tenant (issue
# 14); a version-2 job resumed by this code would find child workflows where that step is.
# Not bumped when the tenant workflow lost its one step: that step was its only operation, so
# either version resumed the other's tenant workflows safely.
APPLICATION_VERSION: Final = "sotk-jobs-3"
# The engine's tables on PostgreSQL (SQLite has no schemas: they sit beside the store's).
JOBS_SCHEMA: Final = "dbos"
# How often DBOS's notification listener wakes on SQLite (PostgreSQL is notified instead). The
# toolkit waits on no DBOS event or message, so a wake-up reads nothing, but closing an engine
# waits for the listener's sleep to end: a second by default, a tenth of a second here (issue
# 14: an in-process fleet apply starts and closes an engine of its own).
LISTENER_POLL_SECONDS: Final = 0.1
# DBOS's own log lines are for its developers; the toolkit reports what matters itself.
ENGINE_LOG_LEVEL: Final = "WARNING"


class JobServices(Protocol):
    """What workflows use; a :class:`~toolkit.workspace.Workspace` is one."""

    @property
    def repository(self) -> Repository: ...

    @property
    def tenants(self) -> TenantAccess: ...

    @property
    def provisioning(self) -> Provisioning: ...


@dataclass(frozen=True)
class ServiceSet:
    """:class:`JobServices` from the provisioning service alone (fleet calls without a
    workspace, e.g. a notebook's ``apply_fleet(ws.provisioning, ...)``)."""

    provisioning: Provisioning

    @property
    def repository(self) -> Repository:
        return self.provisioning.repository

    @property
    def tenants(self) -> TenantAccess:
        return self.provisioning.tenants


def system_database_url(repository: Repository) -> str:
    """The store's own database URL (password included: DBOS connects with it)."""
    url = repository.engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database.startswith("file:"):
            raise ConfigurationError("the job engine needs a writable store (not ?mode=ro)")
        return f"sqlite:///{database}"
    # DBOS speaks psycopg 3 and takes the plain scheme.
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def jobs_schema(database_url: str) -> str | None:
    """The engine's schema: None on SQLite; on PostgreSQL :data:`JOBS_SCHEMA`, or
    ``{schema}_jobs`` when the store lives in its own schema (``options=-csearch_path=...``),
    so that stores sharing one database never share queues."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return None
    options = url.query.get("options", "")
    text = " ".join(options) if isinstance(options, tuple) else options
    match = re.search(r"-c\s*search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)", text)
    return f"{match.group(1)}_jobs" if match else JOBS_SCHEMA


def default_executor_id() -> str:
    """``SOTK_WORKER_ID``-less default: this host and process, unique among live workers."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}"


# The statements before which pysqlite opens a transaction (with ``isolation_level`` set, as
# DBOS sets it: ``BEGIN IMMEDIATE``); a SELECT runs outside one.
_OPENS_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class SystemDatabaseConnection(sqlite3.Connection):
    """The engine's SQLite connections commit like the store's (``synchronous = NORMAL``) and
    take the store's writer turn.

    DBOS leaves SQLite's default, ``FULL``: every commit waits for an fsync of the WAL (about
    4 ms on the benchmark machine's disk, holding the database's one write lock meanwhile, so
    the store's writers queue behind each step's checkpoint). In WAL mode ``NORMAL`` loses no
    committed transaction when a process dies (a killed worker: the WAL is written before the
    commit returns, only its fsync waits for the next checkpoint); an operating system crash or
    a power cut may roll back the last commits, to a consistent state. The store, in the same
    file, already commits so (:mod:`toolkit.store.database`), so the engine's checkpoints
    become no weaker than the records they describe; a checkpoint lost that way is a step run
    again, which steps allow for (an apply reads every object back by natural key first).

    A statement that opens a write transaction first waits for the turn the store's writers of
    the file take in this process (:func:`~toolkit.store.database.writer_turn`), until its
    commit or rollback: the engine's checkpoints and the store's records then follow each
    other without SQLite's sleeping busy wait (issue 14).
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._turn = writer_turn(database)
        self._has_turn = False
        # What DBOS's own engine sets on connect, so that the job client's engine
        # (client_engine), which DBOS does not set up, writes the same way.
        self.isolation_level = "IMMEDIATE"
        self.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.execute("PRAGMA foreign_keys = ON")
        self.execute("PRAGMA synchronous = NORMAL")

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _SystemDatabaseCursor)

    def take_turn_for(self, statement: str) -> None:
        if not self._has_turn and not self.in_transaction and _OPENS_WRITE.match(statement):
            # Past the busy timeout SQLite's own wait decides, as without the turn.
            self._has_turn = self._turn.acquire(timeout=BUSY_TIMEOUT_MS / 1000)

    def end_turn(self) -> None:
        """Give the turn back once no transaction is open (a statement that failed inside one
        keeps it until the rollback)."""
        if self._has_turn and not self.in_transaction:
            self._has_turn = False
            self._turn.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()


class _SystemDatabaseCursor(sqlite3.Cursor):
    connection: SystemDatabaseConnection

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        self.connection.take_turn_for(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection.end_turn()  # a statement outside a transaction (autocommit) is done

    def executemany(self, sql: str, parameters: Any, /) -> Self:
        self.connection.take_turn_for(sql)
        try:
            return super().executemany(sql, parameters)
        finally:
            self.connection.end_turn()


def engine_config(database_url: str, *, executor_id: str) -> dict[str, Any]:
    """The DBOS configuration (a ``DBOSConfig``) for the toolkit's database."""
    config: dict[str, Any] = {
        "name": ENGINE_NAME,
        "system_database_url": database_url,
        "application_version": APPLICATION_VERSION,
        "executor_id": executor_id,
        "log_level": ENGINE_LOG_LEVEL,
    }
    schema = jobs_schema(database_url)
    if schema is not None:
        config["dbos_system_schema"] = schema
    else:
        # SQLite: a file cannot drop a connection, so no ping before every checkout.
        config["db_engine_kwargs"] = {
            "pool_pre_ping": False,
            "connect_args": {"factory": SystemDatabaseConnection},
        }
        config["notification_listener_polling_interval_sec"] = LISTENER_POLL_SECONDS
    return config


def client_engine(database_url: str) -> Engine:
    """The SQLAlchemy engine a job client (:class:`~toolkit.jobs.client.Jobs`) reaches the
    system database with, DBOS's client taking it as it is: on SQLite its connections are the
    engine's own kind (:class:`SystemDatabaseConnection`), so a client's writes (a fleet job
    enqueueing its tenants, a batch at a time) take the store's writer turn too; on PostgreSQL
    psycopg 3, as DBOS connects, each connection checked before it is used."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return create_engine(
            url, connect_args={"factory": SystemDatabaseConnection}, pool_pre_ping=False
        )
    return create_engine(
        url.set(drivername="postgresql+psycopg"),
        pool_pre_ping=True,
        connect_args={"application_name": f"{ENGINE_NAME}-jobs-client"},
    )


class JobEngine:
    """A launched DBOS in this process, running workflows with ``services``.

    ``listen``: False works no job queues (the process enqueues and reads jobs only); it still
    processes state-change notifications (:data:`~toolkit.jobs.queues.NOTIFICATIONS_QUEUE`)."""

    def __init__(
        self,
        services: JobServices,
        *,
        executor_id: str,
        limits: QueueLimits,
        database_url: str,
        listen: bool,
    ) -> None:
        self.services = services
        self.executor_id = executor_id
        self.limits = limits
        self.database_url = database_url
        self.listen = listen
        self._closed = False
        self.takeover: Takeover | None = None
        self._jobs: Jobs | None = None
        self._jobs_lock = threading.Lock()  # not _lock: close() holds that while DBOS stops

    @property
    def jobs(self) -> Jobs:
        """The jobs client workflows enqueue through (a fleet job's tenants), opened once."""
        with self._jobs_lock:
            if self._closed:
                raise JobError("the job engine is closed")
            if self._jobs is None:
                from toolkit.jobs.client import Jobs

                self._jobs = Jobs(self.services.repository)
            return self._jobs

    def __repr__(self) -> str:
        return f"JobEngine(executor_id={self.executor_id!r}, listen={self.listen})"

    def close(self) -> None:
        """Destroy the engine: running workflows stop where they are (a worker restarted under
        the same executor id, or another after the takeover timeout, finishes them)."""
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _slot.engine is self:
                _slot.engine = None
            if self.takeover is not None:
                self.takeover.stop()
            from dbos import DBOS

            _off_event_loop(DBOS.destroy)
            with self._jobs_lock:  # after the workflows that enqueue through it stopped
                if self._jobs is not None:
                    self._jobs.close()

    def __enter__(self) -> JobEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Slot:
    # The engine launched in this process (DBOS allows one).
    engine: JobEngine | None = None


_lock = threading.RLock()
_slot = _Slot()


def running_engine() -> JobEngine | None:
    """The engine launched in this process, if any."""
    return _slot.engine


def required_engine() -> JobEngine:
    """The engine running this process's workflows (:class:`JobError` without one)."""
    engine = _slot.engine
    if engine is None:
        raise JobError("no job engine is running in this process")
    return engine


def services() -> JobServices:
    """The services of the engine running this process's workflows."""
    return required_engine().services


def start_engine(
    services: JobServices,
    *,
    executor_id: str | None = None,
    limits: QueueLimits | None = None,
    listen: bool = True,
    takeover_seconds: float | None = None,
    upkeep: tuple[str, str, str] | None = None,
    queues: tuple[str, ...] | None = None,
) -> JobEngine:
    """Launch DBOS on the store's database, register the queues, recover this executor's
    unfinished workflows (DBOS does that at launch) and start consuming the queues.

    Replaces an engine launched before in this process (DBOS is a singleton).
    ``takeover_seconds``: also resume other executors' workflows silent this long
    (:mod:`toolkit.jobs.takeover`; None: only this executor's own, as DBOS does). A listening
    engine always keeps its own running workflows alive for the others' takeover.
    ``upkeep``: the (state refresh, ticket renewal, drift check) cron schedules to apply
    (:mod:`toolkit.jobs.upkeep`; "" turns one off; None leaves the stored schedules as they are).
    ``queues``: a listening engine works only these queues (None: every queue); each queue
    worked is polled (:mod:`toolkit.jobs.queues`), so an engine started for one job works that
    job's queues only.
    """
    from dbos import DBOS

    # Workflows must be registered before launch so recovery finds them.
    from toolkit.jobs import notifications, workflows
    from toolkit.jobs import upkeep as scheduled

    del notifications, workflows
    url = system_database_url(services.repository)
    chosen = executor_id or default_executor_id()
    with _lock:
        if _slot.engine is not None:
            _slot.engine.close()
        DBOS.destroy()  # one launched outside this module would share our registry
        _route_engine_logs()
        DBOS(config=engine_config(url, executor_id=chosen))  # type: ignore[arg-type]
        engine = JobEngine(
            services,
            executor_id=chosen,
            limits=limits or QueueLimits(),
            database_url=url,
            listen=listen,
        )
        _slot.engine = engine

        def launch() -> None:
            if not listen:
                DBOS.listen_queues([NOTIFICATIONS_QUEUE])
            elif queues is not None:
                DBOS.listen_queues(list(queues))
            DBOS.launch()
            register_queues(engine.limits)
            if upkeep is not None:
                scheduled.apply_upkeep_schedules(*upkeep)

        try:
            _off_event_loop(launch)
            if listen:
                # Every worker keeps its running workflows alive; one with a timeout also
                # takes over those of silent workers (toolkit.jobs.takeover).
                engine.takeover = Takeover(
                    services.repository.engine,
                    jobs_schema(url),
                    chosen,
                    takeover_seconds or DEFAULT_TAKEOVER_SECONDS,
                    take_over=bool(takeover_seconds),
                ).start()
        except BaseException:
            _slot.engine = None
            DBOS.destroy()
            raise
    logger.info("job engine started (executor %s, listen=%s)", chosen, listen)
    return engine


def _off_event_loop(call: Callable[[], None]) -> None:
    """Run ``call`` here, or in a thread of its own when this thread runs an event loop (a
    notebook's kernel): DBOS refuses its blocking setup calls inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        call()
        return
    failed: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="sotk-engine-launch")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def _route_engine_logs() -> None:
    """DBOS's logger goes through the application's logging like the toolkit's own: DBOS adds
    its own console handler (bound to the stderr of the moment) only to a logger without one."""
    engine_log = logging.getLogger("dbos")
    if not engine_log.handlers:
        engine_log.addHandler(logging.NullHandler())
    engine_log.propagate = True


def new_job_id(kind: str) -> str:
    """A job's workflow id: the kind, then random hex (ids are shown to operators)."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"
