"""State-change notifications as workflows (toolkit.jobs.notifications) when a job engine runs
in the partner endpoints' process: the same notification delivered again, also concurrently,
is processed once; a burst of distinct ones is answered without a 5xx and each processed once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from dbos import DBOS
from support.notifications import settle_notifications
from test_state_change import (  # noqa: F401 - fixtures and helpers of the webhook tests
    APP,
    client,
    message,
    post,
    status,
    superid_key,
    superoffice,
    workspace,
)

from toolkit.config import Settings
from toolkit.jobs.engine import JobEngine, running_engine, start_engine
from toolkit.store import StateChangeOutcome
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

BURST = 200
# The burst must be answered within this (a bound on the loopback run, not a benchmark).
BURST_SECONDS = 120.0


@pytest.fixture
def engine(workspace: Workspace) -> Iterator[JobEngine]:  # noqa: F811
    with start_engine(workspace, executor_id="endpoints") as running:
        yield running


def notification_workflows() -> list[str]:
    return [
        found.workflow_id
        for found in DBOS.list_workflows(name="sotk.state_change", load_input=False)
        if found.status == "SUCCESS"
    ]


def test_a_redelivered_notification_is_processed_once(
    engine: JobEngine,
    client: object,  # noqa: F811
    workspace: Workspace,  # noqa: F811
    superoffice: object,  # noqa: F811
    superid_key: object,  # noqa: F811
) -> None:
    superoffice.tenant("Suspended")  # type: ignore[attr-defined]
    body = message(superid_key, "Suspend")  # type: ignore[arg-type]
    with ThreadPoolExecutor(4) as pool:  # the same body and token, four times at once
        answers = list(pool.map(lambda _: post(client, body), range(4)))  # type: ignore[arg-type]
    settle_notifications()
    answers.append(post(client, body))  # type: ignore[arg-type]  # and once more later
    assert [a.status_code for a in answers] == [200] * 5
    settle_notifications()
    assert status(workspace) == "suspended"
    changes = workspace.tenant_events.history(application=APP)
    assert [(c.change_type, c.outcome) for c in changes] == [
        ("Suspend", StateChangeOutcome.APPLIED)
    ]
    assert superoffice.state_calls == 1  # type: ignore[attr-defined]
    assert len(notification_workflows()) == 1


@pytest.mark.server
def test_a_burst_of_notifications_is_answered_and_each_processed_once(
    engine: JobEngine,
    client: object,  # noqa: F811
    workspace: Workspace,  # noqa: F811
    superid_key: object,  # noqa: F811
) -> None:
    bodies = [message(superid_key, "Suspend") for _ in range(BURST)]  # type: ignore[arg-type]
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: post(client, b).status_code, bodies + bodies[:20]))  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert answers == [200] * (BURST + 20)
    assert took < BURST_SECONDS
    settle_notifications()
    assert len(notification_workflows()) == BURST
    assert len(workspace.tenant_events.history(application=APP, limit=10 * BURST)) == BURST


@pytest.mark.server
def test_the_toolkits_own_server_processes_notifications_as_workflows(
    workspace: Workspace,  # noqa: F811
    superoffice: object,  # noqa: F811
    superid_key: object,  # noqa: F811
) -> None:
    # No engine started by the test: PartnerEndpoints (like sotk serve) runs its own.
    assert running_engine() is None
    superoffice.tenant("Suspended")  # type: ignore[attr-defined]
    with (
        PartnerEndpoints(workspace) as endpoints,
        httpx.Client(base_url=endpoints.base_url) as http,
    ):
        engine = running_engine()
        assert engine is not None
        assert engine.services is workspace
        assert engine.listen
        body = message(superid_key, "Suspend")  # type: ignore[arg-type]
        assert post(http, body).status_code == 200  # type: ignore[arg-type]
        assert post(http, body).status_code == 200  # type: ignore[arg-type]  # redelivered
        settle_notifications()
        assert len(notification_workflows()) == 1
    assert running_engine() is None  # the engine it started stops with it
    assert status(workspace) == "suspended"


@pytest.mark.server
def test_endpoints_reuse_the_engine_already_running_in_their_process(
    engine: JobEngine,
    workspace: Workspace,  # noqa: F811
) -> None:
    with PartnerEndpoints(workspace):
        assert running_engine() is engine
    assert running_engine() is engine  # not theirs to stop


def test_an_engine_of_another_workspace_is_not_used(
    tmp_path: Path,
    client: object,  # noqa: F811
    workspace: Workspace,  # noqa: F811
    superoffice: object,  # noqa: F811
    superid_key: object,  # noqa: F811
) -> None:
    # Its workflows would read and write the other workspace's store.
    superoffice.tenant("Suspended")  # type: ignore[attr-defined]
    other = Workspace.open(Settings(home=tmp_path / "other", _env_file=None))  # type: ignore[call-arg]
    with other, start_engine(other, executor_id="other"):
        assert post(client, message(superid_key, "Suspend")).status_code == 200  # type: ignore[arg-type]
        assert notification_workflows() == []
    assert status(workspace) == "suspended"
