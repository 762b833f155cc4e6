"""The Overview's "needs attention" links open filtered views that stay filtered (issue 15):
the drift link's Provisioning keeps its application and its "drifted tenants" mode through a
Plan, the confirmation and the Apply, and the Tenants and Jobs links keep their filters through
the operator's first click; the address keeps the filters too.

The operator's first click on the linked page comes as soon as its element shows, as an
impatient operator's may, so it can reach the dashboard while the page's first run still runs.
A browser clicked then reports none of the page's widget values, and before the fix the next
run drew the filters at their defaults: Provisioning fell back to the first application and
"Choose tenants" (dashboard/data/links.py tells why; AppTest has no browser and never showed
it). Whether the click lands in that window depends on the machine, so the assertions do not:
with the fix the filters hold either way.

The ``make run`` world (LocalStack) as in test_operator_sign_in.py: Demo Custom App in
Cust23456 and Demo Standard App in Cust12345, both with their preset manifest (only Demo
Standard App's creates anything), nothing applied and no tenant state checked yet. The nightly
drift check is run now, through its schedule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from support.browser import WIDE_VIEWPORT, click_grid_row, dashboard_journey, open_overview

from toolkit.localstack import PARTNER_ADMIN as OPERATOR
from toolkit.localstack import LocalStack

# A hang guard, not a speed limit: a whole stack starts, then a sign-in, a plan and an apply.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.emulator,
    pytest.mark.browser,
    pytest.mark.timeout(300),
]

APP = "Demo Standard App"  # second in the Application list: a fallback shows
CTX = "Cust12345"
FIRST_APP = "Demo Custom App"  # first in the list, in Cust23456
JOB_ID = "test-renewal-1"


def run_drift_check(stack: LocalStack) -> list[tuple[str, str, int]]:
    """The nightly drift check, run now through its schedule; the tenants it found drifted."""
    from dbos import DBOS

    from toolkit.jobs.upkeep import DRIFT_PREFIX, drifted_tenants

    assert stack.workspace is not None
    DBOS.trigger_schedule("sotk-drift-check").get_result()
    jobs = stack.workspace.jobs
    (job,) = [job for job in jobs.list() if job.job_id.startswith(DRIFT_PREFIX)]
    assert jobs.follow(job.job_id).status == "succeeded"
    return drifted_tenants(jobs)


def query_of(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_the_drift_link_applies_to_exactly_the_drifted_tenants_of_its_application(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    assert urls.dashboard is not None
    assert stack.workspace is not None
    # Demo Custom App is external: its preset creates nothing in the tenant, so never drifts.
    drifted = [(app, ctx) for app, ctx, _steps in run_drift_check(stack)]
    assert drifted == [(APP, CTX)]

    with dashboard_journey(chromium, stack, tmp_path, OPERATOR, viewport=WIDE_VIEWPORT) as page:
        open_overview(page, urls.dashboard)
        page.get_by_role("link", name=re.compile(f"of {APP} drifted from the manifest")).click()
        # Plan as soon as the button shows: the linked page's first run may still run.
        page.get_by_role("button", name="Plan", exact=True).click()
        assert query_of(page) == {"application": [APP], "tenants": ["drifted"]}
        application = page.get_by_role("combobox", name="Application")
        apply = page.get_by_role("button", name=re.compile(r"^Apply \d+ step\(s\) in 1 "))
        expect(apply).to_be_visible()
        page.get_by_text(re.compile("I confirm")).click()
        expect(apply).to_be_enabled()
        # Still the linked application and mode, on the page and in the address.
        expect(application).to_have_value(APP)
        expect(page.get_by_role("radio", name="All that drifted")).to_be_checked()
        expect(page.get_by_text(re.compile(f"Every tenant of {APP}"))).to_be_visible()
        assert query_of(page) == {"application": [APP], "tenants": ["drifted"]}

        apply.click()
        # The finished status and the results caption both say it, for a moment at once.
        expect(page.get_by_text(re.compile(r"1 of 1 tenant\(s\) succeeded")).first).to_be_visible()
        expect(application).to_have_value(APP)

    # The store: one run, of the linked application in its drifted tenant, and nothing else.
    runs = stack.workspace.provisioning.runs()
    assert [(run.application, run.context_identifier) for run in runs] == drifted
    assert [(run.actor, run.outcome) for run in runs] == [(OPERATOR, "succeeded")]


def test_the_tenants_and_jobs_links_keep_their_filters_through_a_click(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from toolkit.jobs.workflows import TenantTask

    urls = stack.urls
    assert urls.dashboard is not None
    assert stack.workspace is not None
    jobs = stack.workspace.jobs
    # A job that really fails: renewing Demo Standard App's ticket in a running tenant that
    # never approved it (Cust23456 approved only Demo Custom App).
    app_id = stack.workspace.repository.get_application(APP).id
    task = TenantTask("renew_ticket", app_id, "Cust23456", OPERATOR)
    failed = jobs.submit_tenant(task, JOB_ID)
    assert jobs.follow(failed).status == "failed"
    never_checked = [
        (record.context_identifier, record.application_id)
        for record in stack.workspace.repository.authorization_keys(None, status="active")
    ]
    assert len(never_checked) == 2  # the seeded two, neither checked yet

    with dashboard_journey(chromium, stack, tmp_path, OPERATOR, viewport=WIDE_VIEWPORT) as page:
        # Tenants: the never-checked link; a row selected as soon as the table shows it
        # opens its record.
        open_overview(page, urls.dashboard)
        page.get_by_role("link", name=re.compile("never checked")).click()
        page.wait_for_url(re.compile(r"/tenants\?"))
        assert query_of(page) == {"status": ["active"], "state": ["never"]}
        grid = page.get_by_test_id("stDataFrame").first
        # The tenant stands in more than one column: the first cell is enough.
        expect(grid.locator("td[role=gridcell]", has_text="Cust23456").first).to_be_attached()
        click_grid_row(page, grid, 1)
        expect(page.get_by_role("heading", name=f"Cust23456 · {FIRST_APP}")).to_be_visible()
        expect(page.get_by_role("combobox", name="Status")).to_have_value("active")
        expect(page.get_by_role("combobox", name="State")).to_have_value("Never checked")
        expect(page.get_by_text(f"of {len(never_checked)} (page 1 of 1)")).to_be_visible()
        assert query_of(page) == {"status": ["active"], "state": ["never"]}

        # Jobs: the failed-jobs link; Refresh as soon as it shows.
        open_overview(page, urls.dashboard)
        page.get_by_role("link", name=re.compile("recent job failed")).click()
        page.get_by_test_id("stMain").get_by_role("button", name="Refresh").click()
        assert query_of(page) == {"status": ["failed"]}
        status = page.get_by_role("combobox", name="Status")
        expect(status).to_have_value("failed")
        table = page.get_by_test_id("stDataFrame").first
        jobs_shown = table.locator("td[role=gridcell]", has_text=re.compile(f"^{JOB_ID}$"))
        expect(jobs_shown).to_have_count(1)
        expect(status).to_have_value("failed")
        assert query_of(page) == {"status": ["failed"]}

    assert [job.job_id for job in jobs.list(status="failed")] == [failed]
