"""The audit trail: filters, CSV export without secrets, and the changes that must be audited
(secrets rotated, ticket renewed, the CLI's actor)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from toolkit.audit import AUDIT_CSV_COLUMNS, audit_csv, redacted_summary
from toolkit.auth.system_user import SystemUserTicket
from toolkit.auth.tickets import TicketManager
from toolkit.cli.common import CLI_ACTOR
from toolkit.store import Repository, generate_key_text, open_store
from toolkit.store.records import AuditEvent

KEY_A = generate_key_text("alpha")
KEY_B = generate_key_text("beta")
APP = "Audit App"
CTX = "Cust12345"
CLIENT_SECRET = "cs-PLAINTEXT-client-secret-0a1b2c"
SYSTEM_USER_TOKEN = "AuditApp-PLAINTEXTsut9f8e7d"
TICKET = "7T:PLAINTEXTticketQXVkaXRBcHA"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLXh5eg"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Repository]:
    repository = open_store(None, tmp_path / "home", KEY_A)
    repository.add_application(
        APP, environment="sod", client_id="cid", client_secret=CLIENT_SECRET, actor="test"
    )
    repository.put_authorization(
        APP,
        CTX,
        token_issued_at=datetime(2025, 1, 1, tzinfo=UTC),
        system_user_token=SYSTEM_USER_TOKEN,
        actor="partner-endpoint",
    )
    yield repository
    repository.close()


def test_filters_by_actor_action_and_time(store: Repository) -> None:
    store.record_audit("admin@cust12345.test", "provisioning.apply", application=APP)
    store.record_audit("webhook", "tenant.state_changed", application=APP, context_identifier=CTX)
    assert [e.action for e in store.list_audit(actor="admin@cust12345.test")] == [
        "provisioning.apply"
    ]
    assert {e.action for e in store.list_audit(action="authorization.")} == {
        "authorization.created"
    }
    assert store.list_audit(action="authorization") == []  # exact unless it ends in "."
    future = datetime.now(UTC) + timedelta(minutes=5)
    assert store.list_audit(since=future) == []
    assert len(store.list_audit(until=future)) == 4
    assert store.list_audit(until=datetime(2000, 1, 1, tzinfo=UTC)) == []


def test_csv_export_holds_no_secret(store: Repository) -> None:
    # What a careless caller could put into a summary under innocent keys is masked on the way
    # out; secret-looking keys are refused at write, and masked here too (defence in depth).
    store.record_audit(
        "cli:ops",
        "note",
        application=APP,
        context_identifier=CTX,
        summary={"detail": f"Authorization: SOTicket {TICKET}", "jwt": JWT, "steps": 3},
    )
    sneaky = AuditEvent(
        id=0,
        at=datetime(2025, 1, 2, tzinfo=UTC),
        actor="=cmd|' /C calc'!A0",
        action="note",
        application=APP,
        context_identifier=CTX,
        summary={"client_secret": CLIENT_SECRET, "nested": {"refresh_token": "rt-PLAIN"}},
    )
    text = audit_csv([*store.list_audit(limit=1000), sneaky])
    for secret in (CLIENT_SECRET, SYSTEM_USER_TOKEN, TICKET, JWT, "rt-PLAIN", KEY_A, KEY_B):
        assert secret not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == AUDIT_CSV_COLUMNS
    by_action = {row[2]: row for row in rows[1:]}
    assert by_action["authorization.created"][1] == "partner-endpoint"
    assert by_action["authorization.created"][4] == CTX
    # Flat cells, no JSON inside CSV: a sentence (or the fields) and the details.
    assert by_action["authorization.created"][5].startswith("Authorization created")
    notes = [row[6] for row in rows[1:] if row[2] == "note"]
    assert any(details.startswith("detail Authorization: SOTicket ") for details in notes), notes
    assert "nested.refresh_token" in rows[-1][6]
    assert not any(cell.startswith("{") for row in rows for cell in row)
    assert rows[-1][1].startswith("'=")  # a formula is defused for spreadsheets
    assert redacted_summary({"holds_system_user": True, "steps": 2}) == {
        "holds_system_user": True,
        "steps": 2,
    }


def test_rotating_secrets_is_audited(tmp_path: Path, store: Repository) -> None:
    store.close()
    rotating = open_store(None, tmp_path / "home", f"{KEY_B},{KEY_A}")
    try:
        report = rotating.rotate_secrets(actor="cli:ops")
        (event,) = rotating.list_audit(action="secrets.rotated")
        assert event.actor == "cli:ops"
        assert event.summary == {
            "current_kid": "beta",
            "rotated": report.rotated,
            "unreadable": 0,
            "batches": report.batches,
        }
        rotating.rotate_secrets()  # no actor: no event (library callers choose)
        assert len(rotating.list_audit(action="secrets.rotated")) == 1
    finally:
        rotating.close()


def test_renewing_a_ticket_is_audited_with_its_actor(store: Repository) -> None:
    def exchange(**_: object) -> SystemUserTicket:
        return SystemUserTicket(
            ticket=TICKET,
            context_identifier=CTX,
            serial="1",
            webapi_url=f"https://sod.superoffice.com/{CTX}/api/",
            netserver_url=None,
            obtained_at=datetime.now(UTC),
        )

    manager = TicketManager(store, exchange=exchange)
    manager.renew(APP, CTX, actor="admin@cust12345.test")
    manager.renew(APP, CTX)
    events = store.list_audit(action="ticket.renewed")
    assert [e.actor for e in events] == ["ticket-manager", "admin@cust12345.test"]
    assert all(e.application == APP and e.context_identifier == CTX for e in events)
    assert TICKET not in json.dumps([dict(e.summary) for e in events])


def test_the_cli_acts_as_its_operating_system_user() -> None:
    assert CLI_ACTOR.startswith("cli:")
    assert len(CLI_ACTOR) > len("cli:")


def test_each_event_kind_reads_as_one_sentence() -> None:
    from toolkit.audit import describe_event

    assert (
        describe_event("authorization.status_changed", {"from": "active", "to": "revoked"})
        == "Authorization went from active to revoked."
    )
    assert (
        describe_event(
            "tenant.state_recorded",
            {"source": "state API", "from_state": None, "to_state": "Running"},
        )
        == "Tenant state Running recorded from the state API."
    )
    assert (
        describe_event("provisioning.apply", {"outcome": "partial", "steps": 4, "done": 3})
        == "Provisioning apply partial: 3 of 4 steps."
    )
    assert describe_event("ticket.renewed", {"transport": "soap"}) == (
        "System user ticket renewed (soap)."
    )
    assert describe_event("operator.signed_in", {}) == "Operator signed in."


def test_an_unknown_kind_shows_its_fields_redacted() -> None:
    from toolkit.audit import describe_event

    text = describe_event("custom.thing", {"client_secret": "s3cr3t-value", "count": 2})
    assert "s3cr3t-value" not in text
    assert "count 2" in text
    assert describe_event("custom.empty", {}) == "custom.empty"
