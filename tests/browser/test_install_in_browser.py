"""The newcomer's path, in a real browser: dashboard → Install → SuperID login → consent →
the partner's installation page → the new tenant on the dashboard's Tenants page.

Playwright drives Debian's chromium (``/usr/bin/chromium``; ``make test`` installs it with apt,
Playwright never downloads a browser). Without it the test is skipped, unless ``CI`` is set:
then a missing browser is a failure, not a silent skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import (
    FIRST_RENDER_TIMEOUT_MS,
    grid_row,
    journey,
    local_stack,
    superid_sign_in,
)

from toolkit.localstack import (
    NEWCOMER_TENANT,
    NEWCOMER_USERNAME,
    LocalStack,
)

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

STANDARD_APP = "Demo Standard App"
COMPANY = "Acme Consulting"  # Cust34567 in the emulator's seeded world


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    # The unauthenticated loopback dashboard (sign-in has its test).
    with local_stack(tmp_path, operator_sign_in=False) as running:
        yield running


def test_install_from_the_dashboard_in_a_browser(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    assert urls.dashboard is not None
    assert stack.workspace is not None
    assert not [
        r
        for r in stack.workspace.repository.list_authorizations()
        if r.context_identifier == NEWCOMER_TENANT
    ], "the seed must leave Cust34567 for the newcomer"

    with journey(chromium, tmp_path) as page:
        # The Applications page: each application has an Install button.
        page.goto(f"{urls.dashboard}/applications")
        expect(page.get_by_role("heading", name="Applications")).to_be_visible(
            timeout=FIRST_RENDER_TIMEOUT_MS
        )
        expander = page.get_by_test_id("stExpander").filter(has_text=STANDARD_APP)
        install = expander.get_by_role("link", name=re.compile("Install"))
        expect(install).to_be_visible()
        href = install.get_attribute("href")
        assert href is not None
        assert href.startswith(f"{urls.partner}/install?app=Demo+Standard+App")

        # Install opens the partner's /install in a new tab, which sends it to SuperID.
        with page.context.expect_page() as new_tab:
            install.click()
        superid = new_tab.value
        superid.wait_for_load_state()
        expect(superid.locator("input[name=username]")).to_be_visible()
        assert superid.url.startswith(urls.emulator + "/login/")
        superid_sign_in(superid, NEWCOMER_USERNAME)

        approve = superid.locator("button[name=decision][value=approve]")
        expect(approve).to_be_visible()
        approve.click()

        # The form_post page submits itself to the partner's /callback: the installation
        # page of the new tenant.
        superid.wait_for_url(f"{urls.partner}/callback*")
        expect(superid.get_by_role("heading", name=f"Install {STANDARD_APP}")).to_be_visible()
        expect(superid.locator('dd[data-field="tenant"]')).to_have_text(NEWCOMER_TENANT)
        expect(superid.locator('dd[data-field="application"]')).to_have_text(STANDARD_APP)
        expect(superid.locator('dd[data-field="approved by"]')).to_have_text(NEWCOMER_USERNAME)

        # The dashboard's Tenants page lists the new record.
        page.goto(f"{urls.dashboard}/tenants")
        expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
        table = page.get_by_test_id("stDataFrame").first
        expect(table).to_be_visible()
        row = grid_row(page, table, NEWCOMER_TENANT)
        expect(row).to_have_count(1)
        expect(row.locator("td[role=gridcell]").nth(1)).to_have_text(COMPANY)
        expect(row.locator("td[role=gridcell]").nth(2)).to_have_text(STANDARD_APP)
        # A search that finds only it opens its record.
        search = page.get_by_role("textbox", name="Search", exact=True)
        search.fill(NEWCOMER_TENANT)
        search.press("Enter")
        expect(
            page.get_by_role("heading", name=f"{NEWCOMER_TENANT} · {STANDARD_APP}")
        ).to_be_visible()

    records = {
        (r.application_id, r.context_identifier)
        for r in stack.workspace.repository.list_authorizations()
    }
    standard = stack.workspace.applications.get(STANDARD_APP)
    assert (standard.id, NEWCOMER_TENANT) in records
