"""``python -m benchmarks [case ...] [--n 100 500 1000] [--latency-ms 50] [--repeat 3]
[--json-out FILE]``.

Every fleet size runs in a fresh child process (``--single``), so that ``peak_rss_mb`` is that
size's own peak and nothing cached leaks from one size into the next. The child starts its
emulator (a subprocess by default, see :mod:`benchmarks.emulator_process`), installs N tenants
without latency, sets the latency rule, runs the cases in order and prints one JSON object per
case on stdout; progress goes to stderr. The parent relays the lines and, with ``--json-out``,
writes them to a JSON Lines file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.cases import BASELINE_SAMPLE, CASES, MIN_VALIDATIONS

# The dashboard at N tenants (benchmarks/dashboard.py): no emulator, a seeded store; run only
# when named (`python -m benchmarks dashboard --n 10000`).
DASHBOARD_CASE = "dashboard"

DEFAULT_SIZES = (100, 500, 1000)
DEFAULT_LATENCY_MS = 50.0
# Small, seeded jitter: a round trip is never exactly the same twice.
DEFAULT_JITTER_MS = 5.0
DEFAULT_SEED = 8
DEFAULT_REPEAT = 3
# Fleet workers: each waits on the network most of the time; 16 keeps both cores busy at 50 ms
# without queueing on SQLite's single writer (the toolkit's own default is 8).
DEFAULT_CONCURRENCY = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Scale benchmarks of superoffice-toolkit."
    )
    parser.add_argument(
        "cases",
        nargs="*",
        help=f"any of {', '.join(CASES)} (default: all of them), or {DASHBOARD_CASE}",
    )
    parser.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS)
    parser.add_argument("--jitter-ms", type=float, default=None, help="default: 10%% of latency")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--baseline-sample", type=int, default=BASELINE_SAMPLE)
    parser.add_argument(
        "--validations", type=int, default=MIN_VALIDATIONS, help="case 4: per timed round"
    )
    parser.add_argument("--emulator", choices=["subprocess", "thread"], default="subprocess")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server for the store and the job engine (a fresh schema per size, "
        "dropped afterwards); default: the embedded SQLite file",
    )
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    known = (*CASES, DASHBOARD_CASE)
    unknown = [c for c in args.cases if c not in known]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    args.dashboard = DASHBOARD_CASE in args.cases
    named = [c for c in args.cases if c != DASHBOARD_CASE]
    if named or not args.dashboard:
        args.cases = [c for c in CASES if c in named] if named else list(CASES)
    else:
        args.cases = []
    if args.jitter_ms is None:
        args.jitter_ms = min(DEFAULT_JITTER_MS, args.latency_ms / 10)
    if args.repeat < 1 or args.concurrency < 1 or any(n < 1 for n in args.n):
        parser.error("--n, --repeat and --concurrency must be at least 1")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_single(args: argparse.Namespace) -> int:
    """One fleet size in this process: emulator, install, latency, cases."""
    from benchmarks import cases as bench
    from benchmarks.emulator_process import start_emulator
    from benchmarks.world import BenchWorld

    (n,) = args.n
    failures = 0
    with start_emulator(args.emulator) as emulator:
        world = BenchWorld(
            emulator, n, concurrency=args.concurrency, database_url=args.database_url
        )
        try:
            begun = time.perf_counter()
            world.install()
            log(f"n={n}: installed in {time.perf_counter() - begun:.1f} s ({emulator.mode})")
            world.set_latency(args.latency_ms, args.jitter_ms, args.seed)
            for case in args.cases:
                options: dict[str, Any] = {"repeat": args.repeat, "latency_ms": args.latency_ms}
                if case == "cold_exchange":
                    options["baseline_sample"] = args.baseline_sample
                if case == "token_validation":
                    options["validations"] = args.validations
                begun = time.perf_counter()
                try:
                    result = getattr(bench, case)(world, **options)
                except Exception as exc:
                    failures += 1
                    traceback.print_exc(file=sys.stderr)
                    result = {"case": case, "n": n, "error": f"{type(exc).__name__}: {exc}"}
                result["jitter_ms"] = args.jitter_ms
                print(json.dumps(result), flush=True)
                log(f"n={n}: {case} took {time.perf_counter() - begun:.1f} s")
        finally:
            world.close()
    return 1 if failures else 0


def child_command(args: argparse.Namespace, n: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks",
        *args.cases,
        "--n",
        str(n),
        "--latency-ms",
        str(args.latency_ms),
        "--jitter-ms",
        str(args.jitter_ms),
        "--seed",
        str(args.seed),
        "--repeat",
        str(args.repeat),
        "--concurrency",
        str(args.concurrency),
        "--baseline-sample",
        str(args.baseline_sample),
        "--validations",
        str(args.validations),
        "--emulator",
        args.emulator,
        *(["--database-url", args.database_url] if args.database_url else []),
        "--single",
    ]


def dashboard_command(args: argparse.Namespace, n: int) -> list[str]:
    """One dashboard size in a fresh child (its own imports, caches and peak RSS)."""
    return [
        sys.executable,
        "-m",
        "benchmarks.dashboard",
        "--n",
        str(n),
        "--repeat",
        str(args.repeat),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.single:
        if len(args.n) != 1:
            raise SystemExit("--single runs one size")
        return run_single(args)
    lines: list[str] = []
    status = 0
    commands = [child_command(args, n) for n in args.n] if args.cases else []
    if args.dashboard:
        commands += [dashboard_command(args, n) for n in args.n]
    for command in commands:
        with subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            command, stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdout is not None  # noqa: S101 (stdout=PIPE)
            for line in child.stdout:
                print(line, end="", flush=True)
                if line.strip():
                    lines.append(line.strip())
        status = status or child.returncode
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return status
