"""Hostile input to every partner endpoint: a 4xx with the toolkit's own page or JSON, never a
500 or a traceback, and the store exactly as it was.

Query strings are built from raw bytes (invalid UTF-8, ``%00``); bodies from arbitrary bytes,
from JSON with escaped lone surrogates and NUL, and from nesting far deeper than any message.
Outbound HTTP is offline (every call out answers 503), so nothing here can succeed by reaching
SuperID: a refusal must come from the toolkit's own checks.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest
from hostile_strategies import (
    deep_json,
    hostile_text,
    json_escaped,
    json_values,
    raw_query,
)
from hostile_support import CLIENT_ID, CTX, store_snapshot
from hypothesis import example, given
from hypothesis import strategies as st

from toolkit.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FORM = "application/x-www-form-urlencoded"
CALLBACK_NAMES = ("state", "code", "error", "error_description", "id_token", "session_state")
PANEL_NAMES = ("app", "ctx", "uctx", "saved")
MESSAGE_FIELDS = ("ChangeType", "ContextIdentifier", "VersionName", "FileVersion", "Token")
STATE_CHANGE_PATHS = ("/state-change", f"/state-change/{CLIENT_ID}")


def assert_refused_page(response: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A 4xx HTML page of ours (a request id to quote), no traceback anywhere."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="error-message"' in response.text
    assert response.headers.get("x-request-id")
    assert "Traceback" not in response.text
    assert_quiet_log(caplog)


def assert_quiet_log(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert record.levelno < logging.ERROR, record.getMessage()
        assert "Traceback" not in record.getMessage()


@given(query=raw_query(CALLBACK_NAMES))
@example(query="state=%00&code=x")
@example(query="state=%ED%A0%80&code=%C0%80")
@example(query="error=%0D%0ALocation:%20x&state=a")
def test_callback_query(
    client: TestClient, workspace: Workspace, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    before = store_snapshot(workspace)
    caplog.clear()
    response = client.get(f"/callback?{query}", follow_redirects=False)
    assert_refused_page(response, caplog)
    assert store_snapshot(workspace) == before


@given(
    body=st.one_of(st.binary(max_size=300), raw_query(CALLBACK_NAMES).map(str.encode)),
    content_type=st.sampled_from([FORM, f"{FORM}; charset=latin-1", "application/json", ""]),
)
@example(body=b"state=%00&code=x", content_type=FORM)
@example(body=b"state=\xff\xfe&code=x", content_type=FORM)
def test_callback_form(
    client: TestClient,
    workspace: Workspace,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
) -> None:
    before = store_snapshot(workspace)
    caplog.clear()
    response = client.post("/callback", content=body, headers={"content-type": content_type})
    assert_refused_page(response, caplog)
    assert store_snapshot(workspace) == before


@given(query=raw_query(("app", "tenant")))
@example(query="app=%00")
@example(query="app=Acme%20Sync&tenant=Cust12345%00")
@example(query="app=Acme%20Sync&tenant=%E2%80%AECust1")
def test_install_query(
    client: TestClient, workspace: Workspace, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    before = store_snapshot(workspace)
    caplog.clear()
    response = client.get(f"/install?{query}", follow_redirects=False)
    if response.status_code == 303:  # a genuine start of sign-in for our application
        return
    assert_refused_page(response, caplog)
    assert store_snapshot(workspace) == before


@given(query=raw_query(PANEL_NAMES), method=st.sampled_from(["GET", "POST"]))
@example(query="app=Acme%20Sync&ctx=%00", method="GET")
@example(query="app=%ED%A0%80&uctx=Cust12345", method="GET")
def test_panel(
    client: TestClient,
    workspace: Workspace,
    caplog: pytest.LogCaptureFixture,
    query: str,
    method: str,
) -> None:
    before = store_snapshot(workspace)
    caplog.clear()
    response = client.request(
        method,
        f"/panel?{query}",
        content=b"csrf=%00&language=%ED%A0%80",
        headers={"content-type": FORM},
        follow_redirects=False,
    )
    if response.status_code == 303:  # sent to SuperID to sign in: only a pending sign-in
        return
    assert_refused_page(response, caplog)
    assert store_snapshot(workspace) == before


def assert_refused_json(response: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code in (400, 401, 404, 413, 415), (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert "Traceback" not in response.text
    assert_quiet_log(caplog)


def unchanged_except_rejections(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Only a ``rejected`` history row (and its audit event) may be added by a refusal."""
    for table, rows in before.items():
        if table in ("state_changes", "audit_events"):
            continue
        assert after[table] == rows, table
    added = [row for row in after["state_changes"] if row not in before["state_changes"]]
    assert all("rejected" in row for row in added), added


