"""System user flow end to end against the emulator: exchange (REST, SOAP), tickets, tenant call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from toolkit.auth.jwks import JwksCache
from toolkit.auth.oidc import SuperIdClient, callback_params_from_url
from toolkit.auth.system_user import SystemUserTicket, exchange_system_user_token
from toolkit.auth.tickets import TicketManager, system_user_exchange
from toolkit.config import Environment
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import (
    ApplicationTokenDeniedError,
    AuthorizationNotActiveError,
    AuthorizationRevokedError,
    InvalidSystemUserSignatureError,
)
from toolkit.http import create_client
from toolkit.keys import load_private_key, private_key_to_pem
from toolkit.store import Repository, generate_key_text, open_store

pytestmark = pytest.mark.emulator

REDIRECT_URI = "http://127.0.0.1:8000/callback"
ADMIN = "admin@cust12345.test"
CTX = "Cust12345"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with create_client() as client:
        yield client


@pytest.fixture
def app(emu: Emulator) -> dict[str, Any]:
    return emu.register_app(
        name="Toolkit System User Test", redirect_urls=[REDIRECT_URI], grant_system_token=True
    )


@pytest.fixture
def environment(emu: Emulator) -> Environment:
    return Environment.emulator(emu.base_url)


@pytest.fixture
def system_user_token(app: dict[str, Any], environment: Environment, http: httpx.Client) -> str:
    """The admin installs the app; the validated id_token carries the system user token."""
    client = SuperIdClient(
        environment, app["client_id"], app["client_secret"], REDIRECT_URI, http=http
    )
    request = client.begin_sign_in()
    result = sign_in(request.url, username=ADMIN)
    assert result.redirect_url is not None
    signed_in = client.complete_sign_in(callback_params_from_url(result.redirect_url))
    token = signed_in.claims.system_user_token
    assert token
    return token


@pytest.fixture
def jwks(environment: Environment, http: httpx.Client) -> JwksCache:
    return JwksCache(environment.jwks_url, http)


def credentials_total(emu: Emulator) -> int:
    response = httpx.get(f"{emu.base_url}/__emulator__/credentials", timeout=10)
    assert response.status_code == 200
    return int(response.json()["total"])


def exchange(
    app: dict[str, Any],
    environment: Environment,
    http: httpx.Client,
    jwks: JwksCache,
    token: str,
    **overrides: Any,
) -> SystemUserTicket:
    arguments: dict[str, Any] = {
        "http": http,
        "environment": environment,
        "keys": jwks,
        "application_token": app["client_secret"],
        "context_identifier": CTX,
        "system_user_token": token,
        "private_key": load_private_key(app["private_key_xml"]),
    }
    arguments.update(overrides)
    return exchange_system_user_token(**arguments)


def current_principal(ticket: SystemUserTicket, app_token: str) -> httpx.Response:
    # The ticket's webapi_url names the tenant's current host; the login host answers 421.
    return httpx.get(
        f"{ticket.webapi_url}v1/User/currentPrincipal",
        headers={
            "Authorization": f"SOTicket {ticket.ticket}",
            "SO-AppToken": app_token,
            "Accept": "application/json",
        },
        timeout=10,
    )


@pytest.mark.parametrize("transport", ["rest", "soap"])
def test_exchange_and_call_the_tenant(  # noqa: PLR0917 - fixtures
    emu: Emulator,
    app: dict[str, Any],
    environment: Environment,
    http: httpx.Client,
    jwks: JwksCache,
    system_user_token: str,
    transport: str,
) -> None:
    before = credentials_total(emu)
    ticket = exchange(app, environment, http, jwks, system_user_token, transport=transport)
    assert ticket.ticket.startswith("7T:")
    assert ticket.context_identifier.casefold() == CTX.casefold()
    assert ticket.serial
    assert credentials_total(emu) == before + 1
    response = current_principal(ticket, app["client_secret"])
    assert response.status_code == 200, response.text
    wrong_app_token = current_principal(ticket, "0" * 32)
    assert wrong_app_token.status_code in (401, 403)


def test_bad_input_is_typed(  # noqa: PLR0917 - fixtures
    emu: Emulator,
    app: dict[str, Any],
    environment: Environment,
    http: httpx.Client,
    jwks: JwksCache,
    system_user_token: str,
) -> None:
    wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSystemUserSignatureError):
        exchange(app, environment, http, jwks, system_user_token, private_key=wrong_key)
    with pytest.raises(ApplicationTokenDeniedError):
        exchange(app, environment, http, jwks, system_user_token, application_token="0" * 32)
    assert credentials_total(emu) == 0


def make_store(
    tmp_path: Path, app: dict[str, Any], environment: Environment, token: str
) -> Repository:
    store = open_store(None, tmp_path / "home", generate_key_text("flow"))
    store.add_application(
        "flow",
        environment="emulator",
        environment_url=environment.base_url,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        private_key=private_key_to_pem(load_private_key(app["private_key_xml"])),
    )
    store.put_authorization("flow", CTX, token_issued_at=datetime.now(UTC), system_user_token=token)
    return store


def test_ten_threads_one_exchange_then_forced_renewal_and_revocation(  # noqa: PLR0917 - fixtures
    tmp_path: Path,
    emu: Emulator,
    app: dict[str, Any],
    environment: Environment,
    http: httpx.Client,
    jwks: JwksCache,
    system_user_token: str,
) -> None:
    store = make_store(tmp_path, app, environment, system_user_token)
    try:
        manager = TicketManager(store, exchange=system_user_exchange(http=http, keys=jwks))
        barrier = threading.Barrier(10)
        got: list[str] = []

        def work() -> None:
            barrier.wait()
            got.append(manager.ticket("flow", CTX).ticket)

        threads = [threading.Thread(target=work) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(got) == 10
        assert len(set(got)) == 1
        assert credentials_total(emu) == 1  # the emulator's credentials records prove it

        def call(ticket: SystemUserTicket) -> httpx.Response:
            return current_principal(ticket, app["client_secret"])

        assert manager.call_with_ticket("flow", CTX, call).status_code == 200
        assert credentials_total(emu) == 1

        # The emulator expires the ticket: the next call gets 401, renews once, succeeds.
        expired = httpx.post(
            f"{emu.base_url}/__emulator__/tickets/expire",
            json={"client_id": app["client_id"], "ctx": CTX},
            timeout=10,
        )
        assert expired.status_code == 200
        assert manager.call_with_ticket("flow", CTX, call).status_code == 200
        assert credentials_total(emu) == 2

        # The tenant revokes the app: the next exchange marks the authorization.
        revoked = httpx.post(
            f"{emu.base_url}/__emulator__/authorizations/{app['client_id']}/{CTX}/revoke",
            timeout=10,
        )
        assert revoked.status_code == 200
        manager.invalidate("flow", CTX)
        with pytest.raises(AuthorizationRevokedError):
            manager.ticket("flow", CTX)
        assert store.get_authorization("flow", CTX).status == "needs_reconsent"
        assert store.list_audit(context_identifier=CTX)[0].actor == "ticket-manager"
        with pytest.raises(AuthorizationNotActiveError):
            manager.ticket("flow", CTX)
    finally:
        store.close()
