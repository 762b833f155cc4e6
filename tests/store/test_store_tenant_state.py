"""Tenant states, the webhook history and panel sessions in the store (migration 0003)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text
from store_support import KEY_A, Clock

from toolkit.errors import ConfigurationError, ExpiredError, NotFoundError, StoreError
from toolkit.store import (
    Repository,
    StateChangeOutcome,
    create_engine_for,
    migrate,
    open_store,
)

APP = "Acme Sync"
CTX = "Cust12345"


def add_app(store: Repository) -> str:
    app = store.add_application(
        name=APP,
        environment="sod",
        client_id="6cf25376616343b38d14ddcd804f2891",
        client_secret="83d0f3bcb9afbc7eb9d0682e9b86db52",
        redirect_uri="https://partner.example/callback",
        actor="test",
    )
    return app.id


@pytest.fixture
def app_id(store: Repository, clock: Clock) -> str:
    app_id = add_app(store)
    store.put_authorization(app_id, CTX, token_issued_at=clock(), system_user_token="sut")
    return app_id


def at(seconds: int) -> datetime:
    return datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def suspend(store: Repository, *, fingerprint: str, issued_at: datetime) -> StateChangeOutcome:
    change = store.apply_state_change(
        APP,
        CTX,
        change_type="Suspend",
        issued_at=issued_at,
        fingerprint=fingerprint,
        state="Suspended",
        status="suspended",
        status_from=frozenset({"active"}),
    )
    return change.outcome


def test_a_change_is_applied_once_and_audited(store: Repository, app_id: str) -> None:
    assert suspend(store, fingerprint="a" * 64, issued_at=at(1)) is StateChangeOutcome.APPLIED
    assert store.get_authorization(APP, CTX).status == "suspended"
    state = store.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.state, state.source, state.observed_at) == ("Suspended", "webhook", at(1))
    # The same notification again: recorded as a duplicate, nothing else happens.
    assert suspend(store, fingerprint="a" * 64, issued_at=at(1)) is StateChangeOutcome.DUPLICATE
    # Another delivery with the same effect changes nothing either.
    assert suspend(store, fingerprint="b" * 64, issued_at=at(2)) is StateChangeOutcome.DUPLICATE
    history = store.list_state_changes(application=APP)
    assert [c.outcome.value for c in history] == ["duplicate", "duplicate", "applied"]
    assert [c.reason for c in history] == ["no_change", "redelivered", None]
    assert history[0].application == APP
    events = [e for e in store.list_audit(application=APP) if e.actor == "webhook"]
    assert [e.action for e in events] == ["tenant.state_changed"]
    assert events[0].summary["to_status"] == "suspended"


def test_an_older_notification_never_overwrites_a_newer_one(store: Repository, app_id: str) -> None:
    store.apply_state_change(
        APP,
        CTX,
        change_type="Resume",
        issued_at=at(10),
        fingerprint="r" * 64,
        state="Running",
        status="active",
        status_from=frozenset({"suspended"}),
    )
    assert suspend(store, fingerprint="s" * 64, issued_at=at(5)) is StateChangeOutcome.STALE
    assert store.get_authorization(APP, CTX).status == "active"
    state = store.get_tenant_state(APP, CTX)
    assert state is not None
    assert state.state == "Running"


def pull_running(store: Repository, observed_at: datetime) -> None:
    store.put_tenant_state(
        APP, CTX, state="Running", endpoint=None, api=None, observed_at=observed_at
    )


def test_a_notification_in_the_same_second_as_a_pulled_state_applies(
    store: Repository, app_id: str
) -> None:
    # The state API's answer carries our clock to the microsecond; the token's iat is whole
    # seconds on SuperOffice's clock: the webhook that follows a check must not look older.
    pull_running(store, at(10) + timedelta(milliseconds=700))
    assert suspend(store, fingerprint="p" * 64, issued_at=at(10)) is StateChangeOutcome.APPLIED
    assert store.get_authorization(APP, CTX).status == "suspended"


def test_a_notification_clearly_older_than_a_pulled_state_is_stale(
    store: Repository, app_id: str
) -> None:
    pull_running(store, at(600))
    assert suspend(store, fingerprint="q" * 64, issued_at=at(10)) is StateChangeOutcome.STALE
    assert store.get_authorization(APP, CTX).status == "active"


def confirm(
    store: Repository, *, state: str, observed_at: datetime, confirmed: bool, fingerprint: str
) -> StateChangeOutcome:
    """A Suspend notification stored with the state API's answer (``observed_at``)."""
    change = store.apply_state_change(
        APP,
        CTX,
        change_type="Suspend",
        issued_at=at(0),
        fingerprint=fingerprint,
        state=state,
        endpoint="https://sod2.superoffice.com/Cust12345",
        api="https://sod2.superoffice.com/Cust12345/api",
        version="Release_11.10",
        valid_until=observed_at + timedelta(minutes=5),
        observed_at=observed_at,
        status="suspended",
        status_from=frozenset({"active"}),
        confirmed=confirmed,
        reason=None if confirmed else f"state_api:{state}",
    )
    return change.outcome


