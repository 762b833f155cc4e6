"""One way to name an application and a tenant everywhere (issue 16 item 3), and installs that
refuse a redirect URI the application has not registered (item 4), against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import (
    ConfigurationError,
    InvalidContextIdentifierError,
    NotFoundError,
    NotInstalledError,
    RedirectUriNotRegisteredError,
    UnknownApplicationError,
)
from toolkit.http import create_client
from toolkit.naming import check_context_identifier
from toolkit.store import generate_key_text
from toolkit.workspace import Workspace

pytestmark = pytest.mark.emulator

PUBLIC_URL = "http://127.0.0.1:8000"
REDIRECT_URI = "http://127.0.0.1:8000/callback"
APP = "Naming App"
ADMIN = "admin@cust12345.test"
CTX = "Cust12345"
MALFORMED = ("not-a-ctx", "../x", "Cust12345/../x", "Cust", "12345", " ", "Cust12345\n0")


class Sent:
    """Every request the workspace's http client sends (an event hook: nothing is faked)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> None:
        self.urls.append(str(request.url))


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def ws(tmp_path: Path, emu: Emulator, sent: Sent) -> Iterator[Workspace]:
    settings = Settings(  # type: ignore[call-arg]
        home=tmp_path / "home",
        secret_keys=generate_key_text("alpha"),
        public_url=PUBLIC_URL,
        emulator_url=emu.base_url,
        _env_file=None,
    )
    with create_client() as http, Workspace.open(settings, http=http) as workspace:
        http.event_hooks["request"].append(sent)
        workspace.applications.register_with_emulator(
            name=APP, emulator_url=emu.base_url, redirect_uri=REDIRECT_URI, actor="test"
        )
        answer = sign_in(workspace.installations.begin(APP, tenant=CTX), username=ADMIN)
        workspace.installations.complete(answer.params)
        yield workspace


def test_context_identifiers_are_checked_and_spelled_as_superoffice_does() -> None:
    assert check_context_identifier("Cust12345") == "Cust12345"
    assert check_context_identifier("cust12345") == "Cust12345"
    assert check_context_identifier(" CUST00042 ") == "Cust00042"
    for bad in (*MALFORMED, None, 12345):
        with pytest.raises(InvalidContextIdentifierError) as caught:
            check_context_identifier(bad)
        assert isinstance(caught.value, ConfigurationError)  # older callers still catch it
        assert str(caught.value).startswith(
            "the tenant must be a context identifier like Cust12345, not "
        )


def test_name_or_id_and_any_case_everywhere(ws: Workspace, emu: Emulator) -> None:
    app = ws.applications.get(APP)
    assert ws.applications.get(app.id).name == APP
    for name in (APP, app.id):
        for tenant in (CTX, "cust12345", "CUST12345"):
            assert ws.is_installed(name, tenant) is True
            status = ws.tenants.tickets.ticket_status(name, tenant)
            assert (status.application_id, status.context_identifier) == (app.id, CTX)
            assert ws.tenants.status(name, tenant).context_identifier == CTX
            assert ws.repository.get_authorization(name, tenant).context_identifier == CTX
    api = ws.tenants.system_user_api(app.id, "cust12345")
    assert api.context_identifier == CTX
    assert api.current_principal()["DatabaseContextIdentifier"].casefold() == "cust12345"
    # One ticket, whichever spelling asked for it.
    assert ws.tenants.tickets.peek(APP, "CUST12345") == ws.tenants.tickets.peek(app.id, CTX)
    assert ws.tenants.tickets.exchange_count == 1
    assert ws.install_url(APP, tenant="cust12345") == (
        f"{PUBLIC_URL}/install?app=Naming+App&tenant=Cust12345"
    )


def test_malformed_tenants_fail_locally_before_any_call(ws: Workspace, sent: Sent) -> None:
    before = list(sent.urls)
    for bad in MALFORMED:
        for call in (
            partial(ws.tenants.status, APP, bad),
            partial(ws.tenants.system_user_api, APP, bad),
            partial(ws.tenants.system_user_soap, APP, bad),
            partial(ws.tenants.tickets.ticket, APP, bad),
            partial(ws.tenants.tickets.ticket_status, APP, bad),
            partial(ws.is_installed, APP, bad),
            partial(ws.install_url, APP, tenant=bad),
            partial(ws.installations.begin, APP, tenant=bad),
            partial(ws.provisioning.plan, APP, bad),
            partial(ws.provisioning.runs, APP, bad),
        ):
            with pytest.raises(InvalidContextIdentifierError):
                call()
    assert sent.urls == before  # nothing went on the wire


def test_not_installed_is_not_no_such_application(ws: Workspace, emu: Emulator) -> None:
    app = ws.applications.get(APP)
    with pytest.raises(NotInstalledError) as caught:
        ws.tenants.system_user_api(APP, "Cust23456")
    error = caught.value
    assert not isinstance(error, UnknownApplicationError)
    assert (error.application, error.context_identifier) == (APP, "Cust23456")
    assert error.authorization_status is None
    assert (error.http_status, error.public_message) == (
        404,
        "This application is not installed in this tenant.",
    )
    assert ws.is_installed(APP, "Cust23456") is False

    for call in (
        lambda: ws.tenants.system_user_api("No Such App", CTX),
        lambda: ws.tenants.status("No Such App", CTX),
        lambda: ws.is_installed("No Such App", CTX),
        lambda: ws.applications.get("No Such App"),
        lambda: ws.installations.begin("No Such App"),
        lambda: ws.tenants.tickets.ticket_status("No Such App", CTX),
        lambda: ws.provisioning.plan("No Such App", CTX),
        lambda: ws.state_change_url("No Such App"),
    ):
        with pytest.raises(UnknownApplicationError) as unknown:
            call()
        assert isinstance(unknown.value, NotFoundError)
        assert not isinstance(unknown.value, NotInstalledError)
        assert unknown.value.public_message == "This application is not registered here."

    ws.repository.set_authorization_status(APP, "cust12345", "revoked", actor="test")
    assert ws.is_installed(app.id, CTX) is False
    with pytest.raises(NotInstalledError) as revoked:
        ws.tenants.system_user_api(APP, "cust12345")
    assert revoked.value.authorization_status == "revoked"
    assert revoked.value.context_identifier == CTX
    # The ticket status still shows the revoked record (it is known, not installed).
    assert ws.tenants.tickets.ticket_status(APP, "cust12345").authorization_status == "revoked"


def test_begin_refuses_a_redirect_uri_the_application_has_not_registered(
    ws: Workspace, sent: Sent
) -> None:
    before = list(sent.urls)
    for other in (
        "http://localhost:8000/callback",
        "http://127.0.0.1:8000/callback/",
        "http://127.0.0.1:8001/callback",
    ):
        with pytest.raises(RedirectUriNotRegisteredError) as caught:
            ws.installations.begin(APP, tenant=CTX, redirect_uri=other)
        assert caught.value.redirect_uri == other
        assert caught.value.registered == (REDIRECT_URI,)
        assert caught.value.http_status == 500
        assert "InvalidRedirectUrl" in str(caught.value)
    assert sent.urls == before  # refused before SuperID is involved
    assert ws.callback_url() == REDIRECT_URI
    url = ws.installations.begin(APP, tenant=CTX, redirect_uri=ws.callback_url())
    assert httpx.URL(url).params["redirect_uri"] == REDIRECT_URI
