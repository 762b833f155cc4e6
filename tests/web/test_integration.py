"""The partner endpoints mounted inside a partner's own app (issue 16 item 2): made without a
workspace, bound in the app's lifespan, under a prefix in Starlette and in FastAPI; each hook
receives its typed record (an install through the emulator's SuperID pages, a state-change
notification, an uninstall, a refusal); every URL the toolkit hands out carries the prefix."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from support.pages import csrf
from support.partner import open_workspace_at

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import ConfigurationError, MalformedNotificationError, StateMismatchError
from toolkit.partner_paths import PartnerPaths
from toolkit.web import (
    EndpointError,
    Installed,
    StateChanged,
    SuperOfficeEndpoints,
    Uninstalled,
    create_app,
)
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

ADMIN = "admin@cust12345.test"
TENANT = "Cust12345"
APP = "Acme Sync"
PUBLIC_URL = "http://127.0.0.1:8000"
PREFIX = "/superoffice"
# Nobody listens here: the emulator's delivery fails and keeps the message in its log, from
# which the test posts it to the mounted endpoint itself (the test client is not on the network).
UNREACHABLE = "http://127.0.0.1:9"
MANIFEST = """
[[lists]]
name = "Acme states"
[[lists.items]]
name = "New"
"""
WAIT = 60.0  # an upper bound for a one-list removal; the wait ends with the hook


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    # No system user run queued after install: the administrator provisions on the page.
    options = {"public_url": PUBLIC_URL, "provision_after_install": False}
    with open_workspace_at(tmp_path / "home", **options) as ws:
        yield ws


class Recorder:
    """The four hooks: async ones for install and errors, plain ones for the rest (both kinds
    are allowed); each record lands in ``records``, and an uninstall sets ``uninstalled``."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.uninstalled = threading.Event()

    async def on_installed(self, record: Installed) -> None:
        self.records.append(record)

    def on_state_change(self, record: StateChanged) -> None:
        self.records.append(record)

    def on_uninstalled(self, record: Uninstalled) -> None:
        self.records.append(record)
        self.uninstalled.set()

    async def on_error(self, record: EndpointError) -> None:
        self.records.append(record)

    def of(self, kind: type) -> list[Any]:
        return [record for record in self.records if isinstance(record, kind)]


def endpoints_with(recorder: Recorder, paths: PartnerPaths) -> SuperOfficeEndpoints:
    return SuperOfficeEndpoints(
        paths,
        on_installed=recorder.on_installed,
        on_state_change=recorder.on_state_change,
        on_uninstalled=recorder.on_uninstalled,
        on_error=recorder.on_error,
    )


def starlette_app(superoffice: SuperOfficeEndpoints, workspace: Workspace) -> Starlette:
    """A partner's Starlette app: its own home page, the SuperOffice endpoints under a prefix."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with superoffice.bound(workspace):
            yield

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the partner's own home")

    return Starlette(
        routes=[Route("/", home), Mount(superoffice.prefix, app=superoffice)], lifespan=lifespan
    )


def register(emu: Emulator, workspace: Workspace) -> str:
    app = workspace.applications.register_with_emulator(
        name=APP,
        emulator_url=emu.base_url,
        redirect_uri=workspace.callback_url(),
        vendor="Acme AS",
        public_url=UNREACHABLE,
        actor="test",
    )
    return app.client_id


def install(client: TestClient, workspace: Workspace) -> httpx.Response:
    """/install under the prefix, SuperID's pages, then the form_post callback."""
    start = client.get(workspace.install_url(APP, tenant=TENANT), follow_redirects=False)
    assert start.status_code == 303, start.text
    answer = sign_in(start.headers["location"], username=ADMIN)
    assert answer.form_action == workspace.callback_url()
    return client.post(urlsplit(answer.form_action).path, data=answer.params)


def test_before_the_lifespan_binds_them_the_endpoints_answer_503(workspace: Workspace) -> None:
    superoffice = SuperOfficeEndpoints(PartnerPaths(prefix=PREFIX))
    app = starlette_app(superoffice, workspace)
    client = TestClient(app, base_url=PUBLIC_URL)  # no `with`: the lifespan does not run
    assert client.get(f"{PREFIX}/healthz").status_code == 503
    assert client.get("/").text == "the partner's own home"
    with pytest.raises(ConfigurationError):
        _ = superoffice.workspace
    with client:  # the lifespan binds them
        assert superoffice.workspace is workspace
        assert client.get(f"{PREFIX}/healthz").json() == {"status": "ok", "database": "ok"}
        assert client.get("/healthz").status_code == 404  # the partner's app has no such route
    # After the lifespan: unbound again, the workspace still the caller's and open.
    assert client.get(f"{PREFIX}/healthz").status_code == 503
    workspace.check_database()