def test_an_unconfirmed_notification_keeps_the_answer_and_no_status(
    store: Repository, app_id: str
) -> None:
    outcome = confirm(
        store, state="Running", observed_at=at(5), confirmed=False, fingerprint="u" * 64
    )
    assert outcome is StateChangeOutcome.UNCONFIRMED
    assert store.get_authorization(APP, CTX).status == "active"
    state = store.get_tenant_state(APP, CTX)
    assert state is not None
    assert (state.state, state.version, state.observed_at) == ("Running", "Release_11.10", at(5))
    assert state.valid_until == at(5) + timedelta(minutes=5)
    [change] = store.list_state_changes(application=APP)
    assert (change.outcome, change.reason) == (StateChangeOutcome.UNCONFIRMED, "state_api:Running")
    [event] = [e for e in store.list_audit(application=APP) if e.actor == "webhook"]
    assert event.action == "tenant.state_change_unconfirmed"
    assert event.summary["state"] == "Running"
    # The same notification again is a redelivery, confirmed or not.
    again = confirm(
        store, state="Suspended", observed_at=at(6), confirmed=True, fingerprint="u" * 64
    )
    assert again is StateChangeOutcome.DUPLICATE


def test_answers_are_ordered_by_when_the_state_api_gave_them(
    store: Repository, app_id: str
) -> None:
    # Two notifications processed at once: the later answer wins, whichever commits first.
    assert (
        confirm(store, state="Running", observed_at=at(10), confirmed=False, fingerprint="n" * 64)
        is StateChangeOutcome.UNCONFIRMED
    )
    older = confirm(
        store, state="Suspended", observed_at=at(9), confirmed=True, fingerprint="o" * 64
    )
    assert older is StateChangeOutcome.STALE
    assert store.get_authorization(APP, CTX).status == "active"


def test_a_notification_the_state_api_could_not_check_is_recorded_and_audited(
    store: Repository, app_id: str
) -> None:
    change = store.record_state_change(
        APP,
        outcome="unconfirmed",
        reason="state_api_unavailable",
        context_identifier=CTX,
        change_type="Suspend",
    )
    assert change.outcome is StateChangeOutcome.UNCONFIRMED
    [event] = store.list_audit(application=APP, context_identifier=CTX)
    assert event.action == "tenant.state_change_unconfirmed"
    assert store.get_authorization(APP, CTX).status == "active"


def test_a_status_changes_only_from_the_allowed_ones(store: Repository, app_id: str) -> None:
    store.set_authorization_status(APP, CTX, "revoked", actor="test")
    assert suspend(store, fingerprint="c" * 64, issued_at=at(1)) is StateChangeOutcome.APPLIED
    assert store.get_authorization(APP, CTX).status == "revoked"  # the state changed, not it


def test_leaving_active_drops_the_ticket(store: Repository, app_id: str, clock: Clock) -> None:
    authorization = store.get_authorization(APP, CTX)
    store.put_ticket(
        authorization.id,
        ticket="7T:abc",
        obtained_at=clock(),
        expires_at=clock() + timedelta(hours=6),
    )
    suspend(store, fingerprint="d" * 64, issued_at=at(1))
    assert store.get_ticket(authorization.id) is None


def test_suspended_and_deleted_are_statuses(store: Repository, app_id: str) -> None:
    for status in ("suspended", "deleted", "active"):
        assert store.set_authorization_status(APP, CTX, status).status == status
    with pytest.raises(ConfigurationError):
        store.set_authorization_status(APP, CTX, "paused")


def test_unknown_tenants_and_rejections(store: Repository, app_id: str) -> None:
    with pytest.raises(NotFoundError):
        suspend(
            store, fingerprint="e" * 64, issued_at=at(1)
        ) if False else store.apply_state_change(
            APP, "Cust99999", change_type="Suspend", issued_at=None, fingerprint=None
        )
    rejected = store.record_state_change(
        APP, outcome="rejected", reason="signature", context_identifier="Cust99999"
    )
    assert rejected.outcome is StateChangeOutcome.REJECTED
    assert store.list_state_changes(context_identifier="cust99999")[0].reason == "signature"
    # A rejected fingerprint does not make a later genuine one a duplicate.
    store.record_state_change(APP, outcome="rejected", reason="expired", fingerprint="f" * 64)
    assert suspend(store, fingerprint="f" * 64, issued_at=at(1)) is StateChangeOutcome.APPLIED


def test_state_api_answers_are_kept_in_order(store: Repository, app_id: str, clock: Clock) -> None:
    record, changed = store.put_tenant_state(
        APP,
        CTX,
        state="Running",
        endpoint="https://sod2.superoffice.com/Cust12345",
        api="https://sod2.superoffice.com/Cust12345/api",
        valid_until=at(600),
        actor="test",
    )
    assert changed
    assert record.source == "state-api"
    assert record.valid_until == at(600)
    _, changed = store.put_tenant_state(
        APP, CTX, state="Suspended", endpoint=None, api=None, observed_at=clock() - timedelta(1)
    )
    assert not changed
    assert [s.state for s in store.list_tenant_states(APP)] == ["Running"]
    with pytest.raises(ConfigurationError):
        store.put_tenant_state(APP, CTX, state="x", endpoint=None, api=None, source="guess")


