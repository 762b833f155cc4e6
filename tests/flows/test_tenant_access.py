"""Tenant access end to end against the emulator: state API, routing and 421, faults and retries,
REST as the system user and as a user, web panel ownership, SOAP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit.auth.oidc import SuperIdClient, callback_params_from_url
from toolkit.config import Environment
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import (
    ApiForbiddenError,
    ApiNotFoundError,
    RetryExhaustedError,
    TenantNotRunningError,
    TransportError,
    UnknownTenantError,
)
from toolkit.http import HttpTimeouts, RetryPolicy, create_client
from toolkit.keys import load_private_key, private_key_to_pem
from toolkit.store import Repository, generate_key_text, open_store
from toolkit.tenant import (
    ListItemEntity,
    TenantAccess,
    TenantState,
    UserCredential,
    VisibleIn,
    WebPanelEntity,
)

pytestmark = pytest.mark.emulator

REDIRECT_URI = "http://127.0.0.1:8000/callback"
ADMIN = "admin@cust12345.test"
USER = "user@cust12345.test"
CTX = "Cust12345"


class Sleeps:
    """A retry sleep that records every wait and really waits (bounded, for real faults)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, 3.0))


@pytest.fixture
def environment(emu: Emulator) -> Environment:
    return Environment.emulator(emu.base_url)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with create_client() as client:
        yield client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Repository]:
    repository = open_store(None, tmp_path / "home", generate_key_text("flow"))
    yield repository
    repository.close()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def tenants(store: Repository, http: httpx.Client, sleeps: Sleeps) -> TenantAccess:
    retry = RetryPolicy(backoff_base=0.05, backoff_cap=0.2, sleep=sleeps).seeded(1)
    return TenantAccess(store, http, api_retry=retry, status_retry=retry)


def install(
    emu: Emulator,
    environment: Environment,
    http: httpx.Client,
    store: Repository,
    name: str,
) -> dict[str, Any]:
    """Register an app in the emulator, let the admin install it (a real sign-in), store it."""
    app = emu.register_app(name=name, redirect_urls=[REDIRECT_URI], grant_system_token=True)
    client = SuperIdClient(
        environment, app["client_id"], app["client_secret"], REDIRECT_URI, http=http
    )
    result = sign_in(client.begin_sign_in().url, username=ADMIN, password="superid-demo")
    assert result.redirect_url is not None
    signed_in = client.complete_sign_in(callback_params_from_url(result.redirect_url))
    token = signed_in.claims.system_user_token
    assert token
    store.add_application(
        name,
        environment="emulator",
        environment_url=environment.base_url,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        private_key=private_key_to_pem(load_private_key(app["private_key_xml"])),
    )
    store.put_authorization(name, CTX, token_issued_at=datetime.now(UTC), system_user_token=token)
    return app


@pytest.fixture
def app(
    emu: Emulator, environment: Environment, http: httpx.Client, store: Repository
) -> dict[str, Any]:
    return install(emu, environment, http, store, "Acme Sync")


def host_of(url: str | None) -> str:
    assert url is not None
    return httpx.URL(url).netloc.decode()


def test_the_state_api(emu: Emulator, environment: Environment, tenants: TenantAccess) -> None:
    client = tenants.status_client(environment)
    status = client.status(CTX)
    assert status.state is TenantState.Running
    assert status.is_running
    assert status.is_available
    assert status.endpoint == emu.tenant_url(CTX)
    assert status.api == f"{emu.tenant_url(CTX)}/api"
    assert status.valid_until is not None
    assert status.valid_until > datetime.now(UTC) - timedelta(seconds=5)
    with pytest.raises(UnknownTenantError):
        client.require_running("Cust99999")

    emu.set_tenant_state(CTX, "OfflineMaintenance")
    client.invalidate(CTX)
    with pytest.raises(TenantNotRunningError) as caught:
        client.require_running(CTX)
    assert caught.value.state is TenantState.OfflineMaintenance
    fetches = client.fetch_count
    for _ in range(3):  # no calls until ValidUntil: the cached answer is reused
        with pytest.raises(TenantNotRunningError):
            client.require_running(CTX)
    assert client.fetch_count == fetches


