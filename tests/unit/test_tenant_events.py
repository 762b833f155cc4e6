"""TenantEvents' store-only views for the front ends (``is_running_state``, ``known_states``,
``stored_status``: a stored state API answer reused while its ValidUntil is ahead), what confirms
a state-change notification (``confirms``) and each application's state-change path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from toolkit.store import Repository, generate_key_text, open_store
from toolkit.tenant import TenantState, TenantStatus
from toolkit.tenant_events import (
    STATE_CHANGE_PATH,
    ChangeType,
    NotificationMessage,
    TenantEvents,
    confirms,
    is_running_state,
    state_change_path,
)

CTX = "Cust12345"
OTHER = "Cust33333"
APP = "Acme Sync"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repository(tmp_path: Path, clock: Clock) -> Iterator[Repository]:
    store = open_store(None, tmp_path / "home", generate_key_text("events"), now=clock)
    store.add_application(
        APP,
        environment="sod",
        client_id="acme-client-id",
        client_secret="acme-client-secret",
        actor="test",
    )
    for ctx in (CTX, OTHER):
        store.put_authorization(APP, ctx, token_issued_at=NOW, system_user_token=f"{APP}-{ctx}")
    yield store
    store.close()


@pytest.fixture
def events(repository: Repository, clock: Clock) -> Iterator[TenantEvents]:
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        yield TenantEvents(repository, http, now=clock)


def answer(state: str, valid_until: datetime | None, ctx: str = CTX) -> TenantStatus:
    parsed = TenantState.from_wire(state)
    return TenantStatus(
        context_identifier=ctx,
        endpoint=f"https://sod2.superoffice.com/{ctx}",
        state=parsed,
        is_running=parsed in (TenantState.Running, TenantState.OnlineMaintenance),
        valid_until=valid_until,
        api=f"https://sod2.superoffice.com/{ctx}/api",
        version="Release_11.10",
        state_name=state,
    )


@pytest.mark.parametrize(
    ("state", "running"),
    [
        ("Running", True),
        ("OnlineMaintenance", True),
        ("running", True),
        ("OfflineMaintenance", False),
        ("Suspended", False),
        ("SomethingNew", False),
        (None, False),
    ],
)
def test_is_running_state(state: str | None, running: bool) -> None:
    assert is_running_state(state) is running


def test_known_states_are_keyed_by_application_and_tenant(
    events: TenantEvents, repository: Repository
) -> None:
    assert events.known_states() == {}
    events.record_status(APP, answer("Suspended", NOW + timedelta(seconds=30), ctx=OTHER))

    known = events.known_states(APP)

    app_id = repository.get_application(APP).id
    assert list(known) == [(app_id, OTHER.casefold())]
    assert known[(app_id, OTHER.casefold())].state == "Suspended"
    assert events.known_states() == known


def test_stored_status_is_reused_until_valid_until(events: TenantEvents, clock: Clock) -> None:
    assert events.stored_status(APP, CTX) is None  # never checked

    events.record_status(APP, answer("OfflineMaintenance", NOW + timedelta(seconds=30)))
    stored = events.stored_status(APP, CTX)

    assert stored is not None
    assert stored.state is TenantState.OfflineMaintenance
    assert stored.is_available is False
    assert stored.api_url == f"https://sod2.superoffice.com/{CTX}/api"
    assert stored.valid_until == NOW + timedelta(seconds=30)

    clock.now = NOW + timedelta(seconds=30)
    assert events.stored_status(APP, CTX) is None  # ValidUntil reached: ask again


def test_a_state_without_valid_until_is_not_reused(events: TenantEvents) -> None:
    events.record_status(APP, answer("Running", None))

    assert events.stored_status(APP, CTX) is None


def notification(change: ChangeType, public_endpoint: str | None = None) -> NotificationMessage:
    return NotificationMessage(
        change_type=change,
        context_identifier=CTX,
        version_name=None,
        file_version=None,
        token="not.checked.here",
        public_endpoint=public_endpoint,
    )


def located(state: str, endpoint: str = f"https://sod2.superoffice.com/{CTX}") -> TenantStatus:
    parsed = TenantState.from_wire(state)
    return TenantStatus(
        context_identifier=CTX,
        endpoint=endpoint,
        state=parsed,
        is_running=parsed in (TenantState.Running, TenantState.OnlineMaintenance),
        valid_until=None,
        api=None,
        state_name=state,
    )


@pytest.mark.parametrize(
    ("change", "state", "confirmed"),
    [
        (ChangeType.Suspend, "Suspended", True),
        (ChangeType.Suspend, "Running", False),
        (ChangeType.Suspend, "Deleted", False),
        (ChangeType.Delete, "Deleted", True),
        (ChangeType.Delete, "Deleting", True),
        (ChangeType.Delete, "DeleteFailed", False),
        (ChangeType.Delete, "Running", False),
        (ChangeType.Delete, "Unknown", False),
        (ChangeType.Resume, "Running", True),
        (ChangeType.Resume, "OnlineMaintenance", True),
        (ChangeType.Resume, "Suspended", False),
        (ChangeType.Upgrade, "OfflineMaintenance", True),
        (ChangeType.Upgrade, "Running", True),
        (ChangeType.Upgrade, "Unknown", False),
        (ChangeType.BackupRestored, "Running", True),
        (ChangeType.BackupRestored, "Unknown", False),
    ],
)
def test_the_state_api_confirms_what_happened(
    change: ChangeType, state: str, confirmed: bool
) -> None:
    assert confirms(notification(change), located(state)) is confirmed


@pytest.mark.parametrize(
    ("public_endpoint", "endpoint", "confirmed"),
    [
        ("sod3.superoffice.com", f"https://sod3.superoffice.com/{CTX}", True),
        ("SOD3.superoffice.com", f"https://sod3.superoffice.com/{CTX}", True),
        ("sod3.superoffice.com", f"https://sod3.superoffice.com:443/{CTX}", True),
        ("sod3.superoffice.com:443", f"https://sod3.superoffice.com/{CTX}", True),
        ("127.0.0.1:8766", f"http://127.0.0.1:8766/{CTX}", True),
        ("127.0.0.1:8767", f"http://127.0.0.1:8766/{CTX}", False),
        ("sod3.superoffice.com", f"https://sod2.superoffice.com/{CTX}", False),
        ("sod3.superoffice.com.evil.example", f"https://sod3.superoffice.com/{CTX}", False),
        ("sod3.superoffice.com", None, False),
    ],
)
def test_a_move_is_confirmed_by_the_endpoints_host(
    public_endpoint: str, endpoint: str | None, confirmed: bool
) -> None:
    answer = located("Running", endpoint) if endpoint else located("Unknown", "")
    assert confirms(notification(ChangeType.Move, public_endpoint), answer) is confirmed


def test_each_application_has_its_own_state_change_path() -> None:
    assert STATE_CHANGE_PATH == "/state-change"
    assert state_change_path("6cf25376616343b38d14ddcd804f2891") == (
        "/state-change/6cf25376616343b38d14ddcd804f2891"
    )
    assert state_change_path("a/b c") == "/state-change/a%2Fb%20c"
