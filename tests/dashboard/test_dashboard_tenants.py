"""The Tenants page: empty states, the records, the filter, one record's detail, Renew ticket,
the State column, Check state and the state-change webhook history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import (
    ADMIN,
    COMPANY,
    CUSTOM_APP,
    STANDARD_APP,
    TENANT,
    TENANTS_PAGE,
    app_test,
    labels,
    open_page,
    rendered_text,
    seed,
    texts,
)
from streamlit.testing.v1 import AppTest

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.store import Repository
from toolkit.workspace import Workspace


def facts(at: AppTest) -> dict[str, str]:
    """The open record's Facts tab (the table after the records table)."""
    table = at.dataframe[1].value
    return dict(zip(table["Fact"], table["Value"], strict=True))


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
    assert list(table.columns) == [  # what an operator acts on first; exact times at the end
        "Tenant",
        "Company",
        "Application",
        "Status",
        "State",
        "Ticket valid until",
        "Last provisioning",
        "Drift",
        "Approved by",
        "State checked (UTC)",
        "Ticket valid until (UTC)",
        "Last provisioning (UTC)",
    ]
    assert len(table) == 1
    row = table.iloc[0]
    assert row["Tenant"] == TENANT
    assert row["Company"] == COMPANY
    assert row["Application"] == STANDARD_APP
    assert row["Approved by"] == ADMIN
    assert row["Status"] == "active"
    assert row["State"] == "never checked"
    assert row["Ticket valid until"] == "in 5 h"  # obtained 1 h ago: 6 h sliding window
    assert row["Ticket valid until (UTC)"].startswith("20")
    assert row["Last provisioning"] == "never"
    assert row["Drift"] == ""


def test_ticket_column_says_none_and_needs_reconsent_without_exchanging(
    repository: Repository,
) -> None:
    seed(repository)
    record = repository.get_authorization(STANDARD_APP, TENANT)
    repository.delete_ticket(record.id)

    at = open_page(TENANTS_PAGE)

    assert list(at.dataframe[0].value["Ticket valid until"]) == ["none"]
    assert facts(at)["System user ticket"] == "none"
    assert repository.get_ticket(record.id) is None  # showing the page did not exchange

    repository.set_authorization_status(STANDARD_APP, TENANT, "needs_reconsent", actor="test")
    at.run()
    # A change made elsewhere shows once the read models expire, or at once on Refresh.
    assert list(at.dataframe[0].value["Ticket valid until"]) == ["none"]
    at.button(key="refresh").click().run()

    assert list(at.dataframe[0].value["Ticket valid until"]) == ["needs reconsent"]


def test_detail_shows_claims_and_audit_trail(repository: Repository) -> None:
    seed(repository)

    at = open_page(TENANTS_PAGE)

    # One record on the page: it opens without a selection.
    assert f"{TENANT} · {STANDARD_APP}" in texts(at.subheader)
    shown = facts(at)
    assert shown["System user token held"] == "yes"
    assert shown["System user ticket"] == "in 5 h"
    assert shown["Ticket valid until"].startswith("20")
    assert shown["Approved at"].endswith("(2025-03-01 12:00:00 UTC)")
    assert "Renew ticket" in labels(at.button)
    assert shown["Serial"] == "99887766"
    assert [tab.label for tab in at.tabs] == [
        "Facts",
        "Claims",
        "Audit trail",
        "State-change notifications",
    ]
    claims = at.dataframe[2].value
    assert dict(zip(claims["Claim"], claims["Value"], strict=True)) == {
        "company_name": COMPANY,
        "ctx": TENANT,
        "is_administrator": "True",
        "serial": "99887766",
        "upn": ADMIN,
    }
    audit = at.dataframe[3].value
    assert list(audit["Action"]) == ["authorization.created"]
    assert list(audit["Actor"]) == ["test"]
    assert list(audit["Summary"]) == [f"Authorization created by {ADMIN}."]


def test_filter_by_application(repository: Repository) -> None:
    seed(repository)
    at = open_page(TENANTS_PAGE)

    at.selectbox(key="tenants_application").select(CUSTOM_APP).run()

    assert not at.exception, at.exception
    assert not at.dataframe
    assert any(f"No tenant has approved **{CUSTOM_APP}**" in text for text in texts(at.info))

    at.selectbox(key="tenants_application").select(STANDARD_APP).run()

    assert list(at.dataframe[0].value["Tenant"]) == [TENANT]