def test_sessions_are_sealed_expire_and_end(
    store: Repository, app_id: str, clock: Clock, is_sqlite: bool
) -> None:
    session = store.add_user_session(
        "cookie-value",
        application_id=app_id,
        context_identifier=CTX,
        user="user@cust12345.test",
        associate_id=6,
        access_token="8A:Cust12345.secret-access",
        refresh_token="refresh-secret",
        csrf_token="csrf-secret",
        ttl=timedelta(hours=1),
    )
    assert session.access_token.reveal() == "8A:Cust12345.secret-access"
    assert "secret" not in repr(session)
    with store.engine.connect() as connection:
        dump = " ".join(
            str(v) for row in connection.execute(text("SELECT * FROM user_sessions")) for v in row
        )
    assert "secret" not in dump
    assert "cookie-value" not in dump
    loaded = store.get_user_session("cookie-value")
    assert loaded.csrf_token.reveal() == "csrf-secret"
    assert store.update_user_session_tokens(
        "cookie-value", access_token="8A:Cust12345.new", refresh_token=None, access_expires_at=None
    )
    assert store.get_user_session("cookie-value").access_token.reveal() == "8A:Cust12345.new"
    with pytest.raises(NotFoundError):
        store.get_user_session("another")
    clock.advance(hours=2)
    with pytest.raises(ExpiredError):
        store.get_user_session("cookie-value")
    with pytest.raises(NotFoundError):
        store.get_user_session("cookie-value")  # removed when found expired
    store.add_user_session(
        "second",
        application_id=app_id,
        context_identifier=CTX,
        user="u",
        access_token="a",
        csrf_token="c",
        ttl=timedelta(minutes=1),
    )
    assert store.delete_user_session("second")
    assert not store.delete_user_session("second")
    assert store.verify_secrets() == []


def test_peek_does_not_take_a_pending_sign_in(store: Repository, app_id: str) -> None:
    store.add_pending_sign_in(
        "state-1",
        application_id=app_id,
        purpose="user",
        nonce="n",
        code_verifier="v" * 43,
        redirect_uri="https://partner.example/callback",
    )
    assert store.peek_pending_sign_in("state-1") == (app_id, "user")
    assert store.peek_pending_sign_in("other") is None
    assert store.take_pending_sign_in("state-1").purpose == "user"
    assert store.peek_pending_sign_in("state-1") is None


def test_migration_0003_keeps_tickets_and_records(tmp_path: Path) -> None:
    """Upgrading a 0002 store (SQLite copies the authorizations table) loses nothing."""
    from alembic import command

    from toolkit.store.migrations import _config

    home = tmp_path / "home"
    engine = create_engine_for(None, home=home)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    engine.dispose()
    store = open_store(None, home, KEY_A, now=Clock())  # migrates to head
    store.close()
    # Put a record and ticket in at 0003, downgrade to 0002 and upgrade again.
    store = open_store(None, home, KEY_A, now=Clock())
    app_id = add_app(store)
    authorization, _ = store.put_authorization(app_id, CTX, token_issued_at=Clock()())
    now = Clock()()
    store.put_ticket(
        authorization.id, ticket="7T:kept", obtained_at=now, expires_at=now + timedelta(hours=6)
    )
    engine = store.engine
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    migrate(engine)
    ticket = store.get_ticket(authorization.id)
    assert ticket is not None
    assert ticket.ticket.reveal() == "7T:kept"
    assert store.get_authorization(APP, CTX).status == "active"
    store.close()


def test_a_secret_looking_audit_key_is_still_refused(store: Repository, app_id: str) -> None:
    with pytest.raises(StoreError):
        store.record_audit("webhook", "x", summary={"token": "abc"})


def test_a_tenant_workflow_reads_the_application_and_the_last_known_state_at_once(
    store: Repository, app_id: str, clock: Clock
) -> None:
    view = store.tenant_work_view(app_id, CTX)
    assert (view.application.id, view.application.name, view.state) == (app_id, APP, None)
    store.put_tenant_state(
        APP,
        CTX,
        state="Running",
        endpoint="https://sod2.superoffice.com/Cust12345",
        api="https://sod2.superoffice.com/Cust12345/api",
        valid_until=at(300),
        observed_at=at(10),
    )
    statements: list[str] = []

    def seen(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        view = store.tenant_work_view(APP, CTX.lower())  # by name, the tenant in any case
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert [s for s in statements if s.lstrip().upper().startswith("SELECT")] == statements[-1:]
    assert view.application.client_secret.reveal() == "83d0f3bcb9afbc7eb9d0682e9b86db52"
    assert view.state == store.get_tenant_state(APP, CTX)
    assert view.state is not None
    assert (view.state.state, view.state.observed_at, view.state.context_identifier) == (
        "Running",
        at(10),
        CTX,
    )
    # Another tenant of the application: its own state (none), not this one's.
    assert store.tenant_work_view(app_id, "Cust54321").state is None
    with pytest.raises(NotFoundError):
        store.tenant_work_view("No Such App", CTX)
