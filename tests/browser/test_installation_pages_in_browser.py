"""The administrator's journey in a real browser (issue 12 items 1 and 4).

* An administrator installs an application WITHOUT the SystemToken claim, lands on the
  installation page, sees the plan, provisions; the emulator then holds exactly the manifest's
  objects, each created by the administrator's credential; the uninstall page removes them and
  leaves the tenant's other objects alone.
* Signed in to the dashboard as the operator (the partner's staff), Install for Cust34567 reaches
  SuperID's sign-in page for a fresh account, never a silent re-approval.

Playwright drives Debian's chromium, as in test_install_in_browser.py; every wait is for an
element or a URL (an event), never for time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from support.browser import (
    FIRST_RENDER_TIMEOUT_MS,
    dashboard_journey,
    journey,
    superid_sign_in,
)

from toolkit.localstack import (
    NEWCOMER_TENANT,
    NEWCOMER_USERNAME,
    PARTNER_ADMIN,
    LocalStack,
)

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

# A run of a handful of steps against the local emulator; the wait ends when the summary shows.
RUN_TIMEOUT_MS = 60_000
OPERATOR = PARTNER_ADMIN  # the dashboard's operator, signed in through the same SuperID
STANDARD_APP = "Demo Standard App"
PANELS_APP = "Browser Panels App"
MANIFEST = """model = "internal"

[[lists]]
name = "Browser panels status"
[[lists.items]]
name = "Ready"
rank = 1

[[web_panels]]
prog_id = "browser.panels.contact"
name = "Browser panels"
url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"