def many_tenants(repository: Repository, count: int) -> None:
    """``count`` more records of the standard application: Cust70000..., every third revoked."""
    for i in range(count):
        ctx = f"Cust{70_000 + i}"
        repository.put_authorization(
            STANDARD_APP,
            ctx,
            token_issued_at=datetime.now(UTC),
            company_name=f"Bulk {'Trading' if i % 2 else 'Shipping'} {i}",
            approved_by=f"owner{i}@bulk.example",
        )
        if i % 3 == 0:
            repository.set_authorization_status(STANDARD_APP, ctx, "revoked")


def test_the_table_is_paged_with_search_and_status_in_sql(repository: Repository) -> None:
    seed(repository)
    many_tenants(repository, 60)  # 61 records of the standard application in all
    at = open_page(TENANTS_PAGE)

    assert len(at.dataframe[0].value) == 50
    assert "Records 1–50 of 61 (page 1 of 2)." in texts(at.caption)
    at.number_input(key="tenants_page").set_value(2).run()
    assert not at.exception, at.exception
    # By application, then tenant: Cust12345 first, so page 2 starts at Cust70049.
    expected = [f"Cust{70_000 + i}" for i in range(49, 60)]
    assert list(at.dataframe[0].value["Tenant"]) == expected
    assert "Records 51–61 of 61 (page 2 of 2)." in texts(at.caption)
    # Many records: a row selection opens one.
    assert "Select a row to open its record." in texts(at.caption)

    # Another filter starts on page 1 again: the company, in any case...
    at.text_input(key="tenants_search").input("SHIPPING").run()
    assert "Records 1–30 of 30 (page 1 of 1)." in texts(at.caption)
    assert set(at.dataframe[0].value["Company"].str.split().str[1]) == {"Shipping"}
    # ...and the status.
    at.selectbox(key="tenants_status").select("revoked").run()
    shown = at.dataframe[0].value
    assert set(shown["Status"]) == {"revoked"}
    assert len(shown) == 10  # even i (Shipping) that are multiples of 3: 0, 6, ..., 54
    at.text_input(key="tenants_search").input("nobody-like-this").run()
    assert not at.dataframe
    assert "No record matches these filters." in texts(at.info)


# -- Renew ticket, against an in-thread emulator -------------------------------------------------

CTX = "Cust12345"
EMULATOR_APP = "Delta Sync"
EMULATOR_ADMIN = "admin@cust12345.test"


@pytest.fixture
def installed(home: Path, emu: Emulator) -> str:
    """Delta Sync registered at the emulator and installed into Cust12345; its client id."""
    settings = Settings(  # type: ignore[call-arg]
        home=home, public_url="http://127.0.0.1:8000", _env_file=None
    )
    with Workspace.open(settings) as ws:
        app = ws.applications.register_with_emulator(
            name=EMULATOR_APP,
            emulator_url=emu.base_url,
            redirect_uri="http://127.0.0.1:8000/callback",
            actor="test",
        )
        answer = sign_in(ws.installations.begin(EMULATOR_APP, tenant=CTX), username=EMULATOR_ADMIN)
        ws.installations.complete(answer.params)
        return app.client_id


def credentials(emu: Emulator) -> int:
    listed = httpx.get(f"{emu.base_url}/__emulator__/credentials", timeout=10).json()
    return int(listed["total"])


@pytest.mark.emulator
def test_renew_ticket_exchanges_once_per_click(
    repository: Repository, emu: Emulator, installed: str
) -> None:
    at = open_page(TENANTS_PAGE)
    assert list(at.dataframe[0].value["Ticket valid until"]) == ["none"]
    assert credentials(emu) == 0  # showing tickets never exchanges

    at.button(key="tenants_renew").click().run()

    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert any(text.startswith(f"New system user ticket for {CTX}") for text in texts(at.success))
    assert credentials(emu) == 1
    assert at.dataframe[0].value["Ticket valid until"][0] == "in 6 h"
    record = repository.get_authorization(EMULATOR_APP, CTX)
    first = repository.get_ticket(record.id)
    assert first is not None
    assert first.ticket.reveal() not in rendered_text(at)

    # Reruns without a click exchange nothing; the message was shown once.
    at.run()
    at.selectbox(key="tenants_application").select(EMULATOR_APP).run()

    assert credentials(emu) == 1
    assert not at.success

    at.button(key="tenants_renew").click().run()

    assert credentials(emu) == 2
    second = repository.get_ticket(record.id)
    assert second is not None
    assert second.ticket.reveal() != first.ticket.reveal()
    assert second.ticket.reveal() not in rendered_text(at)


