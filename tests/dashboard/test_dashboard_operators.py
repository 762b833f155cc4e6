"""Operator sign-in and roles in the dashboard, and the Activity page.

AppTest cannot run ``st.login``; the data layer's one seam stands in for ``st.user``: a test
puts id_token claims in ``session_state[data.USER_OVERRIDE]``. ``[auth]`` comes from
``AppTest.secrets``, the allow-list from ``SOTK_OPERATORS``.
"""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

import pytest
from dashboard_support import (
    APP,
    APPLICATIONS_PAGE,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    STANDARD_APP,
    SYSTEM_USER_TOKEN,
    TENANT,
    TENANTS_PAGE,
    TICKET,
    app_test,
    labels,
    rendered_text,
    seed,
    texts,
)
from streamlit.testing.v1 import AppTest

from toolkit.audit import describe_event
from toolkit.store import Repository

sys.path.insert(0, str(APP.parent))
import data  # the dashboard folder is on sys.path only from here

ACTIVITY_PAGE = "views/activity.py"
ISSUER = "http://127.0.0.1:8765"
OPERATOR = "admin@cust12345.test"
VIEWER = "user@cust12345.test"
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "c" * 40,
    "client_id": "dashboard-client",
    "client_secret": "dashboard-client-secret-PLAINTEXT",
    "server_metadata_url": ISSUER + "/login/.well-known/openid-configuration",
}


@pytest.fixture(autouse=True)
def operators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTK_OPERATORS", f"{OPERATOR}:operator,{VIEWER}:viewer")
    monkeypatch.setenv("SOTK_OPERATOR_ISSUER", ISSUER)


def signed_in(
    page: str, user: str | None, auth: dict[str, Any] | None = AUTH, issuer: str = ISSUER
) -> AppTest:
    """Run the app (its sign-in gate), then ``page`` (through app.py, as every URL is)."""
    at = app_test()
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        # What SuperID's id_token holds at the top level: no email_verified, sub = login name.
        at.session_state[data.USER_OVERRIDE] = {"iss": issuer, "sub": user, "aud": "x"}
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_nobody_signed_in_sees_only_the_sign_in_prompt(repository: Repository) -> None:
    seed(repository)
    at = signed_in(APPLICATIONS_PAGE, None)
    assert "Sign in" in labels(at.button)
    assert not at.dataframe
    assert STANDARD_APP not in rendered_text(at)
    # Any other page's URL goes through app.py's gate too (views/ is not auto-discovered).
    page = signed_in(TENANTS_PAGE, None)
    assert "Sign in" in labels(page.button)
    assert not page.dataframe
    assert STANDARD_APP not in rendered_text(page)


def test_viewer_sees_tenants_but_no_action_buttons(repository: Repository) -> None:
    seed(repository)
    at = signed_in(TENANTS_PAGE, VIEWER)
    assert at.dataframe[0].value.iloc[0]["Tenant"] == TENANT
    buttons = labels(at.button)
    assert not [b for b in buttons if b in ("Renew ticket", "Check state", "Apply")], buttons

    apps = signed_in(APPLICATIONS_PAGE, VIEWER)  # the first page: app.py's sidebar is drawn
    assert "Log out" in labels(apps.button)
    assert any("(viewer)" in text for text in texts(apps.sidebar.markdown))
    assert apps.dataframe  # the applications table
    assert not apps.get("form")  # no Add application / Register with the emulator
    assert not apps.get("link_button")  # no Install
    # Wording never points at what a viewer cannot see.
    assert "Approvals" in texts(apps.subheader)
    assert "Install" not in rendered_text(apps).replace("install_tenant", "")


def test_operator_sees_the_actions(repository: Repository) -> None:
    seed(repository)
    at = signed_in(TENANTS_PAGE, OPERATOR)
    assert "Renew ticket" in labels(at.button)
    apps = signed_in(APPLICATIONS_PAGE, OPERATOR)
    assert apps.get("form")
    assert apps.get("link_button")


def test_someone_not_on_the_allow_list_is_refused(repository: Repository) -> None:
    seed(repository)
    at = signed_in(APPLICATIONS_PAGE, "stranger@cust12345.test")
    assert any("not on the dashboard's operator allow-list" in e for e in texts(at.error))
    assert not at.dataframe
    assert not signed_in(TENANTS_PAGE, "stranger@cust12345.test").dataframe
    # The right name from another issuer is nobody either.
    other = signed_in(TENANTS_PAGE, OPERATOR, issuer="https://elsewhere.example")
    assert not other.dataframe


def test_a_short_cookie_secret_refuses_to_start(repository: Repository) -> None:
    seed(repository)
    at = signed_in(APPLICATIONS_PAGE, OPERATOR, auth={**AUTH, "cookie_secret": "short"})
    assert any("at least 32 bytes" in e for e in texts(at.error))
    assert not at.dataframe
    assert "short" not in " ".join(texts(at.error)).replace("at least", "")


