"""Overview: the tenants, their tickets and their provisioning at a glance (Altair charts)."""

from __future__ import annotations

import altair as alt
import data
import pandas as pd
import streamlit as st

# The last drift check's table (every tenant planned), kept for the session.
DRIFT = "overview_drift"

st.title("Overview")
st.caption(
    "Counts from the toolkit's store: nothing here calls SuperOffice, except **Check drift**, "
    "which plans every tenant against its application's manifest."
)


def _bars(frame: pd.DataFrame, category: str, value: str, title: str) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X(f"{value}:Q", title=value, axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{category}:N", title=None, sort=None),
            color=alt.Color(f"{category}:N", legend=None),
            tooltip=[category, value],
        )
    )


def _chart(frame: pd.DataFrame, category: str, title: str, empty: str) -> None:
    if frame.empty:
        st.markdown(f"**{title}**")
        st.info(empty)
    else:
        st.altair_chart(_bars(frame, category, "Tenants", title), width="stretch")


def _runs_chart(runs: pd.DataFrame) -> None:
    if runs.empty:
        st.markdown("**Provisioning runs over time**")
        st.info("No provisioning run yet.")
        return
    chart = (
        alt.Chart(runs, title="Provisioning runs over time")
        .mark_bar()
        .encode(
            x=alt.X("Day:O", title="Day"),
            y=alt.Y("Runs:Q", title="Runs", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("Outcome:N"),
            tooltip=["Day", "Outcome", "Runs"],
        )
    )
    st.altair_chart(chart, width="stretch")


def _drift(overview: data.Overview) -> None:
    st.subheader("Provisioning")
    if st.button(
        "Check drift",
        key="overview_check_drift",
        icon=":material/difference:",
        help="Plan every active tenant of every application with a manifest (reads every "
        "tenant; nothing is changed).",
    ):
        try:
            with st.spinner("Planning every tenant…"):
                st.session_state[DRIFT] = data.check_drift()
        except data.DashboardError as exc:
            st.error(str(exc))
    checked = st.session_state.get(DRIFT)
    if checked is None:
        st.caption(
            "From the latest runs: *applied* (the last run succeeded), *failed*, *never "
            "provisioned*. Check drift to see which tenants are up to date or drifted now."
        )
        _chart(overview.provisioning, "Provisioning", "Provisioning", "No active tenant yet.")
        return
    counts = data.provisioning_counts(checked)
    _chart(counts, "Provisioning", "Provisioning (drift checked)", "No active tenant.")
    st.dataframe(checked, hide_index=True, key="overview_drift_table")


def _jobs() -> None:
    st.subheader("Jobs")
    try:
        jobs = data.jobs_summary()
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    st.markdown(
        f"**{jobs.running}** running, **{jobs.queued}** queued, "
        f"**{len(jobs.failed)}** with failed tenants (among the newest)."
    )
    if not jobs.failed.empty:
        st.dataframe(jobs.failed, hide_index=True, width="stretch")
        st.caption("Open the Jobs page to see each tenant's error and retry.")
    if not jobs.drifted.empty:
        st.markdown(f"**Drifted tenants** at the last nightly drift check: {len(jobs.drifted)}")
        st.dataframe(jobs.drifted, hide_index=True, width="stretch")


def _page() -> None:
    try:
        overview = data.overview()
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    columns = st.columns(len(overview.metrics))
    for column, (label, value) in zip(columns, overview.metrics.items(), strict=True):
        column.metric(label, value)
    if not overview.metrics["Authorizations"]:
        st.info(
            "No tenant has approved an application yet. Register one on the Applications page, "
            "then click Install and approve it as a tenant administrator."
        )
    left, right = st.columns(2)
    with left:
        _chart(
            overview.authorizations,
            "Status",
            "Tenants by authorization status",
            "No authorization yet.",
        )
    with right:
        if overview.states.empty:
            _chart(
                overview.tickets, "Ticket", "System user tickets", "No active authorization yet."
            )
        else:
            _chart(overview.states, "State", "Tenants by state", "")
    if not overview.states.empty:
        _chart(overview.tickets, "Ticket", "System user tickets", "No active authorization yet.")
    _drift(overview)
    _jobs()
    _runs_chart(overview.runs)


_page()
