"""``python -m benchmarks.profiling [exchange|rest|apply ...] [--n 20] [--top 25] [--rounds 3]
[--dump DIR]``: where the client's CPU goes in a cold exchange, a REST call and a first apply
(issue 14).

The benchmark world (an emulator in a subprocess, N tenants installed through the real flow,
no latency), then each part run one call after another on one thread under cProfile with
``time.process_time`` as its clock (CPU, not wall: waiting on a socket costs nothing), and
``--rounds`` times without the profiler for the unprofiled CPU per call (the median, each round,
the load average). Prints the CPU and the function calls per call (the count does not depend on
the machine's load: compare it between two versions of the code) and the functions by own and
by cumulative time on stdout; ``--dump`` also writes each part's profile for ``pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from benchmarks.cases import manifest_text
from benchmarks.emulator_process import start_emulator
from benchmarks.world import PUBLIC_URL, BenchWorld

PARTS = ("exchange", "rest", "apply")
# REST calls per tenant in the REST part: enough calls for a stable figure at small N.
REST_ROUNDS = 5


def _profiled(work: Callable[[], int]) -> tuple[cProfile.Profile, int, float]:
    profile = cProfile.Profile(time.process_time)
    begun = time.process_time()
    profile.enable()
    calls = work()
    profile.disable()
    return profile, calls, time.process_time() - begun


def _unprofiled(work: Callable[[], int]) -> tuple[int, float]:
    begun = time.process_time()
    calls = work()
    return calls, time.process_time() - begun


class StatementCounter:
    """SQL statements the store sends (SQLite's BEGIN included), counted at the cursor."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


def _report(
    name: str, profile: cProfile.Profile, calls: int, cpu: float, *, top: int, dump: str | None
) -> None:
    stats = pstats.Stats(profile)
    print(
        f"== {name}: {calls} calls, profiled {1000 * cpu / calls:.2f} ms client CPU each, "
        f"{stats.total_calls / calls:.0f} function calls each"  # type: ignore[attr-defined]
    )
    if dump:
        path = Path(dump) / f"{name.split(maxsplit=1)[0]}.pstats"
        stats.dump_stats(path)
        print(f"   profile written to {path} (python -m pstats {path})")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(top)
        print(out.getvalue())


def _figures(figures: list[float], digits: int = 2) -> str:
    """The median of the rounds, with every round in brackets when there are several."""
    median = f"{statistics.median(figures):.{digits}f}"
    if len(figures) == 1:
        return median
    return f"{median} (rounds {', '.join(f'{f:.{digits}f}' for f in figures)})"


def _load() -> str:
    return f" [1-minute load average {os.getloadavg()[0]:.1f}]"


def run(parts: list[str], n: int, top: int, dump: str | None = None, rounds: int = 1) -> None:
    with start_emulator("subprocess") as emulator:
        world = BenchWorld(emulator, n, concurrency=4)
        try:
            world.install()
            targets = world.targets
            first, rest = targets[0], targets[1:]
            access = world.new_access()

            def exchanges() -> int:
                nonlocal access
                world.forget_tickets()
                access = world.new_access()
                access.tickets.ticket(first[0].id, first[1])  # the key set, imports: not counted
                return 0

            def cold() -> int:
                for app, ctx in rest:
                    access.tickets.ticket(app.id, ctx)
                return len(rest)

            if "exchange" in parts:
                counter = StatementCounter(world.repository.engine)
                figures = []
                for _ in range(rounds):
                    exchanges()
                    counter.count = 0
                    calls, cpu = _unprofiled(cold)
                    figures.append(1000 * cpu / calls)
                counter.close()
                print(
                    f"exchange: unprofiled {_figures(figures)} ms client CPU each, "
                    f"{counter.count / calls:.1f} SQL statements each{_load()}"
                )
                exchanges()
                _report("exchange", *_profiled(cold), top=top, dump=dump)
            for app, ctx in targets:
                access.tickets.ticket(app.id, ctx)
                access.status(app.id, ctx)
            if "rest" in parts:
                apis = [access.system_user_api(app.id, ctx) for app, ctx in targets]

                def calls_() -> int:
                    for _ in range(REST_ROUNDS):
                        for api in apis:
                            api.current_principal()
                    return REST_ROUNDS * len(apis)

                calls_()  # warm connections
                figures = []
                for _ in range(rounds):
                    calls, cpu = _unprofiled(calls_)
                    figures.append(1000 * cpu / calls)
                print(f"rest: unprofiled {_figures(figures, 3)} ms client CPU per call{_load()}")
                _report("rest", *_profiled(calls_), top=top, dump=dump)
            if "apply" in parts:
                from toolkit.provisioning.service import Provisioning

                service = Provisioning(world.repository, access, public_url=PUBLIC_URL)
                service.set_manifest(first[0].id, manifest_text(), actor="bench")
                before = world.counter.snapshot()

                def applies() -> int:
                    for app, ctx in targets:
                        service.apply(app.id, ctx, actor="bench")
                    return len(targets)

                counter = StatementCounter(world.repository.engine)
                profile, calls, cpu = _profiled(applies)
                counter.close()
                requests: Any = sum(world.counter.since(before).values())
                print(
                    f"apply: {requests / calls:.1f} requests per tenant, "
                    f"{counter.count / calls:.1f} SQL statements per tenant"
                )
                _report("apply (per tenant)", profile, calls, cpu, top=top, dump=dump)
        finally:
            world.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling")
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--rounds", type=int, default=3, help="unprofiled rounds of each part (median shown)"
    )
    parser.add_argument("--dump", metavar="DIR", help="also write each part's profile there")
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if args.n < 2:
        parser.error("--n must be at least 2 (the first tenant warms the key set)")
    run(list(args.parts) or list(PARTS), args.n, args.top, args.dump, max(args.rounds, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
