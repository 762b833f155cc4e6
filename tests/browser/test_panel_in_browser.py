"""A provisioned web panel opened in a real browser the way SuperOffice opens it (issue 12
item 3): the panel's URL is read back from the emulator, ``<uctx>`` and ``<cuid>`` are filled
in, and chromium lands, after SuperID's sign-in page, on the signed-in user's panel page.

Playwright drives Debian's chromium (``/usr/bin/chromium``); without it the test is skipped,
unless ``CI`` is set (then it fails).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.browser import journey, superid_sign_in
from support.partner import provision_internal_app

from toolkit.emulator import Emulator
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.browser]

ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"


def test_a_provisioned_panel_opens_the_users_page_in_a_browser(
    chromium: Path,
    emu: Emulator,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    provision_internal_app(emu.base_url, workspace, endpoints, APP, tenant=TENANT, username=ADMIN)

    app = workspace.applications.get(APP)
    api = workspace.tenants.system_user_api(app.id, TENANT)
    (contact,) = [p for p in api.app_web_panels() if p.prog_id == "app.contact"]
    # SuperOffice fills the template variables in when it opens the panel.
    opened = contact.url.replace("<uctx>", TENANT).replace("<cuid>", "2")
    assert opened.startswith(f"{endpoints.base_url}/panel/{app.id}?uctx={TENANT}")

    with journey(chromium, tmp_path) as page:
        page.goto(opened)
        # No session yet: SuperID's sign-in page, on the tenant's path.
        expect(page.locator("input[name=username]")).to_be_visible()
        assert f"/login/{TENANT}/oauth/authorize" in page.url
        superid_sign_in(page, USER)
        # Back through /callback (form_post) to the panel page of the signed-in user.
        signed_in = page.locator('dd[data-field="signed in as"]')
        expect(signed_in).to_have_text(USER)
        expect(page.locator('dd[data-field="tenant"]')).to_have_text(TENANT)
        assert re.match(rf"{re.escape(endpoints.base_url)}/panel\b", page.url)
