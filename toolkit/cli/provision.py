"""``sotk provision``: plan, apply and uninstall an application's manifest in tenants.

::

    sotk provision set-manifest "Acme Sync" manifest.toml
    sotk provision plan --tenant Cust12345
    sotk provision apply --all --app "Acme Sync" --concurrency 8 --yes
    sotk provision uninstall --tenant Cust12345 --app "Acme Sync"

A thin front end over :mod:`toolkit.provisioning`: every command runs the fleet functions (one
tenant or all of an application's active authorizations), draws a tqdm progress bar from the
fleet's :class:`~toolkit.provisioning.FleetEvent` values, and ends with a summary table (tenant,
outcome, steps, error). ``apply`` and ``uninstall`` first show the plans and ask before they
change anything (``--yes`` does not ask); the plans shown are the plans applied, so a tenant
that changed in between is refused as stale. The exit code is 1 when any tenant failed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from toolkit.cli.common import CLI_ACTOR, fail, workspace
from toolkit.errors import ManifestError, ToolkitError

if TYPE_CHECKING:
    from toolkit.provisioning import FleetEvent, FleetSummary, Manifest, Plan, TenantResult
    from toolkit.store import Application, ProvisioningRun
    from toolkit.workspace import Workspace

provision_app = typer.Typer(
    help="Provision tenants from an application's manifest: plan, apply, uninstall.",
    no_args_is_help=True,
)

# Workers by default: the fleet's own default (enough to overlap network waits).
DEFAULT_CONCURRENCY = 8
# Column widths are capped so a long error does not push the table off the screen.
MAX_CELL = 80

TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="One tenant (CustNNNNN).", show_default=False)
]
AllOption = Annotated[
    bool, typer.Option("--all", help="Every active authorization of the application(s).")
]
AppOption = Annotated[
    str | None,
    typer.Option(
        "--app", help="The application; optional when only one is authorized in the tenant(s)."
    ),
]
ManifestOption = Annotated[
    Path | None,
    typer.Option(
        "--manifest", help="A manifest file to use instead of the application's stored one."
    ),
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, help="Tenants worked on at the same time.")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before changing.")]
DetachOption = Annotated[
    bool,
    typer.Option(
        "--detach",
        help="Enqueue the job for the workers (sotk worker), print its id and return; "
        "the workers plan and apply each tenant (no review, as with --yes).",
    ),
]


# -- choosing the tenants and the manifest -------------------------------------------------------


def _targets(
    ws: Workspace, tenant: str | None, all_tenants: bool, application: str | None
) -> list[tuple[Application, str]]:
    """(application, tenant) pairs from ``--tenant`` / ``--all`` and ``--app``."""
    from toolkit.provisioning import fleet_targets

    if (tenant is None) == (not all_tenants):
        raise fail(ValueError("give --tenant CTX or --all (one of them)"))
    app = ws.applications.get(application) if application is not None else None
    targets = fleet_targets(ws.repository, app.id if app is not None else None)
    if all_tenants:
        if not targets:
            where = f"of {app.name}" if app is not None else "at all"
            raise fail(ValueError(f"no active authorization {where}: nothing to provision"))
        return targets
    wanted = (tenant or "").strip().casefold()
    chosen = [(a, ctx) for a, ctx in targets if ctx.casefold() == wanted]
    if not chosen:
        named = f"{app.name} is" if app is not None else "no application is"
        raise fail(ValueError(f"{named} not actively authorized in {tenant}"))
    if len(chosen) > 1:
        names = ", ".join(sorted(a.name for a, _ in chosen))
        raise fail(
            ValueError(
                f"{len(chosen)} applications are authorized in {tenant}: {names}; "
                "choose one with --app NAME"
            )
        )
    return chosen


def _manifest(
    ws: Workspace, path: Path | None, targets: Sequence[tuple[Application, str]]
) -> Manifest | None:
    """The ``--manifest`` file, validated for the application's model (None: stored ones)."""
    if path is None:
        return None
    names = {app.name for app, _ in targets}
    if len(names) != 1:
        raise fail(ValueError("--manifest is for one application; choose it with --app NAME"))
    try:
        return ws.provisioning.load(path, next(iter(names)))
    except ManifestError as error:
        raise _invalid_manifest(error) from None


