"""The newcomer's path, in a real browser: dashboard → Install → SuperID login → consent →
the partner's installation page → the new tenant on the dashboard's Tenants page.

Playwright drives Debian's chromium (``/usr/bin/chromium``; ``make test`` installs it with apt,
Playwright never downloads a browser). Without it the test is skipped, unless ``CI`` is set:
then a missing browser is a failure, not a silent skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.localstack import (
    DEMO_PASSWORD,
    NEWCOMER_TENANT,
    NEWCOMER_USERNAME,
    LocalStack,
)

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STANDARD_APP = "Demo Standard App"
COMPANY = "Acme Consulting"  # Cust34567 in the emulator's seeded world
# Per step; Streamlit's first render of a page imports pandas and opens the store.
STEP_TIMEOUT_MS = 20_000
# Streamlit's first run of a page imports pandas and the toolkit; on a busy 2-core machine that
# alone can take well over Playwright's default 5 s.
FIRST_RENDER_TIMEOUT_MS = 60_000


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI; `make browser-deps` installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium, or make browser-deps)")
    return CHROMIUM


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    with LocalStack(
        tmp_path / "home",
        emulator_port=0,
        partner_port=0,
        dashboard_port=0,
        operator_sign_in=False,  # the unauthenticated loopback dashboard (sign-in has its test)
    ) as running:
        yield running


def test_install_from_the_dashboard_in_a_browser(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    urls = stack.urls
    assert urls.dashboard is not None
    assert stack.workspace is not None
    assert not [
        r
        for r in stack.workspace.repository.list_authorizations()
        if r.context_identifier == NEWCOMER_TENANT
    ], "the seed must leave Cust34567 for the newcomer"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context()
        context.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        page = context.new_page()
        pages = [page]
        try:
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
            with context.expect_page() as new_tab:
                install.click()
            superid = new_tab.value
            pages.append(superid)
            superid.wait_for_load_state()
            expect(superid.locator("input[name=username]")).to_be_visible()
            assert superid.url.startswith(urls.emulator + "/login/")
            superid.fill("input[name=username]", NEWCOMER_USERNAME)
            superid.fill("input[name=password]", DEMO_PASSWORD)
            superid.locator("button[type=submit]").click()

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
            # The grid draws on a canvas but keeps an (off-screen) accessible table of its cells.
            row = table.locator("tr[role=row]").filter(
                has=page.locator("td[role=gridcell]", has_text=re.compile(f"^{NEWCOMER_TENANT}$"))
            )
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
        except BaseException:
            for index, shown in enumerate(pages):
                if not shown.is_closed():
                    shown.screenshot(path=str(tmp_path / f"failure-{index}.png"), full_page=True)
            raise
        finally:
            context.close()
            browser.close()

    records = {
        (r.application_id, r.context_identifier)
        for r in stack.workspace.repository.list_authorizations()
    }
    standard = stack.workspace.applications.get(STANDARD_APP)
    assert (standard.id, NEWCOMER_TENANT) in records
