"""The dashboard as an operations cockpit in a real browser (issue 15): "/" opens the Overview,
a viewer reads the read-only banner and has no Check drift, an attention item opens the
filtered Tenants view, and selecting a row of the Tenants table opens that record.

The ``make run`` world (LocalStack) as in test_operator_sign_in.py: Demo Custom App in
Cust23456 and Demo Standard App in Cust12345, installed through the real flow, no tenant state
checked yet.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from support.browser import WIDE_VIEWPORT, click_grid_row, dashboard_journey, open_overview

from toolkit.localstack import PARTNER_VIEWER as VIEWER
from toolkit.localstack import LocalStack

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]


def test_overview_links_to_the_filtered_tenants_and_a_row_opens_its_record(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    assert stack.urls.dashboard is not None
    with dashboard_journey(chromium, stack, tmp_path, VIEWER, viewport=WIDE_VIEWPORT) as page:
        # "/" is the Overview; a viewer reads the banner and gets no Check drift.
        open_overview(page, stack.urls.dashboard)
        expect(page.get_by_text(re.compile("signed in as a viewer"))).to_be_visible()
        expect(page.get_by_text("Check drift now")).to_have_count(0)

        # The attention item opens the Tenants table filtered to what it counts.
        page.get_by_role("link", name=re.compile("never checked")).click()
        page.wait_for_url(re.compile(r"/tenants\?"))
        query = parse_qs(urlsplit(page.url).query)
        assert query == {"status": ["active"], "state": ["never"]}
        expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible()
        expect(page.get_by_text("Select a row to open its record.")).to_be_visible()

        # Selecting the second row (by application, then tenant: Demo Standard App's
        # Cust12345) opens its record with its tabs.
        click_grid_row(page, grid, 2)
        expect(page.get_by_role("heading", name="Cust12345 · Demo Standard App")).to_be_visible()
        for tab in ("Facts", "Claims", "Audit trail", "State-change notifications"):
            expect(page.get_by_role("tab", name=tab)).to_be_visible()
