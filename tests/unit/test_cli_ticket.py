"""``sotk ticket``: validity through the ticket manager, against an in-thread emulator.

The last section tests what the command needs from :class:`~toolkit.auth.tickets.TicketManager`
(``ticket_status``, ``ticket_statuses``, ``renew``, a chosen transport) with a fake exchange.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli import open_workspace
from typer.testing import CliRunner

from toolkit.auth.system_user import SystemUserTicket
from toolkit.auth.tickets import TICKET_REFRESH_MARGIN, TICKET_WINDOW, TicketManager
from toolkit.cli import app
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.errors import AuthorizationNotActiveError
from toolkit.store import Repository, generate_key_text, open_store

runner = CliRunner()
CTX = "Cust12345"
ADMIN = "admin@cust12345.test"
PUBLIC_URL = "http://127.0.0.1:8000"


def install(env: dict[str, str], emu: Emulator, name: str) -> dict[str, str]:
    """Register ``name`` at the emulator and install it into CTX as the administrator."""
    with open_workspace(env) as ws:
        application = ws.applications.register_with_emulator(
            name=name,
            emulator_url=emu.base_url,
            redirect_uri=f"{PUBLIC_URL}/callback",
            actor="test",
        )
        answer = sign_in(ws.installations.begin(name, tenant=CTX), username=ADMIN)
        ws.installations.complete(answer.params)
        return {"name": name, "client_id": application.client_id}


def credentials(emu: Emulator, client_id: str) -> int:
    listed = httpx.get(f"{emu.base_url}/__emulator__/credentials", timeout=10).json()
    return sum(row["count"] for row in listed["credentials"] if row["client_id"] == client_id)


def stored_ticket(env: dict[str, str], name: str) -> str:
    with open_workspace(env) as ws:
        held = ws.tenants.tickets.peek(name, CTX)
        assert held is not None
        return held.ticket


def lines(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        label, _, value = line.strip().partition("  ")
        rows[label] = value.strip()
    return rows


@pytest.mark.emulator
def test_prints_validity_never_the_ticket_and_uses_the_cache(
    env: dict[str, str], emu: Emulator
) -> None:
    acme = install(env, emu, "Acme Sync CLI 1")

    first = runner.invoke(app, ["ticket", CTX], env=env)

    assert first.exit_code == 0, first.output
    rows = lines(first.output)
    assert rows["application"] == acme["name"]
    assert rows["tenant"] == CTX
    assert rows["source"] == "new exchange (REST)"
    assert rows["last used"] == "never"
    assert "sliding" in rows["valid until"]
    assert rows["webapi_url"].endswith(f"/{CTX}/api/")
    assert rows["ticket"].startswith("hidden")
    ticket = stored_ticket(env, acme["name"])
    assert ticket.startswith("7T:")
    assert ticket not in first.output
    assert "7T:" not in first.output
    assert credentials(emu, acme["client_id"]) == 1

    # A second process finds the ticket in the store: no exchange.
    second = runner.invoke(app, ["ticket", CTX, "--app", acme["name"]], env=env)

    assert second.exit_code == 0, second.output
    assert lines(second.output)["source"] == "store"
    assert lines(second.output)["valid until"] == rows["valid until"]
    assert credentials(emu, acme["client_id"]) == 1


@pytest.mark.emulator
def test_show_prints_the_ticket_and_renew_exchanges_again(
    env: dict[str, str], emu: Emulator
) -> None:
    acme = install(env, emu, "Acme Sync CLI 2")

    shown = runner.invoke(app, ["ticket", CTX, "--show"], env=env)

    assert shown.exit_code == 0, shown.output
    ticket = stored_ticket(env, acme["name"])
    assert lines(shown.output)["ticket"] == ticket

    renewed = runner.invoke(app, ["ticket", CTX, "--renew", "--soap"], env=env)

    assert renewed.exit_code == 0, renewed.output
    assert lines(renewed.output)["source"] == "new exchange (SOAP)"

    assert stored_ticket(env, acme["name"]) != ticket


@pytest.mark.emulator
def test_two_applications_in_the_tenant_need_app(env: dict[str, str], emu: Emulator) -> None:
    first = install(env, emu, "Acme Sync CLI 3")
    second = install(env, emu, "Bravo Sync CLI 3")

    ambiguous = runner.invoke(app, ["ticket", CTX], env=env)

    assert ambiguous.exit_code == 1
    assert first["name"] in ambiguous.output
    assert second["name"] in ambiguous.output
    assert "--app" in ambiguous.output
    assert "Traceback" not in ambiguous.output
    assert credentials(emu, first["client_id"]) == 0

    chosen = runner.invoke(app, ["ticket", CTX, "--app", second["name"]], env=env)

    assert chosen.exit_code == 0, chosen.output
    assert lines(chosen.output)["application"] == second["name"]
    assert credentials(emu, second["client_id"]) == 1
    assert credentials(emu, first["client_id"]) == 0


@pytest.mark.emulator
def test_unknown_tenant_and_application(env: dict[str, str], emu: Emulator) -> None:
    install(env, emu, "Acme Sync CLI 4")

    nobody = runner.invoke(app, ["ticket", "Cust99999"], env=env)
    unknown = runner.invoke(app, ["ticket", CTX, "--app", "No Such App"], env=env)

    assert nobody.exit_code == 1
    assert "no application is authorized in Cust99999" in nobody.output
    assert unknown.exit_code == 1
    assert "Traceback" not in unknown.output + nobody.output


@pytest.mark.emulator
def test_revoked_exits_1_with_a_message_and_marks_the_record(
    env: dict[str, str], emu: Emulator
) -> None:
    acme = install(env, emu, "Acme Sync CLI 5")
    assert runner.invoke(app, ["ticket", CTX], env=env).exit_code == 0
    revoked = httpx.post(
        f"{emu.base_url}/__emulator__/authorizations/{acme['client_id']}/{CTX}/revoke",
        timeout=10,
    )
    assert revoked.status_code == 200

    refused = runner.invoke(app, ["ticket", CTX, "--renew"], env=env)

    assert refused.exit_code == 1
    assert "needs re-approval by a tenant administrator" in refused.output
    assert "Traceback" not in refused.output
    with open_workspace(env) as ws:
        assert ws.repository.get_authorization(acme["name"], CTX).status == "needs_reconsent"

    # The record is no longer active: no exchange at all, the same advice.
    again = runner.invoke(app, ["ticket", CTX], env=env)

    assert again.exit_code == 1
    assert "needs re-approval by a tenant administrator" in again.output
    assert credentials(emu, acme["client_id"]) == 1  # a refused exchange records none


# -- what the command needs from the ticket manager ------------------------------------------

APP = "demo"
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        return self.current


class Exchange:
    """Hands out 7T:t1, 7T:t2, ... and records the transport each call asked for."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.transports: list[str | None] = []

    def __call__(self, *, application: Any, authorization: Any, **options: Any) -> Any:
        self.transports.append(options.get("transport"))
        return SystemUserTicket(
            ticket=f"7T:t{len(self.transports)}",
            context_identifier=authorization.context_identifier,
            serial="42",
            webapi_url=f"https://sod.superoffice.com/{CTX}/api/",
            netserver_url=None,
            obtained_at=self.clock(),
        )


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Repository]:
    repository = open_store(None, tmp_path / "home", generate_key_text("unit"), now=clock)
    repository.add_application(APP, environment="sod", client_id="cid", client_secret="secret")
    repository.put_authorization(
        APP, CTX, token_issued_at=START, system_user_token="DemoApp-abcdefghij"
    )
    yield repository
    repository.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_ticket_status_tells_where_and_until_when_without_exchanging(
    store: Repository, clock: Clock
) -> None:
    exchange = Exchange(clock)
    manager = TicketManager(store, exchange=exchange, now=clock)

    nothing = manager.ticket_status(APP, CTX)

    assert nothing.held is None
    assert nothing.valid_until is None
    assert not nothing.fresh
    assert nothing.authorization_status == "active"
    manager.ticket(APP, CTX)
    in_memory = manager.ticket_status(APP, CTX)
    assert in_memory.held == "memory"
    assert in_memory.valid_until == START + TICKET_WINDOW
    assert in_memory.fresh
    assert "7T:" not in repr(in_memory)
    # Another process sees it in the store; near the end of the window it is no longer fresh.
    other = TicketManager(store, exchange=exchange, now=clock)
    clock.current = START + TICKET_WINDOW - TICKET_REFRESH_MARGIN + timedelta(seconds=1)
    in_store = other.ticket_status(APP, CTX)
    assert in_store.held == "store"
    assert in_store.webapi_url == f"https://sod.superoffice.com/{CTX}/api/"
    assert not in_store.fresh
    assert [s.context_identifier for s in other.ticket_statuses()] == [CTX]
    assert exchange.transports == [None]  # statuses never exchanged


