"""``sotk jobs`` (list, show, cancel, retry) and ``sotk provision apply --detach``: no worker
runs here, so a job stays queued until cancelled; everything goes through the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.config import Settings
from toolkit.doctor import CheckStatus, run_checks
from toolkit.jobs.client import Jobs
from toolkit.workspace import Workspace

runner = CliRunner()


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """The CLI's environment of tests/support, without a public URL."""
    return {name: value for name, value in env.items() if name != "SOTK_PUBLIC_URL"}


def test_jobs_list_show_cancel_and_retry_from_the_command_line(env: dict[str, str]) -> None:
    settings = Settings(home=Path(env["SOTK_HOME"]), secret_keys=env["SOTK_SECRET_KEYS"])  # type: ignore[call-arg]
    with Workspace.open(settings) as ws:
        app_id = ws.repository.add_application(
            "Acme Sync", environment="sod", client_id="cid", client_secret="secret"
        ).id
    before = {check.name: check for check in run_checks(settings)}["job engine"]
    assert (before.status, before.detail) == (
        CheckStatus.OK,
        "no tables beside the store's yet (no job has run)",
    )
    empty = runner.invoke(app, ["jobs", "list"], env=env)
    assert empty.exit_code == 0, empty.output
    assert "no jobs" in empty.output

    from toolkit.jobs.workflows import FleetJob

    with Workspace.open(settings) as ws, Jobs(ws.repository) as jobs:
        job_id = jobs.submit_fleet(FleetJob("apply", ((app_id, "Cust1"),), "tester"))

    # sotk doctor sees the engine's tables the job client created.
    checks = {check.name: check for check in run_checks(settings)}
    assert checks["job engine"].status is CheckStatus.OK
    assert "beside the store's (DBOS schema version" in checks["job engine"].detail

    listed = runner.invoke(app, ["jobs", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"{job_id}  queued" in listed.output
    assert "1 queued of 1" in listed.output

    shown = runner.invoke(app, ["jobs", "show", job_id], env=env)
    assert shown.exit_code == 0, shown.output
    assert "apply by tester" in shown.output

    too_early = runner.invoke(app, ["jobs", "retry", job_id], env=env)
    assert too_early.exit_code == 1
    assert "still queued" in too_early.output

    cancelled = runner.invoke(app, ["jobs", "cancel", job_id], env=env)
    assert cancelled.exit_code == 0, cancelled.output
    assert f"{job_id}: cancelled" in cancelled.output
    only_cancelled = runner.invoke(app, ["jobs", "list", "--status", "cancelled"], env=env)
    assert job_id in only_cancelled.output

    resumed = runner.invoke(app, ["jobs", "retry", job_id], env=env)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.strip() == job_id
    assert f"{job_id}  queued" in runner.invoke(app, ["jobs", "list"], env=env).output

    missing = runner.invoke(app, ["jobs", "show", "fleet-apply-000000000000"], env=env)
    assert missing.exit_code == 1
    assert "no job 'fleet-apply-000000000000'" in missing.output


def test_provision_apply_detach_needs_tenants(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["provision", "apply", "--all", "--detach"], env=env)
    assert result.exit_code == 1
    assert "no active authorization" in result.output
