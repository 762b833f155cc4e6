"""The state API client: parsing, the 11 states, caching until ValidUntil, not-running gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from toolkit.config import Environment
from toolkit.errors import TenantNotRunningError, UnexpectedResponseError, UnknownTenantError
from toolkit.http import RetryPolicy, create_client
from toolkit.tenant.status import (
    RUNNING_STATES,
    STATUS_MAX_TTL,
    STATUS_MIN_TTL,
    TenantState,
    TenantStatusClient,
    parse_tenant_status,
    parse_valid_until,
    recorded_status,
)

CTX = "Cust12345"
START = datetime(2026, 2, 23, 9, 0, 0, tzinfo=UTC)
ENV = Environment.named("online")


class Clock:
    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def stamp(moment: datetime) -> str:
    """ValidUntil as SuperOffice writes it: 7 fractional digits and Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}1Z"


def document(state: str = "Running", *, until: datetime, host: str = "online2") -> dict[str, Any]:
    endpoint = f"https://{host}.superoffice.com/{CTX}"
    return {
        "ContextIdentifier": CTX,
        "Endpoint": endpoint,
        "State": state,
        "IsRunning": state in ("Running", "OnlineMaintenance"),
        "ValidUntil": stamp(until),
        "Api": f"{endpoint}/api",
        "Version": "Release_11.10_2026.02.24-02",
    }


class StateApi:
    """A MockTransport handler for GET /api/state/{ctx}; counts calls."""

    def __init__(self, *answers: dict[str, Any] | int) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.url.path == f"/api/state/{CTX}"
        assert "authorization" not in request.headers
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, int):
            return httpx.Response(answer, text="no")
        return httpx.Response(200, json=answer)


def status_client(api: StateApi, clock: Clock, **kwargs: Any) -> TenantStatusClient:
    http = create_client(transport=httpx.MockTransport(api))
    return TenantStatusClient(http, ENV, now=clock, **kwargs)


def test_the_eleven_states_and_their_numbers() -> None:
    assert {state.name: state.value for state in TenantState} == {
        "Unknown": 0,
        "Provisioning": 1,
        "Running": 2,
        "Deleted": 3,
        "Suspended": 4,
        "OnlineMaintenance": 5,
        "OfflineMaintenance": 6,
        "ProvisioningFailed": 8,
        "Deleting": 10,
        "DeleteFailed": 11,
        "MigrationPending": 12,
    }
    assert {TenantState.Running, TenantState.OnlineMaintenance} == RUNNING_STATES


@pytest.mark.parametrize(
    ("wire", "state"),
    [
        ("Running", TenantState.Running),
        ("offlinemaintenance", TenantState.OfflineMaintenance),
        (12, TenantState.MigrationPending),
        ("6", TenantState.OfflineMaintenance),
        ("SomethingNew", TenantState.Unknown),
        (7, TenantState.Unknown),
        (None, TenantState.Unknown),
        (True, TenantState.Unknown),
    ],
)
def test_state_from_wire(wire: Any, state: TenantState) -> None:
    assert TenantState.from_wire(wire) is state


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-23T09:52:01.9342965Z", datetime(2026, 2, 23, 9, 52, 1, 934296, tzinfo=UTC)),
        ("2026-02-23T09:52:01Z", datetime(2026, 2, 23, 9, 52, 1, tzinfo=UTC)),
        ("2026-02-23T09:52:01.5", datetime(2026, 2, 23, 9, 52, 1, 500000, tzinfo=UTC)),
        ("2026-02-23T10:52:01.1+01:00", datetime(2026, 2, 23, 9, 52, 1, 100000, tzinfo=UTC)),
        ("yesterday", None),
        ("2026-13-40T00:00:00Z", None),
        (None, None),
        (12345, None),
    ],
)
def test_valid_until_parsing(text: Any, expected: datetime | None) -> None:
    assert parse_valid_until(text) == expected


def test_parse_tenant_status_reads_every_field() -> None:
    status = parse_tenant_status(
        {
            "ContextIdentifier": "Cust12345",
            "Endpoint": "https://online2.superoffice.com/Cust12345",
            "State": "Running",
            "IsRunning": True,
            "ValidUntil": "2026-02-23T09:52:01.9342965Z",
            "Api": "https://online2.superoffice.com/Cust12345/api",
            "Version": "Release_11.10_2026.02.24-02",
        },
        "cust12345",
    )
    assert status.context_identifier == "Cust12345"
    assert status.endpoint == "https://online2.superoffice.com/Cust12345"
    assert status.state is TenantState.Running
    assert status.is_running is True
    assert status.is_available is True
    assert status.valid_until == datetime(2026, 2, 23, 9, 52, 1, 934296, tzinfo=UTC)
    assert status.api == status.api_url == "https://online2.superoffice.com/Cust12345/api"
    assert status.version == "Release_11.10_2026.02.24-02"
    assert status.netserver_url == "https://online2.superoffice.com/Cust12345/Remote/Services88/"