@given(
    body=st.one_of(
        st.binary(max_size=400),
        json_values.map(json_escaped),
        st.fixed_dictionaries(
            {},
            optional={
                name: st.one_of(hostile_text, st.integers(-10, 10), json_values)
                for name in MESSAGE_FIELDS
            },
        ).map(json_escaped),
        st.integers(min_value=33, max_value=20_000).map(deep_json),
    ),
    path=st.sampled_from(STATE_CHANGE_PATHS),
)
@example(
    body=b'{"ChangeType": 2, "ContextIdentifier": "Cust12345", "VersionName": "\\ud800", '
    b'"Token": "a.b.c"}',
    path="/state-change",
)
@example(body=b'{"ChangeType": 2, "ContextIdentifier": "Cust12345\\u0000"}', path="/state-change")
@example(body=deep_json(50_000), path="/state-change")
@example(body=deep_json(30_000, "{"), path="/state-change")
@example(body=b'{"ChangeType": NaN}', path="/state-change")
def test_state_change(
    client: TestClient,
    workspace: Workspace,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    path: str,
) -> None:
    before = store_snapshot(workspace)
    caplog.clear()
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_refused_json(response, caplog)
    unchanged_except_rejections(before, store_snapshot(workspace))


@given(suffix=raw_query(("x",)).map(lambda q: q.replace("&", "%26").replace("=", "%3D")))
@example(suffix="%00")
@example(suffix="%ED%A0%80")
def test_state_change_application_path(
    client: TestClient, workspace: Workspace, caplog: pytest.LogCaptureFixture, suffix: str
) -> None:
    before = store_snapshot(workspace)
    caplog.clear()
    response = client.post(
        f"/state-change/{suffix or 'x'}",
        content=b'{"ChangeType": 2, "ContextIdentifier": "%s", "Token": "a.b.c"}' % CTX.encode(),
        headers={"content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "Traceback" not in response.text
    assert_quiet_log(caplog)
    unchanged_except_rejections(before, store_snapshot(workspace))


hostile_requests = st.tuples(
    st.sampled_from(["GET", "POST"]),
    raw_query(("app", "ctx", "uctx", "tenant", "state", "run", "csrf", "parts")),
    st.one_of(st.binary(max_size=200), raw_query(("csrf", "parts", "app")).map(str.encode)),
    st.sampled_from([FORM, "application/json", "text/plain", ""]),
    st.integers(min_value=0, max_value=1000),
)


@given(request=hostile_requests)
def test_every_route(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    request: tuple[str, str, bytes, str, int],
) -> None:
    """Every route the partner endpoints serve, today's and tomorrow's: never a 5xx."""
    from starlette.routing import Route

    method, query, body, content_type, route = request
    paths = sorted(
        {
            r.path.replace("{application}", "x").replace("{app}", "x")
            for r in client.app.routes  # type: ignore[attr-defined]
            if isinstance(r, Route)
        }
    )
    path = paths[route % len(paths)]
    caplog.clear()
    response = client.request(
        method,
        f"{path}?{query}",
        content=body,
        headers={"content-type": content_type},
        follow_redirects=False,
    )
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    assert_quiet_log(caplog)