[[buttons]]
prog_id = "browser.panels.main"
name = "Browser panels"
url = "{public_url}/panel/{app}?uctx=<uctx>"
"""
PROG_IDS = {"browser.panels.contact", "browser.panels.main.panel", "browser.panels.main.button"}


def emulator_tenant(emulator: str, ctx: str) -> dict[str, Any]:
    state = httpx.get(f"{emulator}/__emulator__/state", timeout=10).json()
    data: dict[str, Any] = state["tenant_data"][ctx.lower()]
    return data


def test_an_administrator_provisions_and_uninstalls_with_their_own_credentials(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    ws = stack.workspace
    assert ws is not None
    app = ws.applications.register_with_emulator(
        name=PANELS_APP,
        emulator_url=urls.emulator,
        redirect_uri=f"{urls.partner}/callback",
        grant_system_token=False,  # no system user: only the administrator can provision
        vendor="Demo Partner AS",
        actor="test",
    )
    ws.provisioning.set_manifest(PANELS_APP, MANIFEST, actor="test")

    with journey(chromium, tmp_path) as page:
        page.goto(f"{urls.partner}/install?app={PANELS_APP}&tenant={NEWCOMER_TENANT}")
        superid_sign_in(page, NEWCOMER_USERNAME)
        page.locator("button[name=decision][value=approve]").click()

        # The installation page: application, tenant, the plan in plain words.
        expect(page.get_by_role("heading", name=f"Install {PANELS_APP}")).to_be_visible()
        expect(page.locator('dd[data-field="tenant"]')).to_have_text(NEWCOMER_TENANT)
        expect(page.locator('dd[data-field="system user token stored"]')).to_have_text("no")
        for group in ("Lists and list items", "Web panels", "Buttons"):
            expect(page.get_by_role("heading", name=group)).to_be_visible()
        expect(page.get_by_text("Create list “Browser panels status”")).to_be_visible()
        # The page read the tenant (with the administrator's token): what it holds now.
        before = emulator_tenant(urls.emulator, NEWCOMER_TENANT)
        others = {p["entity"]["ProgId"] for p in before["web_panels"]}

        page.get_by_role("button", name="Provision").click()
        summary = page.locator("#summary")
        expect(summary).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Where to find it in SuperOffice")).to_be_visible()

        data = emulator_tenant(urls.emulator, NEWCOMER_TENANT)
        mine = [p for p in data["web_panels"] if p["owner"] == app.client_id]
        assert {p["entity"]["ProgId"] for p in mine} == PROG_IDS
        (status_list,) = [d for d in data["lists"] if d["name"] == "Browser panels status"]
        expected = {f"web_panel:{p['entity']['WebPanelId']}" for p in mine}
        expected |= {f"list:{status_list['id']}"}
        expected |= {f"list_item:{item['id']}" for item in status_list["items"]}
        created = {k: v for k, v in data["created_by"].items() if k in expected}
        assert created == dict.fromkeys(expected, f"user:{NEWCOMER_USERNAME}")
        assert set(data["created_by"]) - set(before["created_by"]) == expected

        # The uninstall page: what the application owns, Remove, and only that goes.
        page.goto(f"{urls.partner}/uninstall?app={PANELS_APP}&ctx={NEWCOMER_TENANT}")
        expect(page.get_by_role("heading", name=f"Uninstall {PANELS_APP}")).to_be_visible()
        expect(page.get_by_text("Remove list “Browser panels status”")).to_be_visible()
        page.get_by_role("button", name="Remove").click()
        expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT_MS)

    after = emulator_tenant(urls.emulator, NEWCOMER_TENANT)
    assert {p["entity"]["ProgId"] for p in after["web_panels"]} == others
    assert [d["name"] for d in after["lists"]] == [d["name"] for d in before["lists"]]
    assert [len(d["items"]) for d in after["lists"]] == [len(d["items"]) for d in before["lists"]]
    runs = ws.provisioning.runs(PANELS_APP, NEWCOMER_TENANT)
    assert [(r.operation, r.outcome, r.actor) for r in runs] == [
        ("uninstall", "succeeded", f"administrator:{NEWCOMER_USERNAME}"),
        ("apply", "succeeded", f"administrator:{NEWCOMER_USERNAME}"),
    ]
    assert ws.repository.get_authorization(PANELS_APP, NEWCOMER_TENANT).status == "active"


def test_install_from_the_dashboard_asks_superid_for_a_fresh_account(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    ws = stack.workspace
    assert ws is not None
    assert urls.dashboard is not None

    def records() -> set[tuple[str, str, object]]:
        return {
            (r.application_id, r.context_identifier, r.updated_at)
            for r in ws.repository.list_authorizations()
        }

    before = records()

    # The operator signs in to the dashboard through the emulator's SuperID: this browser now
    # holds the operator's SuperID session.
    with dashboard_journey(chromium, stack, tmp_path, OPERATOR) as page:
        page.goto(f"{urls.dashboard}/applications")  # "/" is the Overview
        expect(page.get_by_role("heading", name="Applications")).to_be_visible(
            timeout=FIRST_RENDER_TIMEOUT_MS
        )
        expander = page.get_by_test_id("stExpander").filter(has_text=STANDARD_APP)
        tenant_box = expander.get_by_label("Install for tenant", exact=True)
        tenant_box.fill(NEWCOMER_TENANT)
        tenant_box.press("Enter")
        expect(expander.get_by_text(f"Install link for {NEWCOMER_TENANT}")).to_be_visible()
        expect(expander.get_by_text("fresh account")).to_be_visible()
        install = expander.get_by_role("link", name="Install")
        expect(install).to_have_attribute(
            "href", f"{urls.partner}/install?app=Demo+Standard+App&tenant={NEWCOMER_TENANT}"
        )

        with page.context.expect_page() as new_tab:
            install.click()
        superid = new_tab.value
        # SuperID's sign-in page, although this browser is signed in as the operator.
        expect(superid.locator("body[data-superid-page=login]")).to_be_visible()
        assert superid.url.startswith(f"{urls.emulator}/login/")
        assert "prompt=login" in superid.url
        expect(superid.locator("input[name=username]")).to_have_value("")
        # Nothing was approved or refreshed by the operator's session.
        assert records() == before

        # The customer's administrator signs in there and approves: their installation page.
        superid_sign_in(superid, NEWCOMER_USERNAME)
        superid.locator("button[name=decision][value=approve]").click()
        expect(superid.get_by_role("heading", name=f"Install {STANDARD_APP}")).to_be_visible()
        expect(superid.locator('dd[data-field="approved by"]')).to_have_text(NEWCOMER_USERNAME)
