"""The installation and uninstall pages against the emulator: the administrator provisions with
their own credential (Bearer + SO-AppToken, protocol §7), sees the plan, follows the progress,
and can remove what the application owns."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from support.pages import csrf, field

from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import ApiError, ApiUnauthorizedError, SessionExpiredError
from toolkit.provisioning.plan import ProvisioningApi
from toolkit.web import PartnerEndpoints
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"
WAIT = 60.0  # an upper bound for a run of a handful of steps; the wait ends with the run
MANIFEST = """
[[lists]]
name = "Acme states"
[[lists.items]]
name = "New"
[[lists.items]]
name = "Synced"

[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "https://partner.example.com/panel/{app}?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"

[[buttons]]
prog_id = "acme.main"
name = "Acme portal"
url = "https://partner.example.com/panel/{app}?uctx=<uctx>"
optional = true
"""
MANIFEST_PROG_IDS = {"acme.contact", "acme.main.panel", "acme.main.button"}


@pytest.fixture
def registered(emu: Emulator, workspace: Workspace, endpoints: PartnerEndpoints) -> str:
    """An application WITHOUT the SystemToken claim, with a manifest."""
    workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=f"{endpoints.base_url}/callback",
        grant_system_token=False,
        vendor="Acme AS",
        actor="test",
    )
    workspace.provisioning.set_manifest(APP, MANIFEST, actor="test")
    return APP


def deliver(browser: httpx.Client, authorize_url: str, username: str = ADMIN) -> httpx.Response:
    """SuperID's pages, then what the browser does with its auto-submitting form."""
    result = sign_in(authorize_url, username=username)
    assert result.form_action is not None
    return browser.post(result.form_action, data=result.params)


def install(
    browser: httpx.Client, endpoints: PartnerEndpoints, username: str = ADMIN
) -> httpx.Response:
    query = urlencode({"app": APP, "tenant": TENANT, "confirm": "1"})
    start = browser.get(f"{endpoints.base_url}/install?{query}")
    assert start.status_code == 303, start.text
    return deliver(browser, start.headers["location"], username)


def page_url(endpoints: PartnerEndpoints, path: str) -> str:
    return f"{endpoints.base_url}{path}?{urlencode({'app': APP, 'ctx': TENANT})}"


def tenant_data(emu: Emulator) -> dict[str, Any]:
    state = httpx.get(f"{emu.base_url}/__emulator__/state", timeout=10).json()
    data: dict[str, Any] = state["tenant_data"][TENANT.lower()]
    return data


def provision(
    browser: httpx.Client,
    endpoints: PartnerEndpoints,
    workspace: Workspace,
    page: str,
    *,
    optional: tuple[str, ...] = ("button:acme.main",),
    path: str = "/installation",
) -> dict[str, Any]:
    form = [("csrf", csrf(page)), *(("optional", key) for key in optional)]
    response = browser.post(
        page_url(endpoints, path),
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303, response.text
    progress = workspace.installation_pages.wait(APP, TENANT, WAIT)
    assert progress is not None
    status = browser.get(page_url(endpoints, "/installation/status"))
    assert status.status_code == 200
    body: dict[str, Any] = status.json()
    assert body["finished"] is True
    return body


def test_an_administrator_provisions_with_their_own_token_without_a_system_user(
    registered: str,
    emu: Emulator,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    page = install(browser, endpoints)
    assert page.status_code == 200, page.text
    text = page.text
    assert "<h1>Install Acme Sync</h1>" in text
    assert field(text, "tenant") == TENANT
    assert field(text, "system user token stored") == "no"
    assert field(text, "tenant state") == "Running"
    assert field(text, "provisioning") == "not yet"
    for group in ("Lists and list items", "Web panels", "Buttons"):
        assert f'data-group="{group}"' in text
    assert "Create item “Synced” in list “Acme states”" in unescape(text)
    assert 'name="optional" value="button:acme.main" checked' in text
    record = workspace.repository.get_authorization(APP, TENANT)
    assert record.system_user_token is None
    # The token stays server-side: neither page nor cookie holds it.
    sessions_cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
    assert "8A:" not in text
    assert "8A:" not in sessions_cookie

    body = provision(browser, endpoints, workspace, text)
    assert body["state"] == "succeeded", body
    assert body["actor"] == f"administrator:{ADMIN}"

    data = tenant_data(emu)
    client_id = workspace.applications.get(APP).client_id
    panels = {p["entity"]["ProgId"]: p for p in data["web_panels"] if p["owner"] == client_id}
    assert set(panels) == MANIFEST_PROG_IDS
    (acme_list,) = [d for d in data["lists"] if d["name"] == "Acme states"]
    assert [i["name"] for i in acme_list["items"]] == ["New", "Synced"]
    expected = {f"web_panel:{p['entity']['WebPanelId']}" for p in panels.values()}
    expected |= {f"list:{acme_list['id']}"}
    expected |= {f"list_item:{item['id']}" for item in acme_list["items"]}
    assert data["created_by"] == dict.fromkeys(expected, f"user:{ADMIN}")

    (run,) = workspace.provisioning.runs(APP, TENANT)
    assert (run.actor, run.outcome) == (f"administrator:{ADMIN}", "succeeded")
    again = browser.get(page_url(endpoints, "/installation"))
    assert again.status_code == 200
    assert 'id="summary"' in again.text
    assert "in the navigator" in unescape(again.text)
    assert 'id="run"' not in again.text  # nothing left to do: no Provision button
    actions = [e.action for e in workspace.repository.list_audit(application=APP)]
    assert "installation_page.apply_started" in actions


def test_an_optional_part_left_unchecked_is_not_created(
    registered: str,
    emu: Emulator,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    page = install(browser, endpoints)
    assert provision(browser, endpoints, workspace, page.text, optional=())["state"] == "succeeded"
    owned = {p["entity"]["ProgId"] for p in tenant_data(emu)["web_panels"] if p["owner"]}
    assert owned == {"acme.contact"}


def test_the_uninstall_page_removes_what_the_application_owns_and_nothing_else(
    registered: str,
    emu: Emulator,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    page = install(browser, endpoints)
    provision(browser, endpoints, workspace, page.text)
    before = tenant_data(emu)
    others = {p["entity"]["ProgId"] for p in before["web_panels"] if p["owner"] is None}
    assert "superoffice.community" in others

    uninstall = browser.get(page_url(endpoints, "/uninstall"))
    assert uninstall.status_code == 200, uninstall.text
    assert "<h1>Uninstall Acme Sync</h1>" in uninstall.text
    assert "acme.main.button" in uninstall.text
    assert "Remove list “Acme states”" in unescape(uninstall.text)
    body = provision(browser, endpoints, workspace, uninstall.text, optional=(), path="/uninstall")
    assert body["state"] == "succeeded", body
    assert body["operation"] == "uninstall"

    after = tenant_data(emu)
    assert {p["entity"]["ProgId"] for p in after["web_panels"]} == others
    assert not any(d["name"] == "Acme states" for d in after["lists"])
    category = next(d for d in after["lists"] if d["name"] == "Category")
    assert len(category["items"]) == 4
    # Uninstall does not revoke (protocol §3): the record stays, the runs and audit say it.
    assert workspace.repository.get_authorization(APP, TENANT).status == "active"
    runs = workspace.provisioning.runs(APP, TENANT)
    assert (runs[0].operation, runs[0].actor) == ("uninstall", f"administrator:{ADMIN}")
    actions = [e.action for e in workspace.repository.list_audit(application=APP)]
    assert "installation_page.uninstall_started" in actions


def test_the_uninstall_url_without_a_tenant_signs_in_first(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    install(browser, endpoints)
    with httpx.Client(timeout=10, follow_redirects=False) as other:
        start = other.get(f"{endpoints.base_url}/uninstall?app={APP}")
        assert start.status_code == 303
        assert urlsplit(start.headers["location"]).path == "/login/common/oauth/authorize"
        back = deliver(other, start.headers["location"])
        assert back.status_code == 303
        assert back.headers["location"] == f"/uninstall?app=Acme+Sync&ctx={TENANT}"
        page = other.get(f"{endpoints.base_url}{back.headers['location']}")
        assert page.status_code == 200
        assert "<h1>Uninstall Acme Sync</h1>" in page.text


def test_a_user_who_is_not_an_administrator_is_refused(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    install(browser, endpoints)
    with httpx.Client(timeout=10, follow_redirects=False) as user_browser:
        refused = install(user_browser, endpoints, username=USER)
        assert refused.status_code == 403
        assert "Administrator required" in refused.text
        assert not any(c.name.startswith("sotk_admin_") for c in user_browser.cookies.jar)
        # Without an administrator session the page sends the browser to SuperID.
        page = user_browser.get(page_url(endpoints, "/installation"))
        assert page.status_code == 303
        status = user_browser.get(page_url(endpoints, "/installation/status"))
        assert status.status_code == 401


def test_a_tenant_that_is_not_running_is_said_so(
    registered: str,
    emu: Emulator,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    install(browser, endpoints)
    changed = httpx.post(
        f"{emu.base_url}/__emulator__/tenants/{TENANT}/state", json={"state": "Suspended"}
    )
    assert changed.status_code == 200
    workspace.tenants.status(APP, TENANT, refresh=True)
    page = browser.get(page_url(endpoints, "/installation"))
    assert page.status_code == 200
    assert field(page.text, "tenant state") == "Suspended"
    assert 'id="not-running"' in page.text
    assert 'id="run"' not in page.text


class RefusedOnce:
    """The administrator's client, whose first list item create (one item, or a new list's
    items in one request) answers 401 (token gone)."""

    def __init__(self, inner: ProvisioningApi) -> None:
        self.inner = inner
        self.refused = False

    def _refuse_once(self, method: str) -> None:
        if not self.refused:
            self.refused = True
            raise ApiUnauthorizedError(
                "the access token is not valid", status_code=401, method=method, url="x"
            )

    def create_list_item(self, list_ref: Any, entity: Any) -> Any:
        self._refuse_once("POST")
        return self.inner.create_list_item(list_ref, entity)

    def save_list_items(self, list_ref: Any, entities: Any) -> Any:
        self._refuse_once("PUT")
        return self.inner.save_list_items(list_ref, entities)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_token_refused_mid_run_asks_to_sign_in_again_and_the_run_resumes(
    registered: str,
    emu: Emulator,
    workspace: Workspace,
    endpoints: PartnerEndpoints,
    browser: httpx.Client,
) -> None:
    pages = workspace.installation_pages
    pages.wrap_api = RefusedOnce  # type: ignore[assignment]
    page = install(browser, endpoints)
    body = provision(browser, endpoints, workspace, page.text)
    assert body["state"] == "needs_sign_in", body
    first = workspace.provisioning.run(body["run_id"])
    shown = browser.get(page_url(endpoints, "/installation"))
    assert 'id="sign-in-again"' in shown.text

    pages.wrap_api = None
    again = browser.get(page_url(endpoints, "/installation") + "&signin=1")
    assert again.status_code == 303
    back = deliver(browser, again.headers["location"])
    assert back.status_code == 303
    assert back.headers["location"] == f"/installation?app=Acme+Sync&ctx={TENANT}"
    page = browser.get(f"{endpoints.base_url}{back.headers['location']}")
    body = provision(browser, endpoints, workspace, page.text)
    assert body["state"] == "succeeded", body
    second = workspace.provisioning.run(body["run_id"])
    done_first = sum(1 for s in first.steps if s.outcome in ("done", "adopted"))
    assert done_first >= 1
    assert second.steps_total == first.steps_total - done_first  # only the rest
    owned = [p["entity"]["ProgId"] for p in tenant_data(emu)["web_panels"] if p["owner"]]
    assert sorted(owned) == sorted(MANIFEST_PROG_IDS)  # nothing twice


def test_a_forged_form_is_refused(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    install(browser, endpoints)
    response = browser.post(page_url(endpoints, "/installation"), data={"csrf": "forged"})
    assert response.status_code == 403
    assert workspace.provisioning.runs(APP, TENANT) == []


def test_reinstalling_an_active_tenant_says_so_before_anything_changes(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    install(browser, endpoints)
    before = workspace.repository.get_authorization(APP, TENANT)
    query = urlencode({"app": APP, "tenant": TENANT})
    page = browser.get(f"{endpoints.base_url}/install?{query}")
    assert page.status_code == 200
    assert 'id="already-installed"' in page.text
    assert ADMIN in page.text
    after = workspace.repository.get_authorization(APP, TENANT)
    assert (after.updated_at, after.approved_at) == (before.updated_at, before.approved_at)
    onward = browser.get(f"{endpoints.base_url}/install?{query}&confirm=1")
    assert onward.status_code == 303
    sent: Mapping[str, list[str]] = parse_qs(urlsplit(onward.headers["location"]).query)
    assert sent["prompt"] == ["login"]
    assert sent["acr_values"] == [f"tenant:{TENANT}"]


def test_a_panel_session_never_passes_for_an_administrator_session(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    install(browser, endpoints)
    app = workspace.applications.get(APP)
    # A normal user's panel session (token_urlsafe ids never hold a dot), for the same tenant.
    workspace.repository.add_user_session(
        "panelsessionid",
        application_id=app.id,
        context_identifier=TENANT,
        user=USER,
        access_token="8A:Cust12345.user",
        csrf_token="csrf",
        ttl=timedelta(minutes=5),
    )
    with pytest.raises(SessionExpiredError):
        workspace.installation_pages.session("panelsessionid", APP, TENANT)
    with httpx.Client(timeout=10, follow_redirects=False) as other:
        other.cookies.set(workspace.installation_pages.cookie_name(APP, TENANT), "panelsessionid")
        assert other.get(page_url(endpoints, "/installation")).status_code == 303
        assert other.get(page_url(endpoints, "/installation/status")).status_code == 401


class Broken:
    """The administrator's client, whose reads fail with a SuperOffice 500."""

    def __init__(self, inner: ProvisioningApi) -> None:
        self.inner = inner

    def lists(self) -> Any:
        raise ApiError("boom", status_code=500, method="GET", url="x")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_tenant_api_failure_is_a_clear_page(
    registered: str, workspace: Workspace, endpoints: PartnerEndpoints, browser: httpx.Client
) -> None:
    install(browser, endpoints)
    workspace.installation_pages.wrap_api = Broken  # type: ignore[assignment]
    page = browser.get(page_url(endpoints, "/installation"))
    assert page.status_code == 502
    assert "Cannot read the tenant" in page.text
    assert "boom" not in page.text
