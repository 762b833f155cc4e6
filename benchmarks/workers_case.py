"""Fleet apply through the job engine with 1 and with K ``sotk worker`` processes on PostgreSQL
(issue 13): ``python -m benchmarks.workers_case --n 500 --workers 1 3``.

Setup, not measured: a database of its own on the PostgreSQL server (``--server-url``, created
and dropped here, so the tests' database is not touched), the emulator in a subprocess, N
tenants installed through the real flow without latency, the benchmark manifest (case 3's)
stored. Then for each worker count: the fleet is uninstalled without the engine (not
measured), K ``sotk worker`` processes start and say they run, the latency rule is set, and the
apply is enqueued as one fleet job (``Jobs.submit_fleet``) and timed until it has finished;
the workers are stopped after. Prints one JSON object per worker count: wall time, tenants per
second, the workers' CPU time (``/proc``), the 1-minute load seen and the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.cases import manifest_text
from benchmarks.emulator_process import start_emulator
from benchmarks.load import load_average_1m, load_fields
from benchmarks.world import admin_sql

APP = "Workers Bench"
PUBLIC_URL = "http://127.0.0.1:8000"
PASSWORD = "superid-demo"
SOTK = Path(sys.executable).parent / "sotk"
SETUP_THREADS = 8
READY_SECONDS = 120.0
APPLY_SECONDS = 3_600.0


def ctx_of(index: int) -> str:
    return f"Cust{4_000_000 + index}"


def _install(ws: Any, emulator: Any, n: int) -> None:
    from toolkit.emulator.driver import sign_in

    ws.applications.register_with_emulator(
        name=APP,
        emulator_url=emulator.base_url,
        redirect_uri=f"{PUBLIC_URL}/callback",
        model="hybrid",
        actor="bench",
    )
    hosts = sorted(emulator.host_urls)

    def add(index: int) -> None:
        ctx = ctx_of(index)
        admin = f"admin@{ctx.lower()}.test"
        emulator.post(
            "/tenants",
            {
                "ctx": ctx,
                "company_name": f"Workers {index}",
                "serial": str(3_200_000_000 + index),
                "host": hosts[index % len(hosts)],
            },
        )
        emulator.post(
            "/users",
            {
                "username": admin,
                "password": PASSWORD,
                "memberships": [
                    {"ctx": ctx, "is_administrator": True, "associate_id": 5, "initials": "WB"}
                ],
            },
        )
        answer = sign_in(
            ws.installations.begin(APP, tenant=ctx), username=admin, password=PASSWORD, tenant=ctx
        )
        ws.installations.complete(answer.params, actor="bench")

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(add, range(n)))
    ws.provisioning.set_manifest(APP, manifest_text(), actor="bench")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_workers(env: dict[str, str], count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    for number in range(count):
        out = logs / f"worker-{count}-{number}.log"
        with out.open("wb") as log:
            workers.append(
                subprocess.Popen(  # noqa: S603 - our interpreter's sotk, our arguments
                    [str(SOTK), "worker", "--executor-id", f"bench-{count}-{number}"],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
    deadline = time.monotonic() + READY_SECONDS
    for number in range(count):  # each says "worker ... running" once its engine listens
        out = logs / f"worker-{count}-{number}.log"
        while "running" not in out.read_text(errors="replace"):
            if time.monotonic() > deadline or workers[number].poll() is not None:
                raise RuntimeError(f"worker {number} did not start: {out.read_text()[-2000:]}")
            time.sleep(0.2)
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in workers:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from toolkit.config import Settings
    from toolkit.jobs.client import Jobs
    from toolkit.jobs.workflows import FleetJob
    from toolkit.provisioning.fleet import run_fleet
    from toolkit.store.crypto import generate_key_text
    from toolkit.workspace import Workspace

    name = f"sotk_bench_workers_{uuid.uuid4().hex[:8]}"
    server = args.server_url.replace("postgresql+psycopg://", "postgresql://")
    admin_sql(server, f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    database_url = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    keys = generate_key_text("bench")
    results = []
    emulator = start_emulator("subprocess")
    try:
        settings = Settings(  # type: ignore[call-arg]
            home=home,
            database_url=database_url,
            secret_keys=keys,
            public_url=PUBLIC_URL,
            emulator_url=emulator.base_url,
            _env_file=None,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOTK_")} | {
            "SOTK_HOME": str(home),
            "SOTK_DATABASE_URL": database_url,
            "SOTK_SECRET_KEYS": keys,
            "SOTK_PUBLIC_URL": PUBLIC_URL,
            "SOTK_EMULATOR_URL": emulator.base_url,
            "SOTK_JOBS_WORKER_CONCURRENCY": str(args.concurrency),
            "SOTK_UPKEEP_STATE_REFRESH": "",
            "SOTK_UPKEEP_TICKET_RENEWAL": "",
            "SOTK_UPKEEP_DRIFT_CHECK": "",
            "PYTHONUNBUFFERED": "1",
        }
        with Workspace.open(settings) as ws, Jobs(ws.repository) as jobs:
            started = time.monotonic()
            _install(ws, emulator, args.n)
            print(f"# installed {args.n} tenants in {time.monotonic() - started:.0f} s", flush=True)
            app = ws.repository.get_application(APP)
            targets = [
                (app, record.context_identifier)
                for record in ws.repository.list_authorizations(APP, status="active")
            ]
            for count in args.workers:
                emulator.set_latency(0, 0, args.seed)
                undone = run_fleet(
                    targets,
                    lambda a, ctx: ws.provisioning.uninstall(a.id, ctx, actor="bench"),
                    concurrency=16,
                )
                if undone.counts.get("succeeded") != len(targets):
                    raise RuntimeError(f"uninstall before the apply: {undone.counts}")
                workers = _start_workers(env, count, home)
                try:
                    emulator.set_latency(args.latency_ms, min(5.0, args.latency_ms / 10), args.seed)
                    cpu_before = sum(_cpu_seconds(p.pid) for p in workers)
                    load_start = load_average_1m()
                    began = time.monotonic()
                    job = FleetJob("apply", tuple((a.id, ctx) for a, ctx in targets), "bench")
                    job_id = jobs.submit_fleet(job)
                    while jobs.status(job_id) not in ("succeeded", "failed", "cancelled"):
                        if time.monotonic() - began > APPLY_SECONDS:
                            raise RuntimeError("the apply did not finish in time")
                        time.sleep(0.5)
                    wall = time.monotonic() - began
                    cpu = sum(_cpu_seconds(p.pid) for p in workers) - cpu_before
                    info = jobs.show(job_id)
                finally:
                    _stop(workers)
                result = {
                    "case": "engine_workers",
                    "n": len(targets),
                    "workers": count,
                    "worker_concurrency": args.concurrency,
                    "latency_ms": args.latency_ms,
                    "status": info.status,
                    "counts": info.counts,
                    "wall_seconds": round(wall, 2),
                    "tenants_per_second": round(len(targets) / wall, 2),
                    "workers_cpu_seconds": round(cpu, 2),
                    "workers_cpu_ms_per_tenant": round(1000 * cpu / len(targets), 1),
                    "store": "postgresql",
                } | load_fields(load_start, load_average_1m())
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        emulator.close()
        shutil.rmtree(home, ignore_errors=True)
        try:
            admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as error:  # report it; the results stand
            print(f"# could not drop {name}: {error}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers_case")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--concurrency", type=int, default=8, help="per worker (the toolkit's default: 8)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("SOTK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"),
        help="a PostgreSQL database to connect to while creating the benchmark's own",
    )
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
