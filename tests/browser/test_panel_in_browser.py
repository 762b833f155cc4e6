"""A provisioned web panel opened in a real browser the way SuperOffice opens it (issue 12
item 3): the panel's URL is read back from the emulator, ``<uctx>`` and ``<cuid>`` are filled
in, and chromium lands, after SuperID's sign-in page, on the signed-in user's panel page.

Playwright drives Debian's chromium (``/usr/bin/chromium``); without it the test is skipped,
unless ``CI`` is set (then it fails).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.emulator.seed import DEMO_PASSWORD
from toolkit.http import create_client
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

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
STEP_TIMEOUT_MS = 20_000
ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI; `make browser-deps` installs it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium, or make browser-deps)")
    return CHROMIUM


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(port=0) as emulator:
        yield emulator


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    settings = Settings(home=tmp_path / "home", _env_file=None)  # type: ignore[call-arg]
    with create_client() as http, Workspace.open(settings, http=http) as ws:
        yield ws


@pytest.fixture
def endpoints(workspace: Workspace) -> Iterator[PartnerEndpoints]:
    with PartnerEndpoints(workspace, port=0) as running:
        workspace.provisioning.public_url = running.base_url  # {public_url} in manifests
        yield running


def test_a_provisioned_panel_opens_the_users_page_in_a_browser(
    chromium: Path, emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    from playwright.sync_api import expect, sync_playwright

    workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        model="internal",
        actor="test",
    )
    with httpx.Client(timeout=10) as admin:  # the administrator installs it (notebook 02)
        start = admin.get(f"{endpoints.base_url}/install", params={"app": APP, "tenant": TENANT})
        answer = sign_in(start.headers["location"], username=ADMIN)
        assert answer.form_action is not None
        admin.post(answer.form_action, data=answer.params)
    workspace.provisioning.set_manifest(APP, 'preset = "internal"\n', actor="test")
    assert workspace.provisioning.apply(APP, TENANT, actor="test").outcome == "succeeded"

    app = workspace.applications.get(APP)
    api = workspace.tenants.system_user_api(app.id, TENANT)
    (contact,) = [p for p in api.app_web_panels() if p.prog_id == "app.contact"]
    # SuperOffice fills the template variables in when it opens the panel.
    opened = contact.url.replace("<uctx>", TENANT).replace("<cuid>", "2")
    assert opened.startswith(f"{endpoints.base_url}/panel/{app.id}?uctx={TENANT}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            expect.set_options(timeout=STEP_TIMEOUT_MS)
            page.goto(opened)
            # No session yet: SuperID's sign-in page, on the tenant's path.
            expect(page.locator("input[name=username]")).to_be_visible()
            assert f"/login/{TENANT}/oauth/authorize" in page.url
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.locator("button[type=submit]").click()
            # Back through /callback (form_post) to the panel page of the signed-in user.
            signed_in = page.locator('dd[data-field="signed in as"]')
            expect(signed_in).to_have_text(USER)
            expect(page.locator('dd[data-field="tenant"]')).to_have_text(TENANT)
            assert re.match(rf"{re.escape(endpoints.base_url)}/panel\b", page.url)
        finally:
            browser.close()
