"""The repository on SQLite and PostgreSQL: round trips, secrets at rest, rotation, audit."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from store_support import KEY_A, KEY_B, OTHER_ALPHA, Clock

from toolkit.errors import (
    ConfigurationError,
    ConflictError,
    DecryptionError,
    ExpiredError,
    NotFoundError,
    SecretKeyError,
    StoreError,
)
from toolkit.store import (
    Application,
    Authorization,
    KeyRing,
    PutOutcome,
    Repository,
    SecretBox,
    associated_data,
    open_store,
)
from toolkit.store.schema import applications, authorizations, pending_sign_ins

CLIENT_SECRET = "client-secret-PLAINTEXT-0001"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nPRIVATE-KEY-PLAINTEXT-0002\n-----END PRIVATE KEY-----"
SYSTEM_USER_TOKEN = "DemoApp-SYSTEM-TOKEN-PLAINTEXT-0003"
REFRESH_TOKEN = "REFRESH-TOKEN-PLAINTEXT-0004"
NONCE = "NONCE-PLAINTEXT-0005"
CODE_VERIFIER = "CODE-VERIFIER-PLAINTEXT-0006"
STATE = "STATE-PLAINTEXT-0007"
SECRETS = (
    CLIENT_SECRET,
    PRIVATE_KEY.splitlines()[1],
    SYSTEM_USER_TOKEN,
    REFRESH_TOKEN,
    NONCE,
    CODE_VERIFIER,
    STATE,
)
ISSUED = datetime(2025, 3, 1, 11, 59, tzinfo=UTC)


def add_app(store: Repository, name: str = "demo", **overrides: object) -> Application:
    arguments: dict[str, object] = {
        "environment": "sod",
        "client_id": f"client-{name}",
        "client_secret": CLIENT_SECRET,
        "private_key": PRIVATE_KEY,
        "redirect_uri": "https://partner.example/callback",
        "kind": "standard",
        "model": "hybrid",
        "key_fingerprint": "sha256:abcd",
    }
    arguments.update(overrides)
    return store.add_application(name, **arguments)  # type: ignore[arg-type]


def put(
    store: Repository, app: Application, **overrides: object
) -> tuple[Authorization, PutOutcome]:
    arguments: dict[str, object] = {
        "token_issued_at": ISSUED,
        "system_user_token": SYSTEM_USER_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "approved_by": "admin@cust12345.example",
        "approved_by_associate_id": 5,
        "company_name": "Customer 12345",
        "serial": "1234567890",
        "webapi_url": "https://sod2.superoffice.com/Cust12345/api/",
        "claims": {"sub": "admin@cust12345.example", "is_administrator": "True"},
    }
    arguments.update(overrides)
    return store.put_authorization(app.id, "Cust12345", **arguments)  # type: ignore[arg-type]


# -- round trips ------------------------------------------------------------------------------


def test_application_round_trip(store: Repository) -> None:
    added = add_app(store)
    for found in (store.get_application("demo"), store.get_application(added.id)):
        assert found.id == added.id
        assert (found.name, found.environment, found.kind, found.model) == (
            "demo",
            "sod",
            "standard",
            "hybrid",
        )
        assert found.client_secret.reveal() == CLIENT_SECRET
        assert found.private_key is not None
        assert found.private_key.reveal() == PRIVATE_KEY
        assert found.created_at == added.created_at
    assert [app.name for app in store.list_applications()] == ["demo"]
    with pytest.raises(NotFoundError):
        store.get_application("nope")


def test_records_never_show_secrets(store: Repository) -> None:
    app = add_app(store)
    record, _ = put(store, app)
    pending = store.add_pending_sign_in(
        STATE,
        application_id=app.id,
        purpose="install",
        nonce=NONCE,
        code_verifier=CODE_VERIFIER,
        redirect_uri="https://partner.example/callback",
    )
    text = " ".join(repr(item) + str(item) for item in (app, record, pending))
    for secret in SECRETS:
        assert secret not in text
    assert "client_secret=<redacted>" in repr(app)


def test_custom_applications_and_conflicts(store: Repository) -> None:
    custom = add_app(store, "custom-12345", kind="custom", tenant="Cust12345")
    assert store.get_application("custom-12345").tenant == "Cust12345"
    assert custom.kind == "custom"
    with pytest.raises(ConflictError, match="named"):
        add_app(store, "custom-12345", client_id="another")
    with pytest.raises(ConflictError, match="client id"):
        add_app(store, "other", client_id="client-custom-12345")
    # The same client id in another environment is another registration.
    add_app(store, "staged", client_id="client-custom-12345", environment="stage")
    assert store.get_application("staged").environment == "qaonline"


@pytest.mark.parametrize(
    "overrides",
    [
        {"environment": "prod"},
        {"kind": "special"},
        {"model": "everything"},
        {"environment": "emulator"},  # needs its base URL
        {"redirect_uri": "http://partner.example/callback"},  # plain http off loopback
        {"client_secret": ""},
    ],
)
def test_bad_application_input_is_refused(store: Repository, overrides: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        add_app(store, **overrides)
    assert store.list_applications() == []


def test_emulator_application(store: Repository) -> None:
    app = add_app(
        store,
        environment="emulator",
        environment_url="http://127.0.0.1:8765",
        redirect_uri="http://127.0.0.1:8000/callback",
        private_key=None,
    )
    assert app.environment_url == "http://127.0.0.1:8765"
    assert store.get_application("demo").private_key is None


def test_authorization_round_trip(store: Repository, clock: Clock) -> None:
    app = add_app(store)
    put(store, app)
    found = store.get_authorization("demo", "Cust12345")
    assert found.application_id == app.id
    assert found.system_user_token is not None
    assert found.system_user_token.reveal() == SYSTEM_USER_TOKEN
    assert found.refresh_token is not None
    assert found.refresh_token.reveal() == REFRESH_TOKEN
    assert found.has_system_user_token
    assert (found.approved_by, found.approved_by_associate_id) == ("admin@cust12345.example", 5)
    assert found.token_issued_at == ISSUED == found.approved_at
    assert found.status == "active"
    assert found.claims == {"sub": "admin@cust12345.example", "is_administrator": "True"}
    assert found.created_at == clock()
    assert [a.context_identifier for a in store.list_authorizations("demo")] == ["Cust12345"]
    assert store.list_authorizations(status="revoked") == []
    with pytest.raises(NotFoundError):
        store.get_authorization("demo", "Cust99999")
    with pytest.raises(NotFoundError):
        store.put_authorization("missing-app", "Cust1", token_issued_at=ISSUED)


def test_secret_claims_are_refused(store: Repository) -> None:
    app = add_app(store)
    with pytest.raises(StoreError, match="system_token"):
        put(
            store,
            app,
            claims={"http://schemes.superoffice.net/identity/system_token": SYSTEM_USER_TOKEN},
        )
    assert store.list_authorizations() == []


# -- upsert outcomes ------------------------------------------------------------------------


def test_put_authorization_outcomes(store: Repository, clock: Clock) -> None:
    app = add_app(store)
    created, outcome = put(store, app)
    assert outcome is PutOutcome.CREATED
    clock.advance(minutes=1)
    replay, outcome = put(store, app)
    assert outcome is PutOutcome.UNCHANGED
    assert replay.updated_at == created.updated_at
    newer = ISSUED + timedelta(hours=1)
    updated, outcome = put(
        store, app, token_issued_at=newer, system_user_token="DemoApp-NEWER", approved_by="b@x"
    )
    assert outcome is PutOutcome.UPDATED
    assert updated.token_issued_at == newer
    stale, outcome = put(store, app, system_user_token="DemoApp-OLDER", approved_by="old@x")
    assert outcome is PutOutcome.STALE
    assert stale.approved_by == "b@x"  # the stored, newer record comes back
    stored = store.get_authorization(app.id, "Cust12345")
    assert stored.token_issued_at == newer
    assert stored.approved_by == "b@x"
    assert stored.system_user_token is not None
    assert stored.system_user_token.reveal() == "DemoApp-NEWER"
    assert stored.id == created.id
    assert stored.created_at == created.created_at
    assert stored.updated_at == clock()
    assert len(store.list_authorizations()) == 1


def test_a_newer_token_reactivates_a_revoked_record(store: Repository) -> None:
    app = add_app(store)
    put(store, app)
    revoked = store.set_authorization_status("demo", "Cust12345", "revoked", actor="ops")
    assert revoked.status == "revoked"
    _, outcome = put(store, app)  # replay: still revoked
    assert outcome is PutOutcome.UNCHANGED
    assert store.get_authorization("demo", "Cust12345").status == "revoked"
    _, outcome = put(store, app, token_issued_at=ISSUED + timedelta(seconds=1))
    assert outcome is PutOutcome.UPDATED
    assert store.get_authorization("demo", "Cust12345").status == "active"
    with pytest.raises(ConfigurationError):
        store.set_authorization_status("demo", "Cust12345", "paused")


# -- secrets at rest ------------------------------------------------------------------------


def fill(store: Repository) -> Application:
    app = add_app(store)
    put(store, app)
    store.add_pending_sign_in(
        STATE,
        application_id=app.id,
        purpose="install",
        nonce=NONCE,
        code_verifier=CODE_VERIFIER,
        redirect_uri="https://partner.example/callback",
    )
    return app


def test_secrets_are_encrypted_on_disk(store: Repository, home: Path, is_sqlite: bool) -> None:
    fill(store)
    if is_sqlite:
        database = home / "toolkit.db"
        wal = home / "toolkit.db-wal"
        assert wal.exists()
        data = database.read_bytes() + wal.read_bytes()
        assert b"client-demo" in data  # the search does see what was written
        for secret in SECRETS:
            assert secret.encode() not in data
    with store.engine.connect() as connection:
        rows = [
            *connection.execute(
                select(applications.c.client_secret, applications.c.private_key)
            ).all(),
            *connection.execute(
                select(authorizations.c.system_user_token, authorizations.c.refresh_token)
            ).all(),
            *connection.execute(
                select(pending_sign_ins.c.nonce, pending_sign_ins.c.code_verifier)
            ).all(),
        ]
        states = connection.execute(select(pending_sign_ins.c.state_hash)).scalars().all()
    values = [value for row in rows for value in row]
    assert len(values) == 6
    assert all(value.startswith("v1:alpha:") for value in values)
    assert not any(secret in value for value in values for secret in SECRETS)
    assert STATE not in states


def test_a_value_copied_to_another_row_fails_to_decrypt(store: Repository) -> None:
    first = add_app(store, "first")
    second = add_app(store, "second", client_secret="another-secret")
    with store.engine.begin() as connection:
        connection.execute(
            update(applications)
            .where(applications.c.id == second.id)
            .values(
                client_secret=select(applications.c.client_secret)
                .where(applications.c.id == first.id)
                .scalar_subquery()
            )
        )
    with pytest.raises(DecryptionError) as caught:
        store.get_application("second").client_secret.reveal()
    assert CLIENT_SECRET not in str(caught.value)
    assert store.get_application("first").client_secret.reveal() == CLIENT_SECRET
    unreadable = store.verify_secrets()
    assert [(u.table, u.row_id, u.column, u.kid) for u in unreadable] == [
        ("applications", second.id, "client_secret", "alpha")
    ]
    assert unreadable[0].reason == "authentication failed"


def test_a_value_copied_to_another_column_fails_to_decrypt(store: Repository) -> None:
    app = add_app(store)
    put(store, app)
    with store.engine.begin() as connection:
        connection.execute(
            update(authorizations).values(refresh_token=authorizations.c.system_user_token)
        )
    record = store.get_authorization("demo", "Cust12345")
    assert record.system_user_token is not None
    assert record.system_user_token.reveal() == SYSTEM_USER_TOKEN
    assert record.refresh_token is not None
    with pytest.raises(DecryptionError):
        record.refresh_token.reveal()


def test_wrong_key_refuses_to_start(database_url: str | None, home: Path) -> None:
    open_store(database_url, home, KEY_A).close()
    for wrong in (OTHER_ALPHA, KEY_B):  # same kid other key; another kid entirely
        with pytest.raises(SecretKeyError, match="refusing to start"):
            open_store(database_url, home, wrong)
    open_store(database_url, home, KEY_A).close()


def test_missing_key_file_for_a_sealed_store_refuses_to_start(
    database_url: str | None, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="toolkit.store"):
        first = open_store(database_url, home, None)
    key_file = home / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"created a new secret key at {key_file}" in caplog.text
    add_app(first)
    first.close()
    reopened = open_store(database_url, home, None)  # same key file: fine
    assert reopened.get_application("demo").client_secret.reveal() == CLIENT_SECRET
    reopened.close()
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        open_store(database_url, home, None)
    key_file.unlink()
    with pytest.raises(SecretKeyError, match="does not exist"):
        open_store(database_url, home, None)
    assert not key_file.exists()  # no new key made up for a store that has secrets


# -- rotation and verification --------------------------------------------------------------


def test_rotation_re_encrypts_everything_under_the_current_key(
    store: Repository, database_url: str | None, home: Path, clock: Clock
) -> None:
    fill(store)
    store.close()
    rotating = open_store(database_url, home, f"{KEY_B},{KEY_A}")
    report = rotating.rotate_secrets()
    assert report.current_kid == "beta"
    assert report.rotated == 7  # 6 secrets + the key ring canary
    assert report.unreadable == 0
    assert rotating.rotate_secrets().rotated == 0  # nothing left to do
    rotating.close()
    with pytest.raises(SecretKeyError):
        open_store(database_url, home, KEY_A)  # the old key alone no longer fits
    only_new = open_store(database_url, home, KEY_B, now=clock)
    try:
        assert only_new.verify_secrets() == []
        record = only_new.get_authorization("demo", "Cust12345")
        assert record.system_user_token is not None
        assert record.system_user_token.reveal() == SYSTEM_USER_TOKEN
        assert only_new.get_application("demo").client_secret.reveal() == CLIENT_SECRET
        assert only_new.take_pending_sign_in(STATE).nonce.reveal() == NONCE
    finally:
        only_new.close()


def test_interrupted_rotation_can_be_run_again(
    store: Repository, database_url: str | None, home: Path
) -> None:
    for index in range(5):
        add_app(store, f"app-{index}")
    store.close()
    rotating = open_store(database_url, home, f"{KEY_B},{KEY_A}")
    calls: list[tuple[str, int]] = []

    def crash_after_first_batch(table: str, count: int) -> None:
        calls.append((table, count))
        raise KeyboardInterrupt("operator pressed Ctrl-C")

    with pytest.raises(KeyboardInterrupt):
        rotating.rotate_secrets(batch_size=2, on_batch=crash_after_first_batch)
    assert calls == [("applications", 4)]  # 2 rows x (client_secret, private_key), committed
    with rotating.engine.connect() as connection:
        kids = [
            value.split(":")[1]
            for value in connection.execute(select(applications.c.client_secret)).scalars()
        ]
    assert sorted(kids) == ["alpha", "alpha", "alpha", "beta", "beta"]
    report = rotating.rotate_secrets(batch_size=2)
    assert report.rotated == 7  # the 3 remaining apps x 2 columns + the canary
    rotating.close()
    only_new = open_store(database_url, home, KEY_B)
    try:
        assert only_new.verify_secrets() == []
        assert {app.client_secret.reveal() for app in only_new.list_applications()} == {
            CLIENT_SECRET
        }
    finally:
        only_new.close()


def test_verify_reports_values_sealed_with_a_key_no_longer_in_the_ring(
    store: Repository, database_url: str | None, home: Path
) -> None:
    app = add_app(store)
    store.close()
    rotating = open_store(database_url, home, f"{KEY_B},{KEY_A}")
    rotating.rotate_secrets()
    # A value written by an old copy still holding only the old key, after rotation:
    with rotating.engine.begin() as connection:
        old_box = SecretBox(KeyRing.from_text(KEY_A))
        connection.execute(
            update(applications)
            .where(applications.c.id == app.id)
            .values(
                private_key=old_box.encrypt(
                    PRIVATE_KEY, aad=associated_data("applications", app.id, "private_key")
                )
            )
        )
    rotating.close()
    only_new = open_store(database_url, home, KEY_B)
    try:
        [unreadable] = only_new.verify_secrets()
        assert (unreadable.table, unreadable.column, unreadable.kid) == (
            "applications",
            "private_key",
            "alpha",
        )
        assert unreadable.reason == "key not in the key ring"
        report = only_new.rotate_secrets()
        assert (report.rotated, report.unreadable) == (0, 1)  # left alone, not lost
        assert only_new.get_application("demo").client_secret.reveal() == CLIENT_SECRET
    finally:
        only_new.close()


# -- pending sign-ins -------------------------------------------------------------------------


def test_pending_sign_in_is_single_use(store: Repository) -> None:
    app = add_app(store)
    store.add_pending_sign_in(
        STATE,
        application_id=app.id,
        purpose="user",
        nonce=NONCE,
        code_verifier=CODE_VERIFIER,
        redirect_uri="https://partner.example/callback",
        return_to="/panel",
    )
    with pytest.raises(ConflictError):
        store.add_pending_sign_in(
            STATE,
            application_id=app.id,
            purpose="user",
            nonce="n",
            code_verifier="v",
            redirect_uri="https://partner.example/callback",
        )
    taken = store.take_pending_sign_in(STATE)
    assert (taken.nonce.reveal(), taken.code_verifier.reveal()) == (NONCE, CODE_VERIFIER)
    assert (taken.purpose, taken.return_to, taken.application_id) == ("user", "/panel", app.id)
    with pytest.raises(NotFoundError):
        store.take_pending_sign_in(STATE)
    with pytest.raises(NotFoundError):
        store.take_pending_sign_in("never-issued")


def test_pending_sign_in_expires(store: Repository, clock: Clock) -> None:
    app = add_app(store)

    def start(state: str) -> None:
        store.add_pending_sign_in(
            state,
            application_id=app.id,
            purpose="install",
            nonce=NONCE,
            code_verifier=CODE_VERIFIER,
            redirect_uri="https://partner.example/callback",
            ttl=timedelta(minutes=10),
        )

    start("early-1")
    start("early-2")
    start("early-3")
    clock.advance(minutes=9, seconds=59)
    assert store.take_pending_sign_in("early-1").purpose == "install"
    clock.advance(seconds=1)
    with pytest.raises(ExpiredError):
        store.take_pending_sign_in("early-2")
    with pytest.raises(NotFoundError):  # an expired state is gone too
        store.take_pending_sign_in("early-2")
    start("fresh")
    assert store.purge_expired_sign_ins() == 1  # early-3
    assert store.take_pending_sign_in("fresh").purpose == "install"


# -- user options -----------------------------------------------------------------------------


def test_user_options(store: Repository) -> None:
    add_app(store)
    store.set_user_option("demo", "Cust12345", "user-1", "colour", "blue")
    store.set_user_option("demo", "Cust12345", "user-1", "colour", {"name": "green"})
    store.set_user_option("demo", "Cust12345", "user-1", "limit", 10)
    store.set_user_option("demo", "Cust12345", "user-2", "colour", "red")
    assert store.get_user_options("demo", "Cust12345", "user-1") == {
        "colour": {"name": "green"},
        "limit": 10,
    }
    assert store.get_user_options("demo", "Cust99999", "user-1") == {}
    with pytest.raises(StoreError):
        store.set_user_option("demo", "Cust12345", "user-1", "api_token", "abc")


# -- audit --------------------------------------------------------------------------------------


def test_changes_by_an_actor_are_audited(store: Repository, clock: Clock) -> None:
    app = add_app(store, actor="admin@partner.example")
    put(store, app, actor="callback")
    put(store, app, actor="callback")  # unchanged: no event
    put(store, app, actor="callback", token_issued_at=ISSUED + timedelta(seconds=5))
    store.set_authorization_status("demo", "Cust12345", "needs_reconsent", actor="ops")
    put(store, app)  # no actor: no event
    events = store.list_audit(application="demo")
    assert [event.action for event in events] == [
        "authorization.status_changed",
        "authorization.updated",
        "authorization.created",
        "application.added",
    ]
    assert events[0].summary == {"from": "active", "to": "needs_reconsent", "reason": None}
    assert events[-1].actor == "admin@partner.example"
    assert events[1].context_identifier == "Cust12345"
    text = repr(events)
    assert not any(secret in text for secret in SECRETS)
    assert store.list_audit(context_identifier="Cust12345", limit=1)[0].actor == "ops"
    clock.advance(hours=1)
    store.record_audit("ops", "tenant.checked", summary={"ok": True})
    assert [e.action for e in store.list_audit(since=clock())] == ["tenant.checked"]


class FailingAudit(Repository):
    def _audit(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise RuntimeError("audit storage failed")


def test_an_audit_failure_undoes_the_change(store: Repository, clock: Clock) -> None:
    app = add_app(store)
    failing = FailingAudit(store.engine, store.box, now=clock)
    with pytest.raises(RuntimeError):
        add_app(failing, "second", actor="ops")
    assert [a.name for a in store.list_applications()] == ["demo"]
    with pytest.raises(RuntimeError):
        put(failing, app, actor="callback")
    assert store.list_authorizations() == []
    assert store.list_audit() == []


@pytest.mark.parametrize(
    "summary",
    [
        {"system_user_token": SYSTEM_USER_TOKEN},
        {"client_secret": CLIENT_SECRET},
        {"nested": {"refresh_token": REFRESH_TOKEN}},
        {"items": [{"privateKey": PRIVATE_KEY}]},
        {"http://schemes.superoffice.net/identity/system_token": SYSTEM_USER_TOKEN},
        {"SO-AppToken": CLIENT_SECRET},
    ],
)
def test_audit_refuses_secrets_by_key_name(store: Repository, summary: dict[str, object]) -> None:
    with pytest.raises(StoreError) as caught:
        store.record_audit("ops", "oops", summary=summary)
    assert not any(secret in str(caught.value) for secret in SECRETS)
    assert store.list_audit() == []
    store.record_audit("ops", "fine", summary={"has_system_user_token": True, "count": 3})


def test_records_can_be_copied_but_not_pickled(store: Repository) -> None:
    app = add_app(store)
    as_dict = dataclasses.asdict(app)
    assert as_dict["client_secret"].reveal() == CLIENT_SECRET
    assert CLIENT_SECRET not in repr(as_dict)
    with pytest.raises(TypeError):
        pickle.dumps(app)
