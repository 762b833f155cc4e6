"""Provisioning works on day one of ``make run`` (issue 15): the demo applications are seeded
with their model's preset manifest, so an operator's Plan on the Provisioning page shows work
in the seeded tenant, Apply finishes it, and the spent plan leaves the screen (a second Apply
would be refused as stale).

Nothing is stored by the test itself: the manifest is the one the local stack seeded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.browser import WIDE_VIEWPORT, choose, dashboard_journey

from toolkit.localstack import PARTNER_ADMIN as OPERATOR
from toolkit.localstack import LocalStack

# A hang guard, not a speed limit: a whole stack starts, then a sign-in, two plans and an apply.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.emulator,
    pytest.mark.browser,
    pytest.mark.timeout(300),
]

APP = "Demo Standard App"  # hybrid, installed by the seed in Cust12345
CTX = "Cust12345"


def test_the_seeded_manifest_plans_applies_and_clears_its_plan(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    assert urls.dashboard is not None
    assert stack.workspace is not None
    assert stack.workspace.provisioning.runs(APP, CTX) == []  # nothing applied by the seed

    with dashboard_journey(chromium, stack, tmp_path, OPERATOR, viewport=WIDE_VIEWPORT) as page:
        page.goto(f"{urls.dashboard}/provisioning")
        expect(page.get_by_role("heading", name="Provisioning", exact=True)).to_be_visible()
        choose(page, "Application", APP)
        page.get_by_text("All that drifted").click()  # its one tenant, Cust12345
        expect(page.get_by_text(re.compile(f"Every tenant of {APP}"))).to_be_visible()
        # The seeded manifest is stored: its outline shows, no "no manifest yet".
        expect(page.get_by_text(re.compile(r"^Manifest:"))).to_be_visible()
        expect(page.get_by_text(re.compile("has no manifest yet"))).to_have_count(0)

        page.get_by_role("button", name="Plan").click()
        expect(page.get_by_role("heading", name="Plan", exact=True)).to_be_visible()
        apply = page.get_by_role("button", name=re.compile(r"^Apply \d+ step\(s\) in 1 "))
        expect(apply).to_be_visible()  # the seeded tenant has steps to apply
        steps = re.search(r"Apply (\d+)", apply.inner_text())
        assert steps is not None
        assert int(steps.group(1)) > 0

        page.get_by_text(re.compile("I confirm")).click()
        expect(apply).to_be_enabled()
        apply.click()
        # The results' alert, not the apply's status label, which says the same while it closes.
        done = page.get_by_test_id("stAlertContentSuccess")
        expect(done.get_by_text(re.compile(r"1 of 1 tenant\(s\) succeeded"))).to_be_visible()
        # The spent plan is gone: no plan, no Apply, the results and the run instead.
        expect(page.get_by_role("heading", name="Results of the last apply")).to_be_visible()
        expect(page.get_by_role("heading", name="Plan", exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("^Apply"))).to_have_count(0)
        expect(page.get_by_text(re.compile("I confirm"))).to_have_count(0)

        # Planned again, the tenant is up to date: the apply did the manifest's work.
        page.get_by_role("button", name="Plan").click()
        expect(page.get_by_text("Every tenant planned is up to date")).to_be_visible()

    (run,) = stack.workspace.provisioning.runs(APP, CTX)
    assert (run.actor, run.outcome) == (OPERATOR, "succeeded")
