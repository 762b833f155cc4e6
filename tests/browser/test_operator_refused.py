"""Accounts off the dashboard's allow-list are refused without a SuperID consent page (issue 15).

In ``make run`` operators are the partner's own staff: the "Operator Dashboard" is a custom
application of the partner's tenant (Cust90000, Demo Partner AS), activated there. So a
customer's administrator is refused by SuperID before any consent ("not activated for this
tenant"), and partner staff off the allow-list are refused by the dashboard; neither is ever
asked to approve the partner's dashboard for their company. Before sign-in the dashboard shows
no navigation and no Deploy button. Playwright drives Debian's chromium, as in
test_operator_sign_in.py; every wait is for a page or an element, never for a time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from support.browser import (
    FIRST_RENDER_TIMEOUT_MS,
    journey,
    local_stack,
    new_context,
    superid_sign_in,
)

from toolkit.emulator.driver import EmulatorDriverError, sign_in
from toolkit.localstack import DEMO_PASSWORD, LocalStack

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

PARTNER_TENANT = "Cust90000"
OPERATOR = "ops@partner.test"
OFF_LIST_STAFF = "staff@partner.test"
CUSTOMER_ADMIN = "admin@cust23456.test"
CONSULTANT = "consultant@multi.test"  # administrator in two customers' tenants
NOT_ACTIVATED = "Authorization error: Denied (4). The application is not activated for this tenant"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(tmp_path_factory.mktemp("refused"), seed_tenants=False) as running:
        yield running


def dashboard_authorize_url(stack: LocalStack) -> str:
    """The authorize URL the dashboard's sign-in sends a browser to (its [auth] client)."""
    auth = tomllib.loads(stack.dashboard_secrets.read_text(encoding="utf-8"))["auth"]
    query = urlencode(
        {
            "client_id": auth["client_id"],
            "redirect_uri": auth["redirect_uri"],
            "response_type": "code",
            "scope": "openid",
            "state": "s",
            "nonce": "n",
        }
    )
    return f"{stack.urls.emulator}/login/common/oauth/authorize?{query}"


def test_the_dashboard_client_belongs_to_the_partners_tenant(stack: LocalStack) -> None:
    assert stack.emulator is not None
    world = stack.emulator.world
    auth = tomllib.loads(stack.dashboard_secrets.read_text(encoding="utf-8"))["auth"]
    app = world.find_app(auth["client_id"])
    assert app is not None
    assert (app.name, app.kind, app.tenant) == ("Operator Dashboard", "custom", PARTNER_TENANT)
    assert world.active_authorization(app.client_id, PARTNER_TENANT) is not None
    tenant = world.find_tenant(PARTNER_TENANT)
    assert tenant is not None
    assert tenant.company_name == "Demo Partner AS"
    # Partner staff get a code straight away: no consent page, no tenant picker.
    staff = sign_in(dashboard_authorize_url(stack), OFF_LIST_STAFF, DEMO_PASSWORD, approve=False)
    assert "code" in staff.params


@pytest.mark.parametrize("username", [CUSTOMER_ADMIN, CONSULTANT])
def test_a_customers_administrator_is_refused_before_any_consent(
    stack: LocalStack, username: str
) -> None:
    # approve=False: had SuperID shown a consent page the driver would deny, and the sign-in
    # would end in the dashboard's callback with access_denied instead of this error page.
    with pytest.raises(EmulatorDriverError) as refused:
        sign_in(
            dashboard_authorize_url(stack),
            username,
            DEMO_PASSWORD,
            tenant="Cust23456",
            approve=False,
        )
    assert refused.value.message == NOT_ACTIVATED
    assert refused.value.status_code == 403
    # Nothing was approved on the customer's behalf.
    assert stack.emulator is not None
    auth = tomllib.loads(stack.dashboard_secrets.read_text(encoding="utf-8"))["auth"]
    assert stack.emulator.world.active_authorization(auth["client_id"], "Cust23456") is None


def open_sign_in(page: Any, dashboard: str, emulator: str) -> None:
    from playwright.sync_api import expect

    page.goto(dashboard)
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible(timeout=FIRST_RENDER_TIMEOUT_MS)
    # Before sign-in: no page names in a navigation, no Deploy button.
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    button.click()
    page.wait_for_url(f"{emulator}/login/**")


def test_off_list_accounts_are_refused_in_the_browser_without_a_consent_page(
    chromium: Path, stack: LocalStack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    urls = stack.urls
    assert urls.dashboard is not None
    with journey(chromium, tmp_path) as first:
        browser = first.context.browser
        # A customer's administrator: SuperID's error page follows the login form directly.
        page = first
        seen: list[str] = []
        page.on("framenavigated", lambda frame: seen.append(frame.url))
        open_sign_in(page, urls.dashboard, urls.emulator)
        superid_sign_in(page, CUSTOMER_ADMIN)
        expect(page.locator("body[data-superid-page=error]")).to_be_visible()
        expect(page.locator("#error-message")).to_have_text(NOT_ACTIVATED)
        expect(page.locator("body[data-superid-page=consent]")).to_have_count(0)
        expect(page.get_by_role("button", name="I approve")).to_have_count(0)
        assert not any("/consent" in url for url in seen), seen
        page.context.close()

        # Partner staff off the allow-list: back at the dashboard, refused, no navigation.
        context = new_context(browser)
        page = context.new_page()
        open_sign_in(page, urls.dashboard, urls.emulator)
        superid_sign_in(page, OFF_LIST_STAFF)
        page.wait_for_url(f"{urls.dashboard}/**")
        expect(
            page.get_by_text(f"{OFF_LIST_STAFF} is not on the dashboard's operator allow-list")
        ).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        context.close()

        # The partner's operator: straight in, and now the navigation shows.
        context = new_context(browser)
        page = context.new_page()
        open_sign_in(page, urls.dashboard, urls.emulator)
        superid_sign_in(page, OPERATOR)
        page.wait_for_url(f"{urls.dashboard}/**")
        expect(page.get_by_text(f"Signed in as {OPERATOR}")).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
        expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
        context.close()
