"""The Overview, the landing page: metrics from the store, "needs attention" items that link
to filtered views, charts only for a distribution or a trend; Check drift plans on request
only, for operators."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from dashboard_support import (
    APPROVED_AT,
    STANDARD_APP,
    TENANT,
    app_test,
    open_page,
    rendered_text,
    seed,
    texts,
)
from streamlit.testing.v1 import AppTest

from toolkit.store import Repository
from toolkit.store.schema import provisioning_runs

OVERVIEW_PAGE = "views/overview.py"
OTHER_TENANT = "Cust54321"
UNCHECKED_TENANT = "Cust77777"


def metrics(at: AppTest) -> dict[str, str]:
    return {str(metric.label): str(metric.value) for metric in at.metric}


def charts(at: AppTest) -> list[Any]:
    return list(at.get("vega_lite_chart"))


def chart_titles(at: AppTest) -> str:
    return " ".join(str(chart.proto.spec) for chart in charts(at))


def attention(at: AppTest) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """The attention links: label -> (page, query parameters)."""
    return {
        link.proto.label: (link.proto.page, parse_qs(link.proto.query_string))
        for link in at.get("page_link")
    }


def test_slash_opens_the_overview() -> None:
    at = app_test().run()

    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"


def test_an_empty_store_renders_zeros_and_explains() -> None:
    at = open_page(OVERVIEW_PAGE)

    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    shown = metrics(at)
    for label in (
        "Applications",
        "Active tenants",
        "Running",
        "Never checked",
        "Tickets valid",
        "Tickets expiring",
        "Runs",
        "Failed runs",
        "Drifted",
        "Running jobs",
        "Queued jobs",
    ):
        assert shown.pop(label) == "0", label
    assert not shown
    assert any("No application is registered yet" in text for text in texts(at.info))
    assert "Nothing needs attention." in texts(at.success)
    assert not charts(at)  # no single-bar charts of zeros
    assert not at.error


def test_attention_items_link_to_the_filtered_views(repository: Repository) -> None:
    seed(repository)  # Alpha Sync active in Cust12345 with a valid ticket; Bravo not approved
    alpha = repository.get_application(STANDARD_APP).id
    repository.put_authorization(
        alpha, OTHER_TENANT, token_issued_at=APPROVED_AT, company_name="Other AS", actor="test"
    )
    repository.set_authorization_status(STANDARD_APP, OTHER_TENANT, "revoked", actor="test")
    repository.put_authorization(
        alpha, UNCHECKED_TENANT, token_issued_at=APPROVED_AT, company_name="New AS", actor="test"
    )
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
    shown = metrics(at)
    assert shown["Applications"] == "2"
    assert shown["Active tenants"] == "2"
    assert shown["Running"] == "1"
    assert shown["Never checked"] == "1"  # Cust77777; the revoked one is not counted
    assert shown["Tickets valid"] == "1"
    assert shown["Runs"] == "1"
    assert shown["Failed runs"] == "1"
    links = attention(at)
    assert links[
        "1 active tenant was never checked (no state from the state API or a webhook)"
    ] == (
        "tenants",
        {"status": ["active"], "state": ["never"]},
    )
    assert links[f"The last provisioning run of {TENANT} ({STANDARD_APP}) failed"] == (
        "provisioning",
        {"application": [STANDARD_APP]},
    )
    assert len(links) == 2
    # One state and one day of runs: numbers, not charts.
    assert not charts(at)
    assert "Running" in rendered_text(at)

    # Check drift plans only on request; an application without a manifest says so.
    at.button(key="overview_check_drift").click().run()

    assert not at.exception, at.exception
    drift = next(frame.value for frame in at.dataframe if "Provisioning" in frame.value.columns)
    assert set(drift["Tenant"]) == {TENANT, UNCHECKED_TENANT}
    assert set(drift["Provisioning"]) == {"no manifest"}
    assert "**2** no manifest" in " ".join(texts(at.markdown))


def test_a_distribution_and_a_trend_are_charted(repository: Repository) -> None:
    seed(repository)
    alpha = repository.get_application(STANDARD_APP).id
    repository.put_authorization(alpha, OTHER_TENANT, token_issued_at=APPROVED_AT, actor="test")
    repository.put_tenant_state(STANDARD_APP, TENANT, state="Running", endpoint=None, api=None)
    repository.put_tenant_state(
        STANDARD_APP, OTHER_TENANT, state="Suspended", endpoint=None, api=None
    )
    runs = [
        repository.start_provisioning_run(
            STANDARD_APP,
            TENANT,
            operation="apply",
            actor="test",
            plan={},
            fingerprint=None,
            steps_total=0,
        )
        for _ in range(2)
    ]
    with repository.engine.begin() as connection:  # on two days: a trend
        for day, run in enumerate(runs, start=1):
            connection.execute(
                provisioning_runs.update()
                .where(provisioning_runs.c.id == run.id)
                .values(started_at=APPROVED_AT.replace(day=day))
            )

    at = open_page(OVERVIEW_PAGE)

    assert not at.exception, at.exception
    titles = chart_titles(at)
    assert "Tenants by last known state" in titles
    assert "Provisioning runs over time" in titles
