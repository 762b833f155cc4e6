"""The process the durability tests SIGKILL: it writes to the store and acknowledges each commit.

Run as ``python durability_child.py MODE JSON`` (``JSON`` holds the arguments), or as
:func:`run` in a process forked by a multiprocessing fork server that has already imported the
toolkit (the kill tests: the same code in a fresh process without paying for imports each round).
Every line it prints goes to the file ``args["out"]`` and is flushed (written to the kernel, so
it survives SIGKILL); an ``ack`` line is printed only AFTER the write it names has committed:
whatever the parent reads as acknowledged must survive the kill.

Modes:

``write``
    Open the store and put authorizations in a loop (new tenants and newer tokens for tenants
    already written), each with an encrypted system user token and refresh token whose values,
    like every other column, are derived from (tenant, token_issued_at): a row whose columns
    disagree was half-written. Prints ``ready``, then ``ack {ctx} {iat}`` per committed write
    (``ready`` comes after the first ``ready_after`` acks instead when that is given, so a kill
    timed from ``ready`` always lands among writes, however slow the machine).
``migrate``
    Bring a fresh (or old) database to the newest schema, sleeping ``delay`` seconds after each
    SQL statement inside the migration transaction so that a kill lands in the middle of it.
    Prints ``ready`` before and ``done {version}`` after.
``provision``
    Open a workspace on the given home, database (``database_url``, None for the home's SQLite
    file) and emulator, plan the application's stored manifest in one tenant and apply it (actor
    ``durability``), with a short apply lock so that the lock a killed predecessor left expires
    quickly. Prints ``ready``, ``planned {steps}`` and
    ``finished {run id} {outcome}`` (``finished - up-to-date`` when nothing was pending).
``rotate``
    Run the real ``sotk secrets rotate`` command (``toolkit.cli.main``) in this interpreter, its
    output going to the file. After its ``pause_after``-th committed batch it prints ``paused``
    and blocks until a line arrives on stdin (or stdin closes): the parent kills it there, or
    releases it and kills it a random moment later. The pause is a handshake, not a race, so
    the parent always has a committed batch to kill after, however fast the machine. Prints
    ``exit {code}`` when the command returns.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The application every durability test writes under, and the epoch of its token issue times.
APPLICATION = "Durability App"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
# Share of writes that update an existing tenant (a newer token) rather than add one.
UPDATE_SHARE = 0.3


def issued_at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def expected_columns(ctx: str, iat: int) -> dict[str, Any]:
    """Every column value a complete write of (ctx, iat) leaves behind."""
    return {
        "system_user_token": f"DurabilityApp-{ctx}-{iat}",
        "refresh_token": f"refresh-{ctx}-{iat}",
        "serial": f"serial-{ctx}-{iat}",
        "company_name": f"Company {ctx}",
        "claims": {"write": f"{ctx}@{iat}"},
        "approved_by": f"admin@{ctx.lower()}.test",
    }


class Output:
    """The child's output file: every line flushed to the kernel as soon as it is printed."""

    def __init__(self, path: str) -> None:
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the process

    def __call__(self, line: str) -> None:
        self._handle.write(line + "\n")
        self._handle.flush()

    @property
    def stream(self) -> Any:
        """The file itself, line-buffered, for code that prints (``sys.stdout``)."""
        self._handle.reconfigure(line_buffering=True)
        return self._handle


def run_write(args: dict[str, Any], say: Output) -> None:
    from toolkit.store import open_store

    store = open_store(args["database_url"], Path(args["home"]), args["secret_keys"])
    rng = random.Random(args["seed"])
    prefix: str = args["prefix"]
    clock: int = args["first_iat"]
    written: list[str] = []
    ready_after: int = args.get("ready_after", 0)
    if not ready_after:
        say("ready")
    for number in range(args.get("limit", 10**9)):
        clock += 1
        if written and rng.random() < UPDATE_SHARE:
            ctx = rng.choice(written)
        else:
            ctx = f"{prefix}{number:05d}"
        values = expected_columns(ctx, clock)
        store.put_authorization(
            APPLICATION,
            ctx,
            token_issued_at=issued_at(clock),
            system_user_token=values["system_user_token"],
            refresh_token=values["refresh_token"],
            serial=values["serial"],
            company_name=values["company_name"],
            claims=values["claims"],
            approved_by=values["approved_by"],
            actor="durability",
        )
        if ctx not in written:
            written.append(ctx)
        say(f"ack {ctx} {clock}")
        if number + 1 == ready_after:
            say("ready")
    store.close()
    say("finished")