def _invalid_manifest(error: ManifestError) -> typer.Exit:
    typer.secho("error: the manifest is not valid:", err=True, fg=typer.colors.RED)
    for line in error.lines():
        typer.secho(f"  {line}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


# -- progress ------------------------------------------------------------------------------------


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[FleetEvent], None]]:
    """A progress bar on stderr fed by fleet events: one tick per tenant finished."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:  # tqdm comes with the notebooks extra; a plain line per tenant then
        tqdm = None
    lock = threading.Lock()
    if tqdm is None:

        def plain(event: FleetEvent) -> None:
            if event.kind in ("finished", "skipped", "failed"):
                with lock:
                    counts = event.counts
                    typer.echo(
                        f"{label}: {counts.finished}/{counts.total} "
                        f"{event.context_identifier} {event.kind}",
                        err=True,
                    )

        yield plain
        return
    bar: Any = tqdm(total=total, desc=label, unit="tenant", file=sys.stderr, leave=True)
    try:

        def tick(event: FleetEvent) -> None:
            with lock:
                if event.kind in ("finished", "skipped", "failed"):
                    bar.update(1)
                    counts = event.counts
                    bar.set_postfix(
                        ok=counts.succeeded, skipped=counts.skipped, failed=counts.failed
                    )
                if event.kind in ("skipped", "failed"):
                    bar.write(f"  {event.context_identifier}: {event.kind}: {event.message}")

        yield tick
    finally:
        bar.close()


# -- output --------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    typer.echo(indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    typer.echo(indent + "  ".join("-" * w for w in widths))
    for row in cells:
        typer.echo(
            indent + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        )


def _counts_text(plan: Plan) -> str:
    counts = plan.counts()
    shown = ["create", "update", "delete", "unchanged"]
    if counts.get("adopt"):
        shown.insert(3, "adopt")
    return ", ".join(f"{counts[action]} {action}" for action in shown)


def _step_detail(step: Any) -> str:
    if step.changes:
        return "changes " + ", ".join(change.field for change in step.changes)
    if step.note:
        return str(step.note)
    return "" if step.name in (step.key, step.key.rpartition("/")[2]) else str(step.name)


def _print_plans(summary: FleetSummary[Plan]) -> None:
    for result in summary.results:
        head = f"{result.application} · {result.context_identifier}"
        plan = result.value
        if plan is None:
            typer.echo(f"{head}: {result.outcome} ({result.error})")
            continue
        state = "up to date" if plan.is_empty else "drifted"
        verb = "uninstall" if plan.operation == "uninstall" else state
        typer.echo(f"{head}: {verb}: {_counts_text(plan)}")
        if plan.pending:
            rows = [(step.action, step.kind, step.key, _step_detail(step)) for step in plan.pending]
            _table(("action", "kind", "key", "detail"), rows, indent="    ")
        for conflict in plan.conflicts:
            typer.secho(f"    conflict: {conflict}", fg=typer.colors.YELLOW)


def _done_steps(run: ProvisioningRun) -> str:
    done = sum(1 for step in run.steps if step.outcome != "failed")
    return f"{done}/{run.steps_total}"


def _result_row(result: TenantResult[Any], steps: str, outcome: str | None = None) -> list[str]:
    error = f"{result.error_type}: {result.error}" if result.error else ""
    return [
        result.context_identifier,
        result.application,
        outcome or result.outcome,
        steps,
        error,
    ]


SUMMARY_HEADERS = ("tenant", "application", "outcome", "steps", "error")


def _finish(rows: list[list[str]], failed: int) -> None:
    typer.echo("")
    _table(SUMMARY_HEADERS, rows)
    totals: dict[str, int] = {}
    for row in rows:
        totals[row[2]] = totals.get(row[2], 0) + 1
    typer.echo("")
    typer.echo(", ".join(f"{count} {outcome}" for outcome, count in sorted(totals.items())))
    if failed:
        typer.secho(f"{failed} tenant(s) failed", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1)


# -- the commands --------------------------------------------------------------------------------


def _plan_all(
    ws: Workspace,
    targets: list[tuple[Application, str]],
    manifest: Manifest | None,
    concurrency: int,
    operation: str,
) -> FleetSummary[Plan]:
    from toolkit.provisioning import plan_fleet

    with _progress(len(targets), "plan") as on_event:
        return plan_fleet(
            ws.provisioning,
            targets,
            manifest=manifest,
            operation=operation,
            concurrency=concurrency,
            on_event=on_event,
        )


def _plan_rows(summary: FleetSummary[Plan]) -> tuple[list[list[str]], int]:
    rows: list[list[str]] = []
    for result in summary.results:
        plan = result.value
        if plan is None:
            rows.append(_result_row(result, "-"))
        else:
            outcome = "up to date" if plan.is_empty else "drifted"
            if plan.conflicts:
                outcome = "conflict"
            rows.append(_result_row(result, str(len(plan.pending)), outcome))
    return rows, len(summary.failed)


@provision_app.command("plan")
def plan(
    tenant: TenantOption = None,
    all_tenants: AllOption = False,
    app: AppOption = None,
    manifest: ManifestOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
) -> None:
    """Show what an apply would do in each tenant: steps and counts per tenant."""
    with workspace() as ws:
        try:
            targets = _targets(ws, tenant, all_tenants, app)
            chosen = _manifest(ws, manifest, targets)
            summary = _plan_all(ws, targets, chosen, concurrency, "apply")
        except ToolkitError as error:
            raise fail(error) from None
        _print_plans(summary)
        rows, failed = _plan_rows(summary)
        _finish(rows, failed)


def _change(  # noqa: PLR0917 - the options of apply and uninstall, passed on
    operation: str,
    tenant: str | None,
    all_tenants: bool,
    app: str | None,
    manifest: Path | None,
    concurrency: int,
    yes: bool,
) -> None:
    """Plan, show, confirm, then apply / uninstall the tenants that have something to do."""
    from toolkit.provisioning import apply_fleet, uninstall_fleet

    with workspace() as ws:
        try:
            targets = _targets(ws, tenant, all_tenants, app)
            chosen = _manifest(ws, manifest, targets)
            plans = _plan_all(
                ws,
                targets,
                chosen,
                concurrency,
                "uninstall" if operation == "uninstall" else "apply",
            )
        except ToolkitError as error:
            raise fail(error) from None
        _print_plans(plans)
        rows: list[list[str]] = []
        failed = 0
        todo: list[Plan] = []
        for result in plans.results:
            plan_value = result.value
            if plan_value is None:
                rows.append(_result_row(result, "-"))
                failed += result.outcome == "failed"
            elif plan_value.is_empty:
                rows.append(_result_row(result, "0", "up to date"))
            else:
                todo.append(plan_value)
        if todo:
            steps = sum(len(p.pending) for p in todo)
            question = f"{operation.capitalize()}: {steps} step(s) in {len(todo)} tenant(s)?"
            if not yes:
                typer.confirm(question, abort=True)
            by_key = {(p.application_id, p.context_identifier): p for p in todo}
            work = [(a, ctx) for a, ctx in targets if (a.id, ctx) in by_key]
            try:
                with _progress(len(work), operation) as on_event:
                    if operation == "uninstall":
                        runs = uninstall_fleet(
                            ws.provisioning,
                            work,
                            actor=CLI_ACTOR,
                            manifest=chosen,
                            concurrency=concurrency,
                            on_event=on_event,
                        )
                    else:
                        runs = apply_fleet(
                            ws.provisioning,
                            work,
                            actor=CLI_ACTOR,
                            plans=todo,
                            manifest=chosen,
                            concurrency=concurrency,
                            on_event=on_event,
                        )
            except ToolkitError as error:
                raise fail(error) from None
            for outcome in runs.results:
                run = outcome.value
                rows.append(_result_row(outcome, "-" if run is None else _done_steps(run)))
            failed += len(runs.failed)
        else:
            typer.echo("Nothing to do: every tenant is up to date.")
        _finish(rows, failed)


@provision_app.command("apply")
def apply(  # noqa: PLR0917 - a typer command: one parameter per option
    tenant: TenantOption = None,
    all_tenants: AllOption = False,
    app: AppOption = None,
    manifest: ManifestOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    yes: YesOption = False,
    detach: DetachOption = False,
) -> None:
    """Bring tenants to the manifest: plan, show, ask, apply; a summary at the end.

    Every tenant is a workflow on the job engine; without a worker running, this command runs
    one for the job. ``--detach`` only enqueues (``sotk jobs show ID`` follows it)."""
    if detach:
        _detach("apply", tenant, all_tenants, app, manifest)
        return
    _change("apply", tenant, all_tenants, app, manifest, concurrency, yes)


def _detach(
    operation: str, tenant: str | None, all_tenants: bool, app: str | None, manifest: Path | None
) -> None:
    from toolkit.jobs.client import Jobs
    from toolkit.jobs.workflows import FleetJob

    with workspace() as ws, Jobs(ws.repository) as jobs:
        try:
            targets = _targets(ws, tenant, all_tenants, app)
            chosen = _manifest(ws, manifest, targets)
            job = FleetJob(
                operation,
                tuple((a.id, ctx) for a, ctx in targets),
                CLI_ACTOR,
                manifest=chosen,
            )
            job_id = jobs.submit_fleet(job)
        except ToolkitError as error:
            raise fail(error) from None
        typer.echo(job_id)


@provision_app.command("uninstall")
def uninstall(  # noqa: PLR0917 - a typer command: one parameter per option
    tenant: TenantOption = None,
    all_tenants: AllOption = False,
    app: AppOption = None,
    manifest: ManifestOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    yes: YesOption = False,
) -> None:
    """Remove what the application owns in tenants (its panels, lists and items it created)."""
    _change("uninstall", tenant, all_tenants, app, manifest, concurrency, yes)


@provision_app.command("set-manifest")
def set_manifest(
    application: Annotated[str, typer.Argument(help="The application.")],
    manifest: Annotated[Path, typer.Argument(help="The manifest file (TOML).")],
) -> None:
    """Validate and store an application's manifest (what plan and apply use by default)."""
    with workspace() as ws:
        try:
            stored = ws.provisioning.set_manifest(application, manifest, actor=CLI_ACTOR)
        except ManifestError as error:
            raise _invalid_manifest(error) from None
        except ToolkitError as error:
            raise fail(error) from None
        if stored is None:  # only a None source removes a manifest
            raise fail(ValueError("no manifest was stored"))
        typer.echo(
            f"stored the manifest of {application}: {len(stored.lists)} list(s), "
            f"{len(stored.all_web_panels())} web panel(s) "
            f"({len(stored.buttons)} button(s)); digest {stored.digest[:12]}"
        )