@pytest.mark.emulator
def test_renew_after_revocation_shows_the_typed_error(
    repository: Repository, emu: Emulator, installed: str
) -> None:
    revoked = httpx.post(
        f"{emu.base_url}/__emulator__/authorizations/{installed}/{CTX}/revoke", timeout=10
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
    assert list(at.dataframe[0].value["Ticket valid until"]) == ["needs reconsent"]
    assert repository.get_authorization(EMULATOR_APP, CTX).status == "needs_reconsent"
    assert credentials(emu) == 0


# -- the State column, Check state, the webhook history -----------------------------------------


def test_state_column_shows_the_last_known_state_without_calling_the_network(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(repository)
    calls: list[str] = []

    def no_network(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        calls.append(str(request.url))
        raise AssertionError("rendering the Tenants page must not call the network")

    monkeypatch.setattr(httpx.Client, "send", no_network)

    at = open_page(TENANTS_PAGE)

    assert list(at.dataframe[0].value["State"]) == ["never checked"]
    assert facts(at)["Tenant state"] == "never checked"
    assert "Check state" in labels(at.button)

    repository.put_tenant_state(
        STANDARD_APP,
        TENANT,
        state="OfflineMaintenance",
        endpoint=f"https://sod2.superoffice.com/{TENANT}",
        api=f"https://sod2.superoffice.com/{TENANT}/api",
        valid_until=datetime.now(UTC) + timedelta(seconds=30),
        source="state-api",
    )
    at.button(key="refresh").click().run()  # stored elsewhere: read the store again now

    state = at.dataframe[0].value["State"][0]
    assert state == "OfflineMaintenance (not running) · just now"
    assert not at.error, texts(at.error)
    assert calls == []


def test_the_detail_shows_the_webhook_history_newest_first(repository: Repository) -> None:
    seed(repository)
    repository.apply_state_change(
        STANDARD_APP,
        TENANT,
        change_type="Suspend",
        issued_at=datetime.now(UTC) - timedelta(minutes=5),
        fingerprint="a" * 64,
        state="Suspended",
        status="suspended",
        status_from=frozenset({"active"}),
        actor="webhook",
    )
    repository.apply_state_change(
        STANDARD_APP,
        TENANT,
        change_type="Move",
        issued_at=datetime.now(UTC),
        fingerprint="b" * 64,
        public_endpoint="sod3.superoffice.com",
        endpoint=f"https://sod3.superoffice.com/{TENANT}",
        api=f"https://sod3.superoffice.com/{TENANT}/api",
        actor="webhook",
    )
    repository.record_state_change(
        STANDARD_APP,
        outcome="rejected",
        reason="signature",
        context_identifier=TENANT,
        change_type="Delete",
    )

    at = open_page(TENANTS_PAGE)

    assert list(at.dataframe[0].value["Status"]) == ["suspended"]
    assert at.dataframe[0].value["State"][0] == "Suspended (not running) · just now via webhook"
    history = at.dataframe[4].value
    assert list(history.columns) == [
        "Received at",
        "Change",
        "Version",
        "Public endpoint",
        "Outcome",
        "Reason",
    ]
    assert list(history["Change"]) == ["Delete", "Move", "Suspend"]
    assert list(history["Outcome"]) == ["rejected", "applied", "applied"]
    assert list(history["Reason"]) == ["signature", "", ""]
    assert list(history["Public endpoint"]) == ["", "sod3.superoffice.com", ""]
    assert all(value.startswith("20") for value in history["Received at"])


def test_no_webhook_history_says_so(repository: Repository) -> None:
    seed(repository)

    at = open_page(TENANTS_PAGE)

    assert any("No state-change notification" in text for text in texts(at.info))


@pytest.mark.emulator
def test_check_state_asks_the_state_api_and_stores_the_answer(
    repository: Repository, emu: Emulator, installed: str
) -> None:
    at = open_page(TENANTS_PAGE)
    assert list(at.dataframe[0].value["State"]) == ["never checked"]

    at.button(key="tenants_check_state").click().run()

    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    [message] = texts(at.success)
    assert message.startswith(f"{CTX} is Running (running) at {emu.tenant_url(CTX)}")
    assert "valid until 20" in message
    assert at.dataframe[0].value["State"][0] == "Running · just now"
    stored = repository.get_tenant_state(EMULATOR_APP, CTX)
    assert stored is not None
    assert (stored.state, stored.source, stored.endpoint) == (
        "Running",
        "state-api",
        emu.tenant_url(CTX),
    )
    recorded = repository.list_audit(application=EMULATOR_APP, context_identifier=CTX, limit=5)
    assert any(e.action == "tenant.state_recorded" and e.actor == "dashboard" for e in recorded)

    # A rerun without a click asks nothing and shows no message again.
    at.run()
    assert not at.success

    emu.change_tenant(CTX, "Suspend")  # no state-change URL registered: no webhook
    at.button(key="tenants_check_state").click().run()

    assert not at.error, texts(at.error)
    # Every page now runs through app.py, whose gate shows the "unauthenticated" banner first.
    [banner, warning] = texts(at.warning)
    assert "unauthenticated" in banner
    assert warning.startswith(f"{CTX} is Suspended (not running)")
    assert at.dataframe[0].value["State"][0] == "Suspended (not running) · just now"
    emu.change_tenant(CTX, "Resume")


@pytest.mark.emulator
def test_check_state_shows_the_typed_error(
    repository: Repository, emu: Emulator, installed: str
) -> None:
    emu.set_faults([{"kind": "status", "status": 500, "path_prefix": "/api/state"}])
    try:
        at = open_page(TENANTS_PAGE)
        at.button(key="tenants_check_state").click().run()
    finally:
        emu.clear_faults()

    assert not at.exception, at.exception
    [error] = texts(at.error)
    assert error.startswith("UnexpectedResponseError: state API: HTTP 500")
    assert "Traceback" not in error
    assert repository.get_tenant_state(EMULATOR_APP, CTX) is None
    assert list(at.dataframe[0].value["State"]) == ["never checked"]


def test_an_overview_link_opens_the_filtered_table(repository: Repository) -> None:
    seed(repository)  # Cust12345, active
    many_tenants(repository, 3)  # Cust70000 (revoked), Cust70001, Cust70002
    repository.put_tenant_state(STANDARD_APP, "Cust70001", state="Running", endpoint=None, api=None)
    at = app_test()
    at.query_params["status"] = "active"
    at.query_params["state"] = "never"
    at.run()
    at.switch_page(TENANTS_PAGE).run()

    assert not at.exception, at.exception
    # Active and never checked: not the revoked one, not the one with a state.
    assert list(at.dataframe[0].value["Tenant"]) == [TENANT, "Cust70002"]
    assert at.selectbox(key="tenants_status").value == "active"
    assert at.selectbox(key="tenants_state").value == "Never checked"
    # The linked values are the widgets' defaults too: a browser that lost the widgets' values
    # (clicked before the linked page's first run ended) falls back to them (data/links.py).
    status = at.selectbox(key="tenants_status")
    assert status.options[status.proto.default] == "active"
    state = at.selectbox(key="tenants_state")
    assert state.options[state.proto.default] == "Never checked"

    # The filters are the operator's afterwards, and the address follows them.
    at.selectbox(key="tenants_state").select("Any state").run()
    assert list(at.dataframe[0].value["Tenant"]) == [TENANT, "Cust70001", "Cust70002"]
    assert at.query_params == {"status": "active"}
    at.run()
    assert at.selectbox(key="tenants_state").value == "Any state"

    # A link naming one tenant opens its record.
    at.query_params.clear()
    at.query_params["application"] = STANDARD_APP
    at.query_params["search"] = "cust70001"
    at.run()
    assert list(at.dataframe[0].value["Tenant"]) == ["Cust70001"]
    assert "Cust70001 · Alpha Sync" in texts(at.subheader)
    assert at.selectbox(key="tenants_status").value == "Any status"  # not in this link
    assert at.text_input(key="tenants_search").value == "cust70001"


def test_time_claims_read_as_times_never_epochs(repository: Repository) -> None:
    seed(repository)
    issued = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    repository.put_authorization(
        STANDARD_APP,
        "Cust30303",
        token_issued_at=issued,
        claims={"exp": int(issued.timestamp()) + 3600, "iat": int(issued.timestamp())},
        actor="test",
    )
    at = open_page(TENANTS_PAGE)
    at.text_input(key="tenants_search").input("Cust30303").run()  # one match: it opens

    assert not at.exception, at.exception
    claims = at.dataframe[2].value
    shown = dict(zip(claims["Claim"], claims["Value"], strict=True))
    assert shown["exp"].endswith("(2025-03-01 13:00:00 UTC)")
    assert shown["iat"].endswith("(2025-03-01 12:00:00 UTC)")
    assert shown["exp"].split(" (")[0].endswith(" days ago")
    assert str(int(issued.timestamp())) not in rendered_text(at)  # no raw epoch anywhere