def test_no_allow_list_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOTK_OPERATORS")
    at = signed_in(APPLICATIONS_PAGE, OPERATOR)
    assert any("allow-lists nobody" in e for e in texts(at.error))


def test_without_auth_every_page_says_it_is_unauthenticated(repository: Repository) -> None:
    seed(repository)
    # app.py draws the banner above every page (AppTest shows it for the first page only).
    at = signed_in(APPLICATIONS_PAGE, None, auth=None)
    assert any("unauthenticated" in w for w in texts(at.warning))
    # ...and the local user acts: the buttons are there.
    assert "Renew ticket" in labels(signed_in(TENANTS_PAGE, None, auth=None).button)


def test_activity_filters_and_exports_without_secrets(repository: Repository) -> None:
    seed(repository)
    repository.record_audit(
        OPERATOR, "provisioning.apply", application=STANDARD_APP, context_identifier=TENANT
    )
    at = signed_in(ACTIVITY_PAGE, VIEWER)
    assert at.title[0].value == "Activity"
    table = at.dataframe[0].value
    assert {"authorization.created", "provisioning.apply"} <= set(table["Action"])
    at.selectbox(key="activity_actor").set_value(OPERATOR).run()
    table = at.dataframe[0].value
    assert list(table["Actor"]) == [OPERATOR]
    assert list(table["Action"]) == ["provisioning.apply"]

    exported = data.activity_csv(data.ActivityFilter())
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][:3] == ["at", "actor", "action"]
    assert {row[2] for row in rows[1:]} >= {"application.added", "authorization.created"}
    # The export is built only when asked: a button first, then the download.
    assert not at.get("download_button")
    at.button(key="activity_prepare_export").click().run()
    assert not at.exception, at.exception
    assert at.get("download_button")
    everything = rendered_text(at) + exported
    for secret in (CLIENT_SECRET, SYSTEM_USER_TOKEN, REFRESH_TOKEN, TICKET):
        assert secret not in everything
    # Other filters: the prepared export is not offered for them.
    at.selectbox(key="activity_actor").set_value("test").run()
    assert not at.get("download_button")
    # The tenant is typed (there can be 10,000): one tenant's events only.
    at.text_input(key="activity_tenant").input(TENANT).run()
    table = at.dataframe[0].value
    assert set(table["Tenant"]) == {TENANT}
    assert "authorization.created" in set(table["Action"])


def _check_drift_as_page_would() -> None:
    import data
    import streamlit as st

    try:
        data.check_drift()
    except data.DashboardError as exc:
        st.error(str(exc))


def test_a_viewer_reads_a_banner_and_may_not_check_drift(repository: Repository) -> None:
    seed(repository)
    viewer = app_test()
    viewer.secrets["auth"] = AUTH
    viewer.session_state[data.USER_OVERRIDE] = {"iss": ISSUER, "sub": VIEWER, "aud": "x"}
    viewer.run()  # "/": the Overview, under app.py's banner
    assert not viewer.exception, viewer.exception
    assert viewer.title[0].value == "Overview"
    assert data.VIEWER_BANNER in texts(viewer.info)
    assert "Check drift" not in labels(viewer.button)

    # Check drift plans every tenant (a call to each): the data layer refuses a viewer too.
    attempt = AppTest.from_function(_check_drift_as_page_would, default_timeout=60)
    attempt.secrets["auth"] = AUTH
    attempt.session_state[data.USER_OVERRIDE] = {"iss": ISSUER, "sub": VIEWER, "aud": "x"}
    attempt.run()
    assert [e.value for e in attempt.error] == [
        "Only operators may do this; you are signed in as a viewer."
    ]

    operator = signed_in("views/overview.py", OPERATOR)
    assert data.VIEWER_BANNER not in texts(operator.info)
    assert "Check drift" in labels(operator.button)


def test_sign_ins_refusals_and_sign_outs_are_audited_once(repository: Repository) -> None:
    seed(repository)
    at = signed_in(TENANTS_PAGE, VIEWER)
    at.run()  # every rerun passes the gate: still one event
    (event,) = repository.list_audit(action="operator.signed_in")
    assert (event.actor, dict(event.summary)) == (VIEWER, {"role": "viewer"})

    stranger = signed_in(APPLICATIONS_PAGE, "stranger@cust12345.test")
    stranger.run()
    (refused,) = repository.list_audit(action="operator.refused")
    assert refused.actor == "stranger@cust12345.test"

    at.switch_page(APPLICATIONS_PAGE).run()
    at.button(key="log_out").click().run()
    (signed_out,) = repository.list_audit(action="operator.signed_out")
    assert (signed_out.actor, dict(signed_out.summary)) == (VIEWER, {"role": "viewer"})
    assert describe_event(signed_out.action, signed_out.summary) == "Operator signed out."
