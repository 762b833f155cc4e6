"""Web panel URLs that work when SuperOffice opens them (issue 12 item 3), end to end over HTTP:
the internal preset is provisioned into the emulator, each web panel's, button's and task
menu's URL is read back from the tenant, filled in the way SuperOffice fills template
variables (``<uctx>`` = the context identifier, ``<cuid>`` = the current company, SuperOfficeDocs
``common/includes/variable/generated/system-variables.md`` and ``table-company.md``), and opened:
the user signs in and sees their own panel page. Every panel is visible for every user group."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import httpx
import pytest
from support.pages import field
from support.partner import provision_internal_app

from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import ManifestError
from toolkit.tenant.task_menus import app_task_menus, item_user_groups
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"
COMPANY_ID = "2"  # the company card the user has open
# What SuperOffice puts in for each variable when it opens the panel.
FILLED = {"uctx": TENANT, "cuid": COMPANY_ID}


@pytest.fixture
def provisioned(emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints) -> str:
    provision_internal_app(emu.base_url, workspace, endpoints, APP, tenant=TENANT, username=ADMIN)
    return APP


def fill(url: str) -> str:
    """Fill in template variables as SuperOffice does (UrlEncoding None: the value as is)."""
    return re.sub(r"<([A-Za-z0-9_]+)>", lambda m: quote(FILLED[m.group(1).lower()]), url)


def open_as(browser: httpx.Client, url: str, endpoints: PartnerEndpoints, username: str) -> str:
    """Open a panel URL with no session: SuperID's tenant path, sign in, back to the panel."""
    start = browser.get(url)
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    assert urlsplit(location).path == f"/login/{TENANT}/oauth/authorize"
    result = sign_in(location, username=username)
    assert result.form_action == f"{endpoints.base_url}/callback"
    back = browser.post(result.form_action, data=result.params)
    assert back.status_code == 303, back.text
    page = browser.get(f"{endpoints.base_url}{back.headers['location']}")
    assert page.status_code == 200, page.text
    return page.text


def test_a_provisioned_panel_url_filled_in_like_superoffice_opens_the_users_panel(
    provisioned: str, workspace: Workspace, endpoints: PartnerEndpoints
) -> None:
    app = workspace.applications.get(provisioned)
    api = workspace.tenants.system_user_api(app.id, TENANT)
    panels = {p.prog_id: p for p in api.app_web_panels()}
    assert set(panels) == {"app.contact", "app.main.panel", "app.main.button", "app.window.button"}
    contact = panels["app.contact"]
    assert contact.url == f"{endpoints.base_url}/panel/{app.id}?uctx=<uctx>&contact=<cuid>"
    # The new-window button: the application's page, in a window of its own.
    window = panels["app.window.button"]
    assert (window.window_name, str(window.visible_in)) == ("_blank", "ButtonPanelTask")
    (task,) = app_task_menus(api)
    assert (task.prog_id, task.table_name, task.task_type) == ("app.task.contact", "contact", "Url")

    with httpx.Client(timeout=10) as browser:
        page = open_as(browser, fill(contact.url), endpoints, USER)
        assert field(page, "signed in as") == USER
        assert field(page, "tenant") == TENANT
        # Signed in, the other URLs open the same user's page directly.
        for url in (window.url, panels["app.main.panel"].url, task.url_or_soprotocol):
            again = browser.get(fill(url))
            assert again.status_code == 200, url
            assert field(again.text, "signed in as") == USER

    # Unfilled (opened by hand, not by SuperOffice): a clear 400, not a sign-in.
    with httpx.Client(timeout=10) as stranger:
        raw = stranger.get(contact.url.replace("<", "%3C").replace(">", "%3E"))
        assert raw.status_code == 400
        assert "template variable" in raw.text


def test_every_provisioned_panel_is_visible_for_every_user_group(
    provisioned: str, workspace: Workspace
) -> None:
    app = workspace.applications.get(provisioned)
    api = workspace.tenants.system_user_api(app.id, TENANT)
    for panel in api.app_web_panels():
        groups = item_user_groups(api, "WebPanel", panel.web_panel_id)
        assert groups
        assert all(group["Selected"] is True for group in groups), panel.prog_id


def test_a_manifest_whose_panel_url_could_never_identify_the_application_is_refused(
    provisioned: str, workspace: Workspace
) -> None:
    before = workspace.repository.get_application_manifest(provisioned)
    nameless = (
        '[[web_panels]]\nprog_id = "p"\nname = "P"\nvisible_in = "ContactCard"\n'
        'url = "{public_url}/panel?uctx=<uctx>"\n'
    )
    with pytest.raises(ManifestError, match="without naming the application"):
        workspace.provisioning.set_manifest(provisioned, nameless, actor="test")
    assert workspace.repository.get_application_manifest(provisioned) == before
