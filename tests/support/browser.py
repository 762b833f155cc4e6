"""Browser tests' start-up: Debian's chromium driven by Playwright, the local stack they open,
and the sign-in steps every journey begins with.

Playwright never downloads a browser: without ``/usr/bin/chromium`` a browser test is skipped,
unless ``CI`` is set (then a missing browser is a failure, not a silent skip). Every wait is for
an element or a URL (an event), never for a time; the timeouts below only bound those waits.
"""

from __future__ import annotations

import os
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