def test_renew_exchanges_once_even_when_fresh_and_passes_the_transport(
    store: Repository, clock: Clock
) -> None:
    exchange = Exchange(clock)
    manager = TicketManager(store, exchange=exchange, now=clock)
    assert manager.ticket(APP, CTX).ticket == "7T:t1"

    renewed = manager.renew(APP, CTX, transport="soap")

    assert renewed.ticket == "7T:t2"
    assert exchange.transports == [None, "soap"]
    assert manager.ticket(APP, CTX).ticket == "7T:t2"
    other = TicketManager(store, exchange=exchange, now=clock)
    assert other.ticket(APP, CTX).ticket == "7T:t2"  # the store holds the renewed one
    assert manager.exchange_count == 2

    store.set_authorization_status(APP, CTX, "revoked")
    with pytest.raises(AuthorizationNotActiveError):
        manager.renew(APP, CTX)
    assert manager.ticket_status(APP, CTX).authorization_status == "revoked"


@pytest.mark.emulator
def test_names_tenants_by_pattern_any_case_and_not_installed_is_its_own_answer(
    env: dict[str, str], emu: Emulator
) -> None:
    acme = install(env, emu, "Acme Sync CLI naming")
    with open_workspace(env) as ws:
        app_id = ws.applications.get(acme["name"]).id
    lower = runner.invoke(app, ["ticket", CTX.lower(), "--app", app_id], env=env)
    assert lower.exit_code == 0, lower.output
    assert lines(lower.output)["tenant"] == CTX
    for bad in ("not-a-ctx", "../x"):
        refused = runner.invoke(app, ["ticket", bad, "--app", acme["name"]], env=env)
        assert refused.exit_code == 1
        assert "the tenant must be a context identifier like Cust12345" in refused.output
    elsewhere = runner.invoke(app, ["ticket", "Cust23456", "--app", acme["name"]], env=env)
    assert elsewhere.exit_code == 1
    assert f"{acme['name']} is not installed in Cust23456" in elsewhere.output
    unknown = runner.invoke(app, ["ticket", CTX, "--app", "No Such App"], env=env)
    assert unknown.exit_code == 1
    assert "no application 'No Such App'" in unknown.output