def test_mounted_under_a_prefix_in_starlette_every_hook_gets_its_record(
    emu: Emulator, workspace: Workspace
) -> None:
    recorder = Recorder()
    superoffice = endpoints_with(recorder, PartnerPaths(prefix=PREFIX))
    with TestClient(starlette_app(superoffice, workspace), base_url=PUBLIC_URL) as client:
        # Every URL the workspace hands out carries the prefix once bound.
        assert workspace.callback_url() == f"{PUBLIC_URL}{PREFIX}/callback"
        client_id = register(emu, workspace)
        workspace.provisioning.set_manifest(APP, MANIFEST, actor="test")
        assert workspace.install_url(APP, tenant=TENANT) == (
            f"{PUBLIC_URL}{PREFIX}/install?app=Acme+Sync&tenant={TENANT}"
        )
        assert workspace.state_change_url(APP) == f"{PUBLIC_URL}{PREFIX}/state-change/{client_id}"
        app_id = workspace.applications.get(APP).id
        assert workspace.panel_url(APP) == f"{PUBLIC_URL}{PREFIX}/panel/{app_id}?uctx=<uctx>"
        assert workspace.uninstall_url(APP) == f"{PUBLIC_URL}{PREFIX}/uninstall?app=Acme+Sync"

        # on_installed: the callback under the prefix stores the record, then the hook runs.
        page = install(client, workspace)
        assert page.status_code == 200, page.text
        [installed] = recorder.of(Installed)
        assert (installed.application, installed.context_identifier) == (APP, TENANT)
        assert installed.outcome == "created"
        assert installed.result.authorization.has_system_user_token
        # The installation page's own links are under the prefix too.
        query = urlencode({"app": APP, "ctx": TENANT})
        assert f'action="{PREFIX}/installation?{query.replace("&", "&amp;")}"' in page.text

        # Provision on the installation page (its form posts under the prefix) ...
        form = {"csrf": csrf(page.text)}
        provisioned = client.post(
            f"{PREFIX}/installation?{query}",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert provisioned.status_code == 303, provisioned.text
        assert provisioned.headers["location"] == f"{PREFIX}/installation?{query}"
        progress = workspace.installation_pages.wait(APP, TENANT, WAIT)
        assert progress is not None
        assert progress.state == "succeeded"
        status = client.get(f"{PREFIX}/installation/status?{query}")
        assert status.json()["state"] == "succeeded"
        assert recorder.of(Uninstalled) == []  # an apply is not an uninstall

        # ... then on_uninstalled: the uninstall page's removal (the administrator's cookie).
        uninstall_page = client.get(f"{PREFIX}/uninstall?{query}", follow_redirects=False)
        assert uninstall_page.status_code == 200, uninstall_page.text
        removal = client.post(
            f"{PREFIX}/uninstall?{query}",
            content=urlencode({"csrf": csrf(uninstall_page.text)}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert removal.status_code == 303, removal.text
        assert removal.headers["location"] == f"{PREFIX}/uninstall?{query}"
        assert recorder.uninstalled.wait(WAIT)
        [uninstalled] = recorder.of(Uninstalled)
        assert (uninstalled.application, uninstalled.context_identifier) == (APP, TENANT)
        assert uninstalled.state == "succeeded"
        assert uninstalled.progress.operation == "uninstall"

        # on_state_change: SuperOffice's notification at the application's URL under the prefix.
        emu.change_tenant(TENANT, "Suspend")
        deliveries = emu.wait_for_webhooks(timeout=10)
        assert deliveries[-1]["url"] == f"{UNREACHABLE}/state-change/{client_id}"
        path = urlsplit(workspace.state_change_url(APP)).path
        notified = client.post(path, json=deliveries[-1]["message"])
        assert notified.status_code == 200, notified.text
        [changed] = recorder.of(StateChanged)
        assert (changed.application, changed.context_identifier) == (APP, TENANT)
        assert (changed.change_type, changed.outcome) == ("Suspend", "applied")
        assert workspace.repository.get_authorization(APP, TENANT).status == "suspended"

        # on_error: a refused notification and a replayed callback, each with its status.
        assert recorder.of(EndpointError) == []
        bad = client.post(path, content=b"{}", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        replay = client.post(f"{PREFIX}/callback", data={"state": "x" * 20, "code": "y"})
        assert replay.status_code == 400
        refusals = recorder.of(EndpointError)
        assert [(r.endpoint, r.status, r.path) for r in refusals] == [
            ("state_change", 400, path),
            ("callback", 400, f"{PREFIX}/callback"),
        ]
        assert isinstance(refusals[0].error, MalformedNotificationError)
        assert isinstance(refusals[1].error, StateMismatchError)
        assert all(r.request_id for r in refusals)


def test_mounted_in_fastapi_with_own_paths_and_a_hook_that_fails(
    emu: Emulator, workspace: Workspace
) -> None:
    """FastAPI mounts it like Starlette; the paths are the partner's; a hook that raises is
    reported to on_error and the install stands."""
    errors: list[EndpointError] = []

    def on_installed(record: Installed) -> None:
        raise RuntimeError("the partner's hook broke")

    paths = PartnerPaths(
        prefix="/integrations/so",
        install="/start",
        callback="/oauth/return",
        state_change="/webhooks/tenant",
        panel="/ui",
        installation="/setup",
        uninstall="/remove",
        health="/ping",
    )
    superoffice = SuperOfficeEndpoints(paths, on_installed=on_installed, on_error=errors.append)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with superoffice.bound(workspace):
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"app": "the partner's own"}

    app.mount(superoffice.prefix, superoffice)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        assert client.get("/").json() == {"app": "the partner's own"}
        assert client.get("/integrations/so/ping").status_code == 200
        base = f"{PUBLIC_URL}/integrations/so"
        assert workspace.callback_url() == f"{base}/oauth/return"
        register(emu, workspace)
        workspace.provisioning.set_manifest(APP, MANIFEST, actor="test")
        assert workspace.install_url(APP).startswith(f"{base}/start?app=")
        assert workspace.state_change_url(APP).startswith(f"{base}/webhooks/tenant/")
        assert workspace.uninstall_url(APP).startswith(f"{base}/remove?app=")

        page = install(client, workspace)
        assert page.status_code == 200, page.text
        assert "/integrations/so/setup?" in unescape(page.text)
        assert workspace.is_installed(APP, TENANT)
        [hook_error] = errors
        assert (hook_error.endpoint, hook_error.status) == ("hook", 500)
        assert isinstance(hook_error.error, RuntimeError)
        # The root paths are not this app's.
        assert client.get("/install", params={"app": APP}).status_code == 404


def test_a_mount_at_another_prefix_than_the_paths_say_is_refused(workspace: Workspace) -> None:
    superoffice = SuperOfficeEndpoints(PartnerPaths(prefix="/so"))
    app = starlette_app(superoffice, workspace)
    app.router.routes.append(Mount("/elsewhere", app=superoffice))
    with TestClient(app, base_url=PUBLIC_URL) as client:
        assert client.get("/so/healthz").status_code == 200
        wrong = client.get("/elsewhere/healthz")
        assert wrong.status_code == 500
        assert "misconfigured" in wrong.text
        assert wrong.headers["cache-control"] == "no-store"


def test_a_root_mounted_endpoints_object_refuses_a_prefix_and_another_workspace(
    workspace: Workspace, tmp_path: Path
) -> None:
    superoffice = SuperOfficeEndpoints()
    app = Starlette(routes=[Mount("/x", app=superoffice)])
    superoffice.bind(workspace)
    try:
        assert TestClient(app).get("/x/healthz").status_code == 500
        settings = Settings(home=tmp_path / "other", _env_file=None)  # type: ignore[call-arg]
        with Workspace.open(settings) as other, pytest.raises(ConfigurationError):
            superoffice.bind(other)
    finally:
        superoffice.unbind()


def test_the_configured_prefix_is_the_default_and_must_match_the_mount(tmp_path: Path) -> None:
    """SOTK_PARTNER_PREFIX: the CLI's and dashboard's URLs carry it without any bind, create_app
    serves under it, and endpoints mounted with another prefix refuse to bind."""
    settings = Settings(  # type: ignore[call-arg]
        home=tmp_path / "home", public_url=PUBLIC_URL, partner_prefix="/so", _env_file=None
    )
    with Workspace.open(settings) as ws:
        assert ws.callback_url() == f"{PUBLIC_URL}/so/callback"
        with pytest.raises(ConfigurationError, match="SOTK_PARTNER_PREFIX"):
            SuperOfficeEndpoints(PartnerPaths(prefix="/other")).bind(ws)
        client = TestClient(create_app(ws), base_url=PUBLIC_URL)
        assert client.get("/so/healthz").status_code == 200
        assert client.get("/healthz").status_code == 404
        landing = client.get("/so/")
        assert landing.status_code == 200
        assert "SuperOffice partner endpoints" in landing.text
    with pytest.raises(ValueError, match="partner_prefix"):
        Settings(partner_prefix="so/", _env_file=None)  # type: ignore[call-arg]
