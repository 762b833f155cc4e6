"""The Tenants page: empty states, the records, the filter, one record's detail, Renew ticket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dashboard_support import (
    ADMIN,
    COMPANY,
    CUSTOM_APP,
    STANDARD_APP,
    TENANT,
    TENANTS_PAGE,
    labels,
    open_page,
    rendered_text,
    seed,
    texts,
)

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.store import Repository
from toolkit.workspace import Workspace


def test_empty_store_explains_what_to_do() -> None:
    at = open_page(TENANTS_PAGE)

    assert at.title[0].value == "Tenants"
    assert any("No applications yet" in text for text in texts(at.info))
    assert not at.dataframe
    assert not at.error


def test_records_table_shows_whether_a_system_user_token_is_held(
    repository: Repository,
) -> None:
    seed(repository)

    at = open_page(TENANTS_PAGE)

    table = at.dataframe[0].value
    assert list(table.columns) == [
        "Tenant",
        "Company",
        "Application",
        "Environment",
        "Approved by",
        "Approved at",
        "Status",
        "System user token held",
        "Ticket",
    ]
    assert len(table) == 1
    row = table.iloc[0]
    assert row["Tenant"] == TENANT
    assert row["Company"] == COMPANY
    assert row["Application"] == STANDARD_APP
    assert row["Environment"] == "sod"
    assert row["Approved by"] == ADMIN
    assert row["Approved at"].startswith("2025-03-01 12:00")
    assert row["Status"] == "active"
    assert bool(row["System user token held"]) is True
    assert row["Ticket"].startswith("valid until ")


def test_ticket_column_says_none_and_needs_reconsent_without_exchanging(
    repository: Repository,
) -> None:
    seed(repository)
    record = repository.get_authorization(STANDARD_APP, TENANT)
    repository.delete_ticket(record.id)

    at = open_page(TENANTS_PAGE)

    assert list(at.dataframe[0].value["Ticket"]) == ["none"]
    assert "**System user ticket:** none" in " ".join(texts(at.markdown))
    assert repository.get_ticket(record.id) is None  # showing the page did not exchange

    repository.set_authorization_status(STANDARD_APP, TENANT, "needs_reconsent", actor="test")
    at.run()

    assert list(at.dataframe[0].value["Ticket"]) == ["needs reconsent"]


def test_detail_shows_claims_and_audit_trail(repository: Repository) -> None:
    seed(repository)

    at = open_page(TENANTS_PAGE)

    assert at.selectbox(key="tenants_record").value == f"{TENANT} · {STANDARD_APP}"
    facts = " ".join(texts(at.markdown))
    assert "**System user token held:** yes" in facts
    assert "**System user ticket:** valid until " in facts
    assert "Renew ticket" in labels(at.button)
    assert "99887766" in facts
    claims = at.dataframe[1].value
    assert dict(zip(claims["Claim"], claims["Value"], strict=True)) == {
        "company_name": COMPANY,
        "ctx": TENANT,
        "is_administrator": "True",
        "serial": "99887766",
        "upn": ADMIN,
    }
    audit = at.dataframe[2].value
    assert list(audit["Action"]) == ["authorization.created"]
    assert list(audit["Actor"]) == ["test"]
    assert "holds_system_user" in audit["Summary"][0]


def test_filter_by_application(repository: Repository) -> None:
    seed(repository)
    at = open_page(TENANTS_PAGE)

    at.selectbox(key="tenants_application").select(CUSTOM_APP).run()

    assert not at.exception, at.exception
    assert not at.dataframe
    assert any(f"No tenant has approved **{CUSTOM_APP}**" in text for text in texts(at.info))

    at.selectbox(key="tenants_application").select(STANDARD_APP).run()

    assert list(at.dataframe[0].value["Tenant"]) == [TENANT]


# -- Renew ticket, against an in-thread emulator -------------------------------------------------

CTX = "Cust12345"
EMULATOR_APP = "Delta Sync"
EMULATOR_ADMIN = "admin@cust12345.test"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0) as emu:
        yield emu


@pytest.fixture
def installed(home: Path, emulator: Emulator) -> str:
    """Delta Sync registered at the emulator and installed into Cust12345; its client id."""
    settings = Settings(  # type: ignore[call-arg]
        home=home, public_url="http://127.0.0.1:8000", _env_file=None
    )
    with Workspace.open(settings) as ws:
        app = ws.applications.register_with_emulator(
            name=EMULATOR_APP,
            emulator_url=emulator.base_url,
            redirect_uri="http://127.0.0.1:8000/callback",
            actor="test",
        )
        answer = sign_in(ws.installations.begin(EMULATOR_APP, tenant=CTX), username=EMULATOR_ADMIN)
        ws.installations.complete(answer.params)
        return app.client_id


def credentials(emulator: Emulator) -> int:
    listed = httpx.get(f"{emulator.base_url}/__emulator__/credentials", timeout=10).json()
    return int(listed["total"])


@pytest.mark.emulator
def test_renew_ticket_exchanges_once_per_click(
    repository: Repository, emulator: Emulator, installed: str
) -> None:
    at = open_page(TENANTS_PAGE)
    assert list(at.dataframe[0].value["Ticket"]) == ["none"]
    assert credentials(emulator) == 0  # showing tickets never exchanges

    at.button(key="tenants_renew").click().run()

    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert any(text.startswith(f"New system user ticket for {CTX}") for text in texts(at.success))
    assert credentials(emulator) == 1
    assert at.dataframe[0].value["Ticket"][0].startswith("valid until ")
    record = repository.get_authorization(EMULATOR_APP, CTX)
    first = repository.get_ticket(record.id)
    assert first is not None
    assert first.ticket.reveal() not in rendered_text(at)

    # Reruns without a click exchange nothing; the message was shown once.
    at.run()
    at.selectbox(key="tenants_application").select(EMULATOR_APP).run()

    assert credentials(emulator) == 1
    assert not at.success

    at.button(key="tenants_renew").click().run()

    assert credentials(emulator) == 2
    second = repository.get_ticket(record.id)
    assert second is not None
    assert second.ticket.reveal() != first.ticket.reveal()
    assert second.ticket.reveal() not in rendered_text(at)


@pytest.mark.emulator
def test_renew_after_revocation_shows_the_typed_error(
    repository: Repository, emulator: Emulator, installed: str
) -> None:
    revoked = httpx.post(
        f"{emulator.base_url}/__emulator__/authorizations/{installed}/{CTX}/revoke", timeout=10
    )
    assert revoked.status_code == 200
    at = open_page(TENANTS_PAGE)

    at.button(key="tenants_renew").click().run()

    assert not at.exception, at.exception
    errors = texts(at.error)
    assert len(errors) == 1
    assert "Revoked" in errors[0]
    assert "needs re-approval by a tenant administrator" in errors[0]
    assert "Traceback" not in errors[0]
    assert list(at.dataframe[0].value["Ticket"]) == ["needs reconsent"]
    assert repository.get_authorization(EMULATOR_APP, CTX).status == "needs_reconsent"
    assert credentials(emulator) == 0
