"""Operator sign-in in a real browser: the dashboard's sign-in prompt → the emulator's SuperID
login page → a viewer sees tenants but no action buttons → log out → an operator plans and
applies a manifest (with confirmation) → the Activity page names that operator as the actor.

The local stack registers the "Operator Dashboard" application at the emulator (a custom
application of the partner's own tenant), writes the dashboard's [auth] secrets and allow-lists
the partner's staff ops@partner.test (operator) and viewer@partner.test (viewer); accounts off
the allow-list are in test_operator_refused.py. Playwright drives Debian's chromium, as in
test_install_in_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import choose, dashboard_journey, grid_row, local_stack, sign_in_to_dashboard

from toolkit.localstack import PARTNER_ADMIN, PARTNER_VIEWER, LocalStack

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

APP = "Demo Standard App"
CTX = "Cust12345"
OPERATOR = PARTNER_ADMIN  # ops@partner.test: the partner's staff, not a customer's
VIEWER = PARTNER_VIEWER
MANIFEST = """model = "hybrid"

[[lists]]
name = "Browser test status"

[[lists.items]]
name = "Ready"
rank = 1
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with local_stack(tmp_path) as running:
        assert running.workspace is not None
        running.workspace.provisioning.set_manifest(APP, MANIFEST, actor="test")
        yield running


def test_viewer_reads_operator_applies_and_is_the_actor(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    assert urls.dashboard is not None
    secrets = stack.dashboard_secrets
    assert secrets.stat().st_mode & 0o077 == 0  # owner only

    # A viewer: the Tenants table, but no Renew / Check / Apply.
    with dashboard_journey(chromium, stack, tmp_path, VIEWER) as page:
        page.goto(f"{urls.dashboard}/tenants")
        expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        expect(page.get_by_text("(viewer)")).to_be_visible()
        for action in ("Renew ticket", "Check state"):
            expect(page.get_by_role("button", name=action)).to_have_count(0)
        page.goto(f"{urls.dashboard}/provisioning")
        expect(page.get_by_role("heading", name="Provisioning")).to_be_visible()
        expect(page.get_by_role("button", name="Plan")).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("^Apply"))).to_have_count(0)

        # Log out: back to the sign-in prompt (SuperID's session ends too).
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()

        # An operator: plan, confirm, apply.
        sign_in_to_dashboard(page, urls.dashboard, urls.emulator, OPERATOR)
        page.goto(f"{urls.dashboard}/provisioning")
        expect(page.get_by_role("heading", name="Provisioning")).to_be_visible()
        choose(page, "Application", APP)
        page.get_by_text("All that drifted").click()  # its one tenant, Cust12345
        expect(page.get_by_text(re.compile(f"Every tenant of {APP}"))).to_be_visible()
        page.get_by_role("button", name="Plan").click()
        apply = page.get_by_role("button", name=re.compile("^Apply"))
        expect(apply).to_be_visible()
        expect(apply).to_be_disabled()  # not before the confirmation
        page.get_by_text(re.compile("I confirm")).click()
        expect(apply).to_be_enabled()
        apply.click()
        # The finished status and the results caption both say it, for a moment at once.
        done = page.get_by_text(re.compile(r"1 of 1 tenant\(s\) succeeded")).first
        expect(done).to_be_visible()

        # The Activity page names the operator as the actor of the apply.
        page.goto(f"{urls.dashboard}/activity")
        expect(page.get_by_role("heading", name="Activity")).to_be_visible()
        choose(page, "Action", "provisioning.apply")
        table = page.get_by_test_id("stDataFrame").first
        row = grid_row(page, table, "provisioning.apply")
        expect(row).to_have_count(1)
        expect(row.locator("td[role=gridcell]", has_text=OPERATOR)).to_have_count(1)

    assert stack.workspace is not None
    (run,) = stack.workspace.provisioning.runs(APP, CTX)
    assert (run.actor, run.outcome) == (OPERATOR, "succeeded")