def run_migrate(args: dict[str, Any], say: Output) -> None:
    from sqlalchemy import event

    from toolkit.store import create_engine_for, migrate

    engine = create_engine_for(args["database_url"], home=Path(args["home"]))
    delay = float(args["delay"])

    def slow(*_: Any) -> None:
        time.sleep(delay)  # inside the one migration transaction

    event.listen(engine, "after_cursor_execute", slow)
    say("ready")
    version = migrate(engine)
    say(f"done {version}")


def run_provision(args: dict[str, Any], say: Output) -> None:
    from toolkit.config import Settings
    from toolkit.provisioning.service import Provisioning
    from toolkit.workspace import Workspace

    # database_url is passed even when None (SQLite): an explicit value beats a SOTK_DATABASE_URL
    # the fork server may have inherited from whichever test started it.
    settings = Settings(
        home=Path(args["home"]),
        emulator_url=args["emulator_url"],
        public_url=args["public_url"],
        database_url=args.get("database_url"),
    )
    ws = Workspace.open(settings)
    provisioning = Provisioning(
        ws.repository,
        ws.tenants,
        public_url=settings.public_url,
        lock_ttl=timedelta(seconds=float(args["lock_ttl"])),
    )
    plan = provisioning.plan(args["application"], args["tenant"])
    say(f"planned {len(plan.pending)}")
    # "ready" once planned: the test's kill delay counts from the start of the apply, so
    # the kills land inside it however long planning took on a loaded machine.
    say("ready")
    if plan.is_empty:
        say("finished - up-to-date")
        return
    run = provisioning.apply(
        args["application"],
        args["tenant"],
        plan,
        actor="durability",
        lock_wait=float(args["lock_wait"]),
    )
    say(f"finished {run.id} {run.outcome}")
    ws.close()


def run_rotate(args: dict[str, Any], say: Output) -> None:
    import contextlib

    from toolkit.cli import main
    from toolkit.store.areas.maintenance import SecretsMaintenance

    real_rotate = SecretsMaintenance.rotate_secrets
    batches = 0

    def gated_rotate(self: SecretsMaintenance, **kwargs: Any) -> Any:
        progress = kwargs.pop("on_batch", None)

        def on_batch(table: str, count: int) -> None:
            nonlocal batches
            if progress is not None:
                progress(table, count)  # the command's own line first
            batches += 1
            if batches == args["pause_after"]:
                say("paused")
                sys.stdin.readline()  # the parent's go-ahead (or its kill)

        return real_rotate(self, on_batch=on_batch, **kwargs)

    SecretsMaintenance.rotate_secrets = gated_rotate  # type: ignore[method-assign]
    sys.argv = ["sotk", "secrets", "rotate"]
    sys.stdout = say.stream
    code: object = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    say(f"exit {code if code is not None else 0}")


def run(mode: str, args: dict[str, Any]) -> None:
    """Run ``mode``; a failure is written to ``{out}.err`` (the parent shows it) and re-raised."""
    say = Output(args["out"])
    try:
        modes = {
            "write": run_write,
            "migrate": run_migrate,
            "provision": run_provision,
            "rotate": run_rotate,
        }
        modes[mode](args, say)
    except BaseException:
        with open(args["out"] + ".err", "a", encoding="utf-8") as handle:
            handle.write(traceback.format_exc())
        raise


if __name__ == "__main__":
    run(sys.argv[1], json.loads(sys.argv[2]))
