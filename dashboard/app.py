"""The SuperOffice toolkit's operations dashboard (Streamlit, ``st.navigation``).

Launch from the repository root::

    streamlit run dashboard/app.py        # what ``sotk dashboard`` runs

Imports: the ``dashboard`` folder is not a package. Streamlit puts the main script's folder on
``sys.path`` when it runs this file; the lines below make sure of it for any other runner too
(AppTest, ``python -m streamlit``), so the pages and this file import the data layer as plain
``import data``. ``data`` (a package, one module per area) is the only code here that imports
``toolkit``.

Settings come from ``SOTK_*`` environment variables and ``.env`` (see the README), read once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

DASHBOARD_DIR = Path(__file__).resolve().parent
if str(DASHBOARD_DIR) not in sys.path:
    sys.path.insert(0, str(DASHBOARD_DIR))

import data  # noqa: E402 - needs the dashboard folder on sys.path, set just above

# The pages live in views/, not pages/: Streamlit treats a pages/ folder beside the entrypoint as
# its older multipage mechanism and, on a fresh server whose first request is a page's URL, runs
# that page without this file (no sign-in, no sidebar). Every URL goes through st.navigation here.
VIEWS_DIR = DASHBOARD_DIR / "views"

st.set_page_config(page_title="SuperOffice toolkit", page_icon=":material/hub:", layout="wide")


def _view(name: str, title: str, icon: str) -> st.Page:
    """A page of views/, served at ``/<name>`` (so a bookmark of any page works)."""
    return st.Page(VIEWS_DIR / f"{name}.py", title=title, icon=f":material/{icon}:", url_path=name)


OVERVIEW = _view("overview", "Overview", "dashboard")
VIEWS = [
    OVERVIEW,
    _view("applications", "Applications", "apps"),
    _view("tenants", "Tenants", "domain"),
    _view("provisioning", "Provisioning", "build"),
    _view("jobs", "Jobs", "work_history"),
    _view("activity", "Activity", "history"),
]


def _home() -> None:
    # Streamlit serves its default page at "/" only (never at its own url_path), so the default
    # is this hidden page, which sends "/" on to the Overview, the landing page (issue 15):
    # then /overview works too. The query parameters go along (an attention item's filters).
    st.switch_page(OVERVIEW, query_params=dict(st.query_params))


def _may_see_pages(state: data.SignIn) -> bool:
    """Whether the navigation shows: an allow-listed operator signed in, or sign-in is off
    (the loopback dashboard of one local user). Nobody else sees even the pages' names."""
    if state.problem is not None:
        return False
    return not state.configured or (state.logged_in and state.operator is not None)


def _gate(state: data.SignIn) -> data.SignIn:
    """Operator sign-in, before any page runs (every page passes through here on each rerun).

    A broken sign-in configuration, or an unauthenticated dashboard reached beyond loopback,
    stops with an error; with sign-in configured, nobody gets past without signing in as an
    allow-listed operator; without it, every page carries the "unauthenticated" banner.
    """
    if state.problem is not None:
        st.error(state.problem, icon=":material/block:")
        st.stop()
    if not state.configured:
        st.warning(data.UNAUTHENTICATED_BANNER, icon=":material/lock_open:")
        return state
    if not state.logged_in:
        st.title("Sign in")
        st.info("Operators sign in to use this dashboard.")
        st.button("Sign in", key="sign_in", on_click=st.login, type="primary")
        st.stop()
    data.audit_sign_in(state)  # a sign-in or a refusal, once per session
    if state.operator is None:
        who = state.identity or "This account"
        st.error(f"{who} is not on the dashboard's operator allow-list (SOTK_OPERATORS).")
        st.button("Log out", key="log_out_refused", on_click=data.log_out)
        st.stop()
    return state


def _signed_in(state: data.SignIn) -> None:
    if state.operator is None:
        return
    with st.sidebar:
        st.markdown(f"Signed in as **{state.operator.identity}** ({state.operator.role})")
        st.button("Log out", key="log_out", on_click=data.log_out, icon=":material/logout:")
    if not data.can("apply"):
        st.info(data.VIEWER_BANNER, icon=":material/visibility:")


def _sidebar() -> None:
    with st.sidebar:
        st.markdown("### SuperOffice toolkit")
        try:
            info = data.sidebar_info()
        except data.DashboardError as exc:
            st.error(str(exc))
            return
        if info.emulator_url:
            st.markdown(f"**Environment:** emulator  \n`{info.emulator_url}`")
        else:
            st.markdown(f"**Environment:** `{info.environment}`")
        st.markdown(f"**Partner endpoints:**  \n`{info.public_url}`")
        st.caption(f"Store: {info.database}")
        st.button(
            "Refresh",
            key="refresh",
            on_click=data.invalidate,
            icon=":material/refresh:",
            help="Read the store again now. Pages reuse what they read for "
            f"{data.READ_MODEL_TTL.seconds} s, except after an action taken here; changes from "
            "elsewhere (webhooks, the CLI) show within that time.",
        )


sign_in = data.sign_in_state()
# Every URL is routed (a bookmark survives the sign-in), but the menu is hidden until the
# person is let in: before sign-in, or off the allow-list, there is no navigation (issue 15).
navigation = st.navigation(
    [st.Page(_home, title="Home", url_path="home", default=True, visibility="hidden"), *VIEWS],
    position="sidebar" if _may_see_pages(sign_in) else "hidden",
)
signed_in = _gate(sign_in)
_sidebar()
_signed_in(signed_in)
navigation.run()
