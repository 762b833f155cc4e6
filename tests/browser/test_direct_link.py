"""A bookmark of a page, on a freshly started dashboard: its first request is ``/tenants``, and
it must go through app.py (operator sign-in, the sidebar's page titles), not run the page file
on its own as Streamlit does for a ``pages/`` folder beside the entrypoint (issue 17). Before
sign-in the navigation is hidden (issue 15), so what shows is the sign-in prompt.

Playwright drives Debian's chromium, as in test_operator_sign_in.py; every step waits for what
the page shows, never for a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import FIRST_RENDER_TIMEOUT_MS, journey

from toolkit.localstack import LocalStack

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

# What the sidebar listed when a page ran without app.py: the files of the pages folder.
RAW_FILE_NAMES = ("app", "activity", "applications", "overview", "provisioning", "tenants")


def test_a_bookmarked_page_on_a_fresh_server_asks_for_sign_in(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    assert urls.dashboard is not None
    with journey(chromium, tmp_path) as page:
        # The server has run no page yet (LocalStack only asked /_stcore/health).
        page.goto(f"{urls.dashboard}/tenants")
        sign_in_button = page.get_by_role("button", name="Sign in")
        expect(sign_in_button).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_role("heading", name="Tenants")).to_have_count(0)
        # Before sign-in no page is listed at all (issue 15), least of all the raw file
        # names Streamlit lists when it runs a pages/ file on its own.
        sidebar = page.get_by_test_id("stSidebar")
        for raw in RAW_FILE_NAMES:
            expect(sidebar.get_by_text(raw, exact=True)).to_have_count(0)

        # Every page's URL goes through app.py's gate, none is "not found"; the signed-in
        # pages themselves are tested with AppTest (tests/dashboard) and in
        # test_operator_sign_in.py.
        for path in ("applications", "overview", "provisioning", "activity", "tenants"):
            page.goto(f"{urls.dashboard}/{path}")
            expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            expect(page.get_by_text("Page not found")).to_have_count(0)
            for raw in RAW_FILE_NAMES:
                expect(sidebar.get_by_text(raw, exact=True)).to_have_count(0)
