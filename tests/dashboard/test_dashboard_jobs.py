"""The Jobs page: jobs read live from the job engine's tables, one job's tenants, Cancel and
Retry for operators (refused for viewers in the data layer); the Overview's jobs line.

No worker runs here: a submitted job stays queued until the page cancels it."""

from __future__ import annotations

import sys

import pytest
from dashboard_support import (
    APP,
    STANDARD_APP,
    TENANT,
    app_test,
    labels,
    open_page,
    rendered_text,
    seed,
)
from streamlit.testing.v1 import AppTest

from toolkit.jobs.client import Jobs
from toolkit.jobs.workflows import FleetJob
from toolkit.store import Repository

sys.path.insert(0, str(APP.parent))
import data  # the dashboard folder is on sys.path only from here
from test_dashboard_operators import (  # noqa: F401 - operators: the allow-list fixture
    AUTH,
    ISSUER,
    VIEWER,
    operators,
    signed_in,
)

JOBS_PAGE = "views/jobs.py"
OVERVIEW_PAGE = "views/overview.py"


def submit(repository: Repository) -> str:
    seed(repository)
    app_id = repository.get_application(STANDARD_APP).id
    with Jobs(repository) as jobs:
        return jobs.submit_fleet(FleetJob("apply", ((app_id, TENANT),), "test"))


def button(at: AppTest, label: str) -> object:
    return next(b for b in at.button if b.label == label)


def test_the_jobs_page_lists_a_queued_job_and_cancels_and_resumes_it(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOTK_OPERATORS", raising=False)  # the loopback dashboard: one operator
    job_id = submit(repository)
    at = open_page(JOBS_PAGE)
    assert at.title[0].value == "Jobs"
    jobs = at.dataframe[0].value
    assert list(jobs["Job"]) == [job_id]
    assert list(jobs["Status"]) == ["queued"]
    assert list(jobs["Total"]) == [1]
    assert "0 of 1 tenants done" in rendered_text(at)

    assert button(at, "Cancel").disabled  # not before the confirmation
    at.checkbox(key="jobs_cancel_confirm").check().run()
    button(at, "Cancel").click().run()  # type: ignore[attr-defined]
    assert not at.exception, at.exception
    assert any("is cancelled" in str(s.value) for s in at.success)
    with Jobs(repository) as found:
        assert found.status(job_id) == "cancelled"

    button(at, "Retry").click().run()  # type: ignore[attr-defined]
    assert any("resumes where it stopped" in str(s.value) for s in at.success)
    with Jobs(repository) as found:
        assert found.status(job_id) == "queued"

    overview = open_page(OVERVIEW_PAGE)
    shown = {str(metric.label): str(metric.value) for metric in overview.metric}
    assert shown["Queued jobs"] == "1"
    assert shown["Running jobs"] == "0"


def test_a_viewer_sees_jobs_but_may_not_cancel_them(repository: Repository) -> None:
    job_id = submit(repository)
    at = signed_in(JOBS_PAGE, VIEWER)
    assert job_id in rendered_text(at)
    assert "Cancel" not in labels(at.button)
    assert "Retry" not in labels(at.button)
    assert "operators may retry and cancel" in rendered_text(at)
    # The data layer refuses a viewer even if a page offered the action.
    attempt = AppTest.from_function(_cancel_as_page_would, args=(job_id,), default_timeout=60)
    attempt.secrets["auth"] = AUTH
    attempt.session_state[data.USER_OVERRIDE] = {"iss": ISSUER, "sub": VIEWER, "aud": "x"}
    attempt.run()
    assert [e.value for e in attempt.error] == [
        "Only operators may do this; you are signed in as a viewer."
    ]
    with Jobs(repository) as found:
        assert found.status(job_id) == "queued"


def _cancel_as_page_would(job_id: str) -> None:
    import data
    import streamlit as st

    try:
        data.cancel_job(job_id)
    except data.DashboardError as exc:
        st.error(str(exc))


def test_the_overview_link_to_failed_jobs_filters_the_jobs_page(repository: Repository) -> None:
    submit(repository)  # a queued job: not among the failed
    at = app_test()
    at.query_params["status"] = "failed"
    at.run()
    at.switch_page(JOBS_PAGE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="jobs_status").value == "failed"
    # The linked value is the widget's default too (a browser that lost it falls back to it).
    chosen = at.selectbox(key="jobs_status")
    assert chosen.options[chosen.proto.default] == "failed"
    assert not at.dataframe
    at.selectbox(key="jobs_status").select("All").run()  # the filter is the operator's again
    assert len(at.dataframe[0].value) == 1
    assert at.query_params == {}  # and the address follows it