def test_parse_tenant_status_falls_back_to_endpoint_and_refuses_another_tenant() -> None:
    old = parse_tenant_status(
        {"Endpoint": "https://sod2.superoffice.com:443/Cust12345", "State": "Running"}, CTX
    )
    assert old.api_url == "https://sod2.superoffice.com:443/Cust12345/api"
    assert old.is_running is False  # IsRunning absent: not running
    with pytest.raises(UnexpectedResponseError):
        parse_tenant_status({"ContextIdentifier": "Cust99999", "State": "Running"}, CTX)
    with pytest.raises(UnexpectedResponseError):
        parse_tenant_status(["Running"], CTX)
    with pytest.raises(UnexpectedResponseError):
        parse_tenant_status({"Endpoint": 42}, CTX)


def test_running_and_online_maintenance_are_available() -> None:
    until = START + timedelta(minutes=5)
    online = parse_tenant_status(document("OnlineMaintenance", until=until), CTX)
    assert online.is_available
    lying = parse_tenant_status({**document("Suspended", until=until), "IsRunning": True}, CTX)
    assert not lying.is_available


def test_answers_are_cached_until_valid_until() -> None:
    clock = Clock()
    api = StateApi(document(until=START + timedelta(minutes=5)))
    client = status_client(api, clock)
    assert client.status(CTX).state is TenantState.Running
    assert client.status(CTX.lower()).state is TenantState.Running  # case-insensitive key
    clock.advance(minutes=4, seconds=59)
    client.require_running(CTX)
    assert api.calls == 1
    clock.advance(seconds=1)
    client.status(CTX)
    assert api.calls == 2
    assert client.fetch_count == 2


def test_cache_lifetime_is_bounded() -> None:
    clock = Clock()
    api = StateApi(
        document(until=START - timedelta(hours=1)),  # already past: min TTL
        document(until=START + timedelta(days=30)),  # far away: max TTL
    )
    client = status_client(api, clock)
    client.status(CTX)
    clock.advance(seconds=STATUS_MIN_TTL.total_seconds() - 1)
    client.status(CTX)
    assert api.calls == 1
    clock.advance(seconds=1)
    client.status(CTX)
    assert api.calls == 2
    clock.advance(seconds=STATUS_MAX_TTL.total_seconds() - 1)
    client.status(CTX)
    assert api.calls == 2
    clock.advance(seconds=1)
    client.status(CTX)
    assert api.calls == 3


def test_offline_maintenance_gets_no_calls_until_valid_until() -> None:
    clock = Clock()
    until = START + timedelta(seconds=30)
    api = StateApi(
        document("OfflineMaintenance", until=until),
        document("Running", until=START + timedelta(minutes=10)),
    )
    client = status_client(api, clock)
    for _ in range(5):
        with pytest.raises(TenantNotRunningError) as caught:
            client.require_running(CTX)
        assert caught.value.state is TenantState.OfflineMaintenance
        assert caught.value.valid_until == parse_valid_until(stamp(until))
        assert caught.value.context_identifier == CTX
        clock.advance(seconds=5)
    assert api.calls == 1  # the cached answer was reused every time
    clock.advance(seconds=6)
    assert client.require_running(CTX).state is TenantState.Running
    assert api.calls == 2


@pytest.mark.parametrize(
    "state",
    [
        "Provisioning",
        "Deleted",
        "Suspended",
        "OfflineMaintenance",
        "ProvisioningFailed",
        "Deleting",
        "DeleteFailed",
        "MigrationPending",
    ],
)
def test_every_state_that_is_not_running_is_a_typed_error(state: str) -> None:
    client = status_client(StateApi(document(state, until=START + timedelta(minutes=1))), Clock())
    with pytest.raises(TenantNotRunningError) as caught:
        client.require_running(CTX)
    assert caught.value.state is TenantState[state]
    assert not isinstance(caught.value, UnknownTenantError)
    assert state in str(caught.value)


def test_unknown_tenants_are_a_typed_error() -> None:
    unknown = {
        "ContextIdentifier": CTX,
        "Endpoint": None,
        "State": "Unknown",
        "IsRunning": False,
        "ValidUntil": stamp(START + timedelta(seconds=30)),
        "Api": None,
        "Version": None,
    }
    client = status_client(StateApi(unknown), Clock())
    with pytest.raises(UnknownTenantError) as caught:
        client.require_running(CTX)
    assert caught.value.state is TenantState.Unknown
    not_found = status_client(StateApi(404), Clock())
    with pytest.raises(UnknownTenantError):
        not_found.require_running(CTX)


def test_invalidate_and_refresh_ask_again() -> None:
    clock = Clock()
    api = StateApi(
        document(until=START + timedelta(minutes=5), host="online2"),
        document(until=START + timedelta(minutes=5), host="online3"),
        document(until=START + timedelta(minutes=5), host="online4"),
    )
    client = status_client(api, clock)
    assert client.status(CTX).api == f"https://online2.superoffice.com/{CTX}/api"
    client.invalidate(CTX)
    assert client.cached(CTX) is None
    assert client.status(CTX).api == f"https://online3.superoffice.com/{CTX}/api"
    assert client.status(CTX, refresh=True).api == f"https://online4.superoffice.com/{CTX}/api"
    assert api.calls == 3


