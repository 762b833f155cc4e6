"""Browser tests' start-up: Debian's chromium driven by Playwright, the local stack they open,
the sign-in steps every journey begins with, and the journey itself (a browser and a page that
screenshot every open page when the journey fails, then close).

Playwright never downloads a browser: without ``/usr/bin/chromium`` a browser test is skipped,
unless ``CI`` is set (then a missing browser is a failure, not a silent skip). Every wait is for
an element or a URL (an event), never for a time; the timeouts below only bound those waits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the stack imports the whole toolkit: only browser tests pay for it
    from toolkit.localstack import LocalStack

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
# Per step; Streamlit's first render of a page imports pandas and opens the store.
STEP_TIMEOUT_MS = 20_000
# Streamlit's first run of a page imports pandas and the toolkit; on a busy 2-core machine that
# alone can take well over Playwright's default 5 s.
FIRST_RENDER_TIMEOUT_MS = 60_000
# The window of the journeys that click Streamlit's table by position: the layout those
# positions were taken in.
WIDE_VIEWPORT = {"width": 1400, "height": 900}
# The Tenants table's rows are drawn on a canvas: a row is clicked at its row marker, the first
# column, by position (the header row and each row are this tall in Streamlit's grid).
ROW_HEIGHT_PX = 35


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI; `make browser-deps` installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium, or make browser-deps)")
    return CHROMIUM


@contextmanager
def local_stack(folder: Path, **options: Any) -> Iterator[LocalStack]:
    """``make run``'s world on free ports, its home under ``folder``, run from ``folder`` (no
    ``.env`` and no ``.streamlit/`` of the checkout) with no ``SOTK_*`` variable of the caller's;
    the working folder and the variables are restored afterwards."""
    from toolkit.localstack import LocalStack

    saved = {name: value for name, value in os.environ.items() if name.startswith("SOTK_")}
    cwd = Path.cwd()
    for name in saved:
        del os.environ[name]
    os.chdir(folder)
    try:
        with LocalStack(
            folder / "home", emulator_port=0, partner_port=0, dashboard_port=0, **options
        ) as running:
            yield running
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A fresh local stack per test (a test that needs other options defines its own)."""
    with local_stack(tmp_path) as running:
        yield running


def launch(playwright: Any, chromium: Path, **context_options: Any) -> tuple[Any, Any]:
    """A headless chromium and a context whose every step waits at most STEP_TIMEOUT_MS."""
    from playwright.sync_api import expect

    browser = playwright.chromium.launch(
        executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
    )
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    return browser, new_context(browser, **context_options)


def new_context(browser: Any, **options: Any) -> Any:
    """A fresh context (no cookies: nobody signed in) with the same step timeout."""
    context = browser.new_context(**options)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context


def superid_sign_in(page: Any, username: str) -> None:
    """Fill in SuperID's login form (the emulator's demo password) and submit it."""
    from playwright.sync_api import expect

    from toolkit.emulator.seed import DEMO_PASSWORD

    expect(page.locator("body[data-superid-page=login]")).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("button[type=submit]").click()


def open_dashboard_sign_in(page: Any, dashboard: str, emulator: str) -> None:
    """Open the dashboard and press its Sign in button: SuperID's login page shows."""
    from playwright.sync_api import expect

    page.goto(dashboard)
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)
    button.click()
    page.wait_for_url(f"{emulator}/login/**")


def sign_in_to_dashboard(page: Any, dashboard: str, emulator: str, username: str) -> None:
    """An operator's sign-in to the dashboard, ending signed in on the dashboard."""
    from playwright.sync_api import expect

    open_dashboard_sign_in(page, dashboard, emulator)
    superid_sign_in(page, username)
    page.wait_for_url(f"{dashboard}/**")
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def screenshots(pages: list[Any], folder: Path) -> None:
    """What each page showed when a journey failed, for the report."""
    for index, shown in enumerate(pages):
        if not shown.is_closed():
            shown.screenshot(path=str(folder / f"failure-{index}.png"), full_page=True)


@contextmanager
def journey(chromium: Path, folder: Path, **context_options: Any) -> Iterator[Any]:
    """A page in a headless chromium (its context is ``page.context``, its browser
    ``page.context.browser``); when the journey fails, every page still open in any of the
    browser's contexts (new tabs, later contexts) is saved as a screenshot under ``folder``;
    the browser is closed either way."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, context = launch(playwright, chromium, **context_options)
        try:
            yield context.new_page()
        except BaseException:
            screenshots([shown for ctx in browser.contexts for shown in ctx.pages], folder)
            raise
        finally:
            browser.close()


@contextmanager
def dashboard_journey(
    chromium: Path, stack: LocalStack, folder: Path, username: str, **context_options: Any
) -> Iterator[Any]:
    """A journey whose page starts signed in to the stack's dashboard as ``username``."""
    dashboard = stack.urls.dashboard
    assert dashboard is not None
    with journey(chromium, folder, **context_options) as page:
        sign_in_to_dashboard(page, dashboard, stack.urls.emulator, username)
        yield page


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    from playwright.sync_api import expect

    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    choice = page.get_by_role("option", name=option)
    expect(choice).to_be_visible()
    choice.click()


def open_overview(page: Any, dashboard: str) -> None:
    """Go to "/", the Overview, and wait for its heading."""
    from playwright.sync_api import expect

    page.goto(dashboard)
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


def grid_row(page: Any, table: Any, cell: str) -> Any:
    """The rows of a Streamlit table with a cell reading exactly ``cell``: the grid draws on a
    canvas but keeps an (off-screen) accessible table of its cells."""
    return table.locator("tr[role=row]").filter(
        has=page.locator("td[role=gridcell]", has_text=re.compile(f"^{re.escape(cell)}$"))
    )


def click_grid_row(page: Any, grid: Any, number: int) -> None:
    """Click row ``number`` (1 is the first under the header) at its row marker."""
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 12, box["y"] + ROW_HEIGHT_PX * number + ROW_HEIGHT_PX / 2)