def test_rest_as_the_system_user(tenants: TenantAccess, app: dict[str, Any]) -> None:
    api = tenants.system_user_api("Acme Sync", CTX)
    principal = api.current_principal()
    assert principal["DatabaseContextIdentifier"] == CTX
    assert api.api_version()["ServicesCurrent"] == "Services88"

    lists = api.lists()
    assert any(entity.list_type == "webpanel" for entity in lists)
    category = api.list("Category")
    assert api.list(category.id) == category
    names = [item.name for item in api.list_items("Category")]
    assert "Confidential" in names  # the system user bypasses Sentry

    item = api.create_list_item("Category", ListItemEntity(name="Acme customers", rank=5))
    assert item.id > 0
    assert item.name == "Acme customers"
    assert api.list_item("Category", item.id).rank == 5
    renamed = api.update_list_item("Category", item.id, {"Name": "Acme clients"})
    assert renamed.name == "Acme clients"
    api.delete_list_item("Category", item.id)
    with pytest.raises(ApiNotFoundError) as caught:
        api.list_item("Category", item.id)
    assert caught.value.error_type == "SoNotFoundException"

    template = api.default_web_panel()
    assert template.web_panel_id == 0
    panel = api.save_web_panel(
        WebPanelEntity(
            name="Acme panel",
            prog_id="acme.panel",
            visible_in=VisibleIn.ActivityDialog,
            url="http://127.0.0.1:8000/panel?ctx=<uctx>",
        )
    )
    assert panel.web_panel_id > 0
    assert panel.visible_in is VisibleIn.ActivityDialog
    assert api.web_panel(panel.web_panel_id).prog_id == "acme.panel"
    updated = api.update_web_panel(panel.web_panel_id, {"Tooltip": "Acme"})
    assert updated.tooltip == "Acme"
    api.delete_web_panel(panel.web_panel_id)
    assert api.web_panel(panel.web_panel_id).deleted is True  # soft delete


def test_a_move_mid_run_is_followed_after_one_421(
    emu: Emulator, environment: Environment, tenants: TenantAccess, app: dict[str, Any]
) -> None:
    api = tenants.system_user_api("Acme Sync", CTX)
    status = tenants.status_client(environment)
    assert api.lists()
    before = status.cached(CTX)
    assert before is not None
    fetches = status.fetch_count
    old_host = host_of(before.endpoint)
    target = next(name for name, url in emu.host_urls.items() if host_of(url) != old_host)
    emu.move_tenant(CTX, target, notify=False)

    assert api.lists()  # 421 on the old host, one re-resolve, one retry
    after = status.cached(CTX)
    assert after is not None
    assert host_of(after.endpoint) == host_of(emu.host_urls[target])
    assert status.fetch_count == fetches + 1
    assert api.lists()
    assert status.fetch_count == fetches + 1


def test_emulator_faults_503_503_200_succeed(
    emu: Emulator, tenants: TenantAccess, app: dict[str, Any], sleeps: Sleeps
) -> None:
    api = tenants.system_user_api("Acme Sync", CTX)
    api.current_principal()  # ticket and state resolved before the faults
    emu.set_faults(
        [
            {
                "kind": "status",
                "status": 503,
                "ctx": CTX,
                "path_prefix": f"/{CTX}/api/v1/List",
                "count": 2,
            }
        ]
    )
    assert api.lists()
    assert len(sleeps.waits) == 2

    emu.set_faults([{"kind": "status", "status": 503, "ctx": CTX, "path_prefix": f"/{CTX}/api"}])
    with pytest.raises(RetryExhaustedError) as caught:
        api.lists()
    assert caught.value.status_code == 503


@pytest.mark.parametrize("retry_after_format", ["seconds", "http-date"])
def test_retry_after_is_honoured(
    emu: Emulator,
    tenants: TenantAccess,
    app: dict[str, Any],
    sleeps: Sleeps,
    retry_after_format: str,
) -> None:
    api = tenants.system_user_api("Acme Sync", CTX)
    api.current_principal()
    emu.set_faults(
        [
            {
                "kind": "status",
                "status": 429,
                "ctx": CTX,
                "path_prefix": f"/{CTX}/api/v1/List",
                "retry_after": 2,
                "retry_after_format": retry_after_format,
                "count": 1,
            }
        ]
    )
    started = time.monotonic()
    assert api.lists()
    assert len(sleeps.waits) == 1
    if retry_after_format == "seconds":
        assert sleeps.waits == [2.0]
    else:  # an HTTP date has a resolution of one second
        assert 0.5 <= sleeps.waits[0] <= 2.0
    assert time.monotonic() - started >= sleeps.waits[0]