def test_state_api_failures_are_retried_then_typed() -> None:
    sleeps: list[float] = []
    retry = RetryPolicy(sleep=sleeps.append, jitter=0.0)
    api = StateApi(503, 503, document(until=START + timedelta(minutes=5)))
    client = status_client(api, Clock(), retry=retry)
    assert client.require_running(CTX).state is TenantState.Running
    assert api.calls == 3
    assert len(sleeps) == 2
    broken = status_client(StateApi(500), Clock(), retry=retry)
    with pytest.raises(UnexpectedResponseError):
        broken.status(CTX)


def test_a_running_tenant_without_api_is_unexpected() -> None:
    answer = document(until=START + timedelta(minutes=5))
    answer["Api"] = answer["Endpoint"] = None
    with pytest.raises(UnexpectedResponseError):
        status_client(StateApi(answer), Clock()).require_running(CTX)


def test_ttl_bounds_are_checked() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        TenantStatusClient(
            create_client(), ENV, min_ttl=timedelta(minutes=5), max_ttl=timedelta(minutes=1)
        )


def recorded(state: str, *, at: datetime, until: datetime | None) -> Any:
    """What another worker recorded: its answer (state, ValidUntil) and when it observed it."""
    host = "online3"
    return recorded_status(
        CTX,
        state=state,
        endpoint=f"https://{host}.superoffice.com/{CTX}",
        api=f"https://{host}.superoffice.com/{CTX}/api",
        version=None,
        valid_until=until,
        observed_at=at,
    )


def test_a_later_recorded_answer_replaces_the_cached_one_without_a_call() -> None:
    # This worker cached "in maintenance" for 30 s; 10 s later another worker's check found the
    # tenant running and recorded it: this worker works the tenant now, not in 20 s.
    clock = Clock()
    api = StateApi(document("OfflineMaintenance", until=START + timedelta(seconds=30)))
    client = status_client(api, clock)
    assert client.status(CTX).state is TenantState.OfflineMaintenance
    clock.advance(seconds=10)
    later = recorded("Running", at=clock(), until=clock() + timedelta(seconds=30))
    clock.advance(seconds=1)
    answer = client.status(CTX, recorded=later)
    assert (answer.state, answer.is_available) == (TenantState.Running, True)
    assert answer.endpoint == f"https://online3.superoffice.com/{CTX}"
    assert client.require_running(CTX).state is TenantState.Running  # cached from now on
    assert api.calls == 1
    # The recorded answer's own ValidUntil bounds it: then the state API is asked again.
    clock.advance(seconds=30)
    assert client.status(CTX, recorded=later).state is TenantState.OfflineMaintenance
    assert api.calls == 2


def test_an_older_recorded_answer_changes_nothing() -> None:
    clock = Clock()
    api = StateApi(document("Running", until=START + timedelta(seconds=30)))
    client = status_client(api, clock)
    older = recorded("Suspended", at=START - timedelta(seconds=1), until=START + timedelta(hours=1))
    assert client.status(CTX).state is TenantState.Running
    clock.advance(seconds=5)
    assert client.status(CTX, recorded=older).state is TenantState.Running
    # Observed at the same moment (this worker recorded its own answer): the cache stands.
    same = recorded("Suspended", at=START, until=START + timedelta(hours=1))
    assert client.status(CTX, recorded=same).state is TenantState.Running
    assert api.calls == 1


def test_a_later_recorded_answer_past_its_valid_until_is_asked_afresh() -> None:
    clock = Clock()
    api = StateApi(
        document("OfflineMaintenance", until=START + timedelta(seconds=30)),
        document("Running", until=START + timedelta(seconds=60)),
    )
    client = status_client(api, clock)
    assert client.status(CTX).state is TenantState.OfflineMaintenance
    clock.advance(seconds=10)
    expired = recorded("Running", at=clock() - timedelta(seconds=1), until=clock())
    for stale in (expired, recorded("Running", at=clock(), until=None)):
        assert client.status(CTX, recorded=stale).state is TenantState.Running
    # The first asked (a later check, no longer valid); its answer then stood for the second.
    assert api.calls == 2


def test_with_nothing_cached_a_recorded_answer_does_not_stand_in_for_the_state_api() -> None:
    # A dropped answer (a 421, an unconfirmed notification) is asked for again.
    clock = Clock()
    api = StateApi(document("Running", until=START + timedelta(seconds=30)))
    client = status_client(api, clock)
    known = recorded("OfflineMaintenance", at=START, until=START + timedelta(seconds=30))
    assert client.status(CTX, recorded=known).state is TenantState.Running
    client.invalidate(CTX)
    clock.advance(seconds=1)
    assert client.status(CTX, recorded=known).state is TenantState.Running
    assert api.calls == 2
