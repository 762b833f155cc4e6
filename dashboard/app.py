"""The SuperOffice toolkit's operations dashboard (Streamlit, ``st.navigation``).

Launch from the repository root::

    streamlit run dashboard/app.py        # what ``sotk dashboard`` runs

Imports: the ``dashboard`` folder is not a package. Streamlit puts the main script's folder on
``sys.path`` when it runs this file; the lines below make sure of it for any other runner too
(AppTest, ``python -m streamlit``), so the pages and this file import the data layer as plain
``import data``. ``data`` is the only module that imports ``toolkit``; pages import ``data``.

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

PAGES_DIR = DASHBOARD_DIR / "pages"

st.set_page_config(page_title="SuperOffice toolkit", page_icon=":material/hub:", layout="wide")

# More pages join in later issues (Overview, Provisioning, Activity).
navigation = st.navigation(
    [
        st.Page(
            PAGES_DIR / "applications.py",
            title="Applications",
            icon=":material/apps:",
            default=True,
        ),
        st.Page(PAGES_DIR / "tenants.py", title="Tenants", icon=":material/domain:"),
    ]
)


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


_sidebar()
navigation.run()
