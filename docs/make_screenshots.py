"""Screenshots of every dashboard page for both roles, into docs/screenshots/ (issue 15).

Run from the repository root after a page changes (``make screenshots``)::

    .venv/bin/python docs/make_screenshots.py

It starts the ``make run`` world (``toolkit.localstack.LocalStack``: emulator, partner endpoints
and dashboard on free loopback ports, in a throw-away home), signs in through the emulator's
SuperID as the partner's operator (ops@partner.test) and viewer (viewer@partner.test), and has
Debian's chromium (through Playwright, as tests/browser does) save each page whole, 1400 px
wide. Every wait is for something on the page (a heading, Streamlit's run finishing), never a delay.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 900}
# Bounds on waits for the page (never delays): generous, as a busy machine renders slowly.
STEP_TIMEOUT_MS = 120_000
FIRST_RENDER_TIMEOUT_MS = 180_000
# Streamlit scrolls its main area inside the page, so Playwright's full_page sees one viewport:
# the height of the whole page is its scroll container's.
CONTENT_HEIGHT_JS = """() => Math.max(document.documentElement.scrollHeight,
    ...Array.from(document.querySelectorAll(
        '[data-testid="stMain"], [data-testid="stAppViewContainer"], section.main'
    ), (element) => element.scrollHeight))"""
# Growing the window can reflow the page (wider tables wrap less): measure again until it holds.
MAX_RESIZES = 4
# (file name, path and query, heading, text the page draws last): every page, and one opened
# Tenants record.
PAGES = (
    ("overview", "", "Overview", "Needs attention"),
    ("applications", "applications", "Applications", "Approvals"),
    ("tenants", "tenants", "Tenants", "Select a row to open its record."),
    ("tenant-record", "tenants?search=Cust12345", "Tenants", "State-change notifications"),
    ("provisioning", "provisioning", "Provisioning", "Recent runs"),
    ("jobs", "jobs", "Jobs", "Status"),
    ("activity", "activity", "Activity", "Prepare CSV export"),
)


def settled(page: Any, last: str) -> None:
    """Wait until Streamlit has drawn the page: the text it draws last is there, and no
    placeholder of an element still to come nor the running indicator's Stop button is."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(f"^{re.escape(last)}")).first).to_be_visible()
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)


def shoot_whole(page: Any, target: Path, last: str) -> None:
    """Save the page from top to bottom: the window grown to the height of its content."""
    height = VIEWPORT["height"]
    for _ in range(MAX_RESIZES):
        needed = max(VIEWPORT["height"], int(page.evaluate(CONTENT_HEIGHT_JS)))
        if needed == height:
            break
        height = needed
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        settled(page, last)
    page.screenshot(path=str(target), full_page=True)
    page.set_viewport_size(VIEWPORT)


def sign_in(page: Any, dashboard: str, emulator: str, username: str) -> None:
    from playwright.sync_api import expect

    from toolkit.localstack import DEMO_PASSWORD

    page.goto(dashboard)
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)
    button.click()
    page.wait_for_url(f"{emulator}/login/**")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{dashboard}/**")
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def shoot(dashboard: str, emulator: str, browser: Any) -> list[Path]:
    from playwright.sync_api import expect

    from toolkit.localstack import PARTNER_ADMIN, PARTNER_VIEWER

    saved = []
    for role, user in (("operator", PARTNER_ADMIN), ("viewer", PARTNER_VIEWER)):
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        page = context.new_page()
        try:
            sign_in(page, dashboard, emulator, user)
            for name, path, heading, last in PAGES:
                page.goto(f"{dashboard}/{path}")
                expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
                settled(page, last)
                target = OUT / f"{role}-{name}.png"
                shoot_whole(page, target, last)
                saved.append(target)
        finally:
            context.close()
    return saved


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: make browser-deps installs it", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from toolkit.localstack import LocalStack

    for name in [name for name in os.environ if name.startswith("SOTK_")]:
        del os.environ[name]  # the demo world's own settings, not the shell's
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sotk-screenshots-") as tmp:
        os.chdir(tmp)  # no .env and no .streamlit/ from the checkout
        with (
            LocalStack(Path(tmp) / "home", emulator_port=0, partner_port=0, dashboard_port=0) as s,
            sync_playwright() as playwright,
        ):
            urls = s.urls
            assert urls.dashboard is not None  # noqa: S101 - started with the dashboard
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                saved = shoot(urls.dashboard, urls.emulator, browser)
            finally:
                browser.close()
    for path in saved:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