def test_a_stalled_tenant_times_out_within_the_configured_bound(
    emu: Emulator, environment: Environment, store: Repository, app: dict[str, Any]
) -> None:
    timeouts = HttpTimeouts(connect=2.0, read=0.5, write=2.0, pool=2.0)
    with create_client(timeout=timeouts) as quick:
        api = TenantAccess(store, quick).system_user_api("Acme Sync", CTX)
        api.current_principal()
        emu.set_faults(
            [{"kind": "stall", "stall_ms": 10_000, "ctx": CTX, "path_prefix": f"/{CTX}/api/v1"}]
        )
        with pytest.raises(TransportError, match="timed out"):  # the 0.5 s read, not the stall
            api.lists()


def test_an_app_sees_and_deletes_only_its_own_web_panels(  # noqa: PLR0917 - fixtures
    emu: Emulator,
    environment: Environment,
    http: httpx.Client,
    store: Repository,
    tenants: TenantAccess,
    app: dict[str, Any],
) -> None:
    install(emu, environment, http, store, "Other App")
    mine = tenants.system_user_api("Acme Sync", CTX)
    theirs = tenants.system_user_api("Other App", CTX)
    my_panel = mine.save_web_panel(WebPanelEntity(name="Mine", prog_id="acme.mine"))
    their_panel = theirs.save_web_panel(WebPanelEntity(name="Theirs", prog_id="other.theirs"))

    assert [p.web_panel_id for p in mine.app_web_panels()] == [my_panel.web_panel_id]
    assert [p.web_panel_id for p in theirs.app_web_panels()] == [their_panel.web_panel_id]
    with pytest.raises(ApiForbiddenError):
        mine.delete_web_panel_permanently(their_panel.web_panel_id)

    mine.delete_app_web_panels()
    assert mine.app_web_panels() == []
    remaining = {p.web_panel_id for p in mine.web_panels()}
    assert their_panel.web_panel_id in remaining
    assert my_panel.web_panel_id not in remaining
    theirs.delete_web_panel_permanently(their_panel.web_panel_id)
    assert theirs.app_web_panels() == []


def test_soap_as_the_system_user(tenants: TenantAccess, app: dict[str, Any]) -> None:
    # User.svc GetUser with UserId 0 (SD:sysuser's SOAP example): the system user itself.
    principal = tenants.system_user_soap("Acme Sync", CTX).current_principal()
    assert principal["Type"] == "SystemAssociate"
    assert principal["UserName"] == "Acme Sync"


def test_rest_as_a_signed_in_user(
    emu: Emulator,
    environment: Environment,
    http: httpx.Client,
    tenants: TenantAccess,
    app: dict[str, Any],
) -> None:
    client = SuperIdClient(
        environment, app["client_id"], app["client_secret"], REDIRECT_URI, http=http
    )
    result = sign_in(client.begin_sign_in().url, username=USER, password="superid-demo")
    assert result.redirect_url is not None
    signed_in = client.complete_sign_in(callback_params_from_url(result.redirect_url))
    credential = UserCredential.from_tokens(signed_in.tokens, client, context_identifier=CTX)
    api = tenants.user_api(environment, CTX, credential)
    principal = api.current_principal()
    assert principal["UserName"] == USER
    assert "Confidential" not in [i.name for i in api.list_items("Category")]  # Sentry


def test_a_signed_in_user_acts_for_the_application_with_its_so_app_token(
    environment: Environment,
    http: httpx.Client,
    tenants: TenantAccess,
    app: dict[str, Any],
) -> None:
    """The user's Bearer token plus the application's SO-AppToken (protocol §7): what the user
    creates belongs to the application, and GetAppWebPanels answers."""
    client = SuperIdClient(
        environment, app["client_id"], app["client_secret"], REDIRECT_URI, http=http
    )
    result = sign_in(client.begin_sign_in().url, username=USER, password="superid-demo")
    assert result.redirect_url is not None
    signed_in = client.complete_sign_in(callback_params_from_url(result.redirect_url))
    credential = UserCredential.from_tokens(signed_in.tokens, client, context_identifier=CTX)
    api = tenants.user_api(environment, CTX, credential)
    created = api.save_web_panel(WebPanelEntity(name="Mine", prog_id="acme.user.mine"))
    assert [p.prog_id for p in api.app_web_panels()] == ["acme.user.mine"]
    system_user = tenants.system_user_api("Acme Sync", CTX)
    assert [p.web_panel_id for p in system_user.app_web_panels()] == [created.web_panel_id]
    # Without the application token the same user acts for no application (§7).
    bare = tenants.user_api(environment, CTX, UserCredential(signed_in.tokens.access_token))
    with pytest.raises(ApiForbiddenError) as refused:
        bare.app_web_panels()
    assert refused.value.error_type == "SoSecurityException"
