"""The Overview page: metrics and Altair charts from the store, with data and empty; Check drift
plans on request only."""

from __future__ import annotations

from typing import Any

from dashboard_support import (
    APPROVED_AT,
    STANDARD_APP,
    TENANT,
    open_page,
    rendered_text,
    seed,
    texts,
)
from streamlit.testing.v1 import AppTest

from toolkit.store import Repository

OVERVIEW_PAGE = "views/overview.py"
OTHER_TENANT = "Cust54321"


def metrics(at: AppTest) -> dict[str, str]:
    return {str(metric.label): str(metric.value) for metric in at.metric}


def charts(at: AppTest) -> list[Any]:
    return list(at.get("vega_lite_chart"))


def chart_titles(at: AppTest) -> str:
    return " ".join(str(chart.proto.spec) for chart in charts(at))


def test_an_empty_store_renders_zeros_and_explains() -> None:
    at = open_page(OVERVIEW_PAGE)

    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    assert metrics(at) == {
        "Applications": "0",
        "Authorizations": "0",
        "Active": "0",
        "Tickets valid": "0",
        "Runs": "0",
        "Failed runs": "0",
    }
    assert any("No tenant has approved" in text for text in texts(at.info))
    assert any("No provisioning run yet" in text for text in texts(at.info))
    assert not charts(at)
    assert not at.error


def test_with_data_counts_statuses_states_tickets_provisioning_and_runs(
    repository: Repository,
) -> None:
    seed(repository)  # Alpha Sync active in Cust12345 with a valid ticket; Bravo not approved
    repository.put_authorization(
        repository.get_application(STANDARD_APP).id,
        OTHER_TENANT,
        token_issued_at=APPROVED_AT,
        company_name="Other AS",
        actor="test",
    )
    repository.set_authorization_status(STANDARD_APP, OTHER_TENANT, "revoked", actor="test")
    repository.put_tenant_state(
        STANDARD_APP, TENANT, state="Running", endpoint="https://sod2.example/x", api=None
    )
    run = repository.start_provisioning_run(
        STANDARD_APP,
        TENANT,
        operation="apply",
        actor="test",
        plan={"steps": []},
        fingerprint=None,
        steps_total=2,
    )
    repository.finish_provisioning_run(run.id, "partial", error="boom")

    at = open_page(OVERVIEW_PAGE)

    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert metrics(at) == {
        "Applications": "2",
        "Authorizations": "2",
        "Active": "1",
        "Tickets valid": "1",
        "Runs": "1",
        "Failed runs": "1",
    }
    spec = chart_titles(at)
    for title in (
        "Tenants by authorization status",
        "Tenants by state",
        "System user tickets",
        "Provisioning",
        "Provisioning runs over time",
    ):
        assert title in spec
    page = rendered_text(at)
    for value in ("active", "revoked", "Running", "valid", "failed", "partial"):
        assert value in page

    # Check drift plans only on request; an application without a manifest says so.
    at.button(key="overview_check_drift").click().run()

    assert not at.exception, at.exception
    drift = next(frame.value for frame in at.dataframe if "Provisioning" in frame.value.columns)
    assert list(drift["Tenant"]) == [TENANT]
    assert list(drift["Provisioning"]) == ["no manifest"]
    assert "Provisioning (drift checked)" in chart_titles(at)
