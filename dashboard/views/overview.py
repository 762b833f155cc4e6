"""Overview, the landing page: the fleet in numbers (metrics), what needs attention (each item a
link to the filtered view that lists it), and charts only where a distribution or a trend is
worth a picture (tenants by state, runs over time)."""

from __future__ import annotations

import altair as alt
import data
import pandas as pd
import streamlit as st

# The last drift check's table (every tenant planned), kept for the session.
DRIFT = "overview_drift"

st.title("Overview")
st.caption(
    "From the toolkit's store: showing this page asks SuperOffice nothing. Items that need "
    "attention link to the view that lists them."
)


def _metrics(overview: data.Overview, jobs: data.JobsSummary | None) -> None:
    shown = dict(overview.metrics)
    if jobs is not None:
        shown["Drifted"] = len(jobs.drifted)
        shown["Running jobs"] = jobs.running
        shown["Queued jobs"] = jobs.queued
    row = st.columns(5)
    for index, (label, value) in enumerate(shown.items()):
        row[index % 5].metric(label, f"{value:,}")


def _attention(items: list[data.Attention]) -> None:
    st.subheader("Needs attention")
    if not items:
        st.success("Nothing needs attention.", icon=":material/check_circle:")
        return
    for item in items:
        st.page_link(
            f"views/{item.page}.py",
            label=item.text,
            query_params=item.query,
            icon=":material/arrow_forward:",
        )


def _states_chart(states: pd.DataFrame) -> None:
    if len(states) < 2:  # one state is a number, not a distribution
        return
    chart = (
        alt.Chart(states, title="Tenants by last known state")
        .mark_bar()
        .encode(
            x=alt.X("Tenants:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("State:N", title=None, sort="-x"),
            tooltip=["State", "Tenants"],
        )
    )
    st.altair_chart(chart, width="stretch")


def _over_time(frame: pd.DataFrame, title: str, value: str, series: str, mark: str) -> None:
    """A trend by day: ``value`` per ``series`` (stacked), when there is more than one day."""
    if frame["Day"].nunique() < 2:  # a trend needs more than one day
        return
    chart = alt.Chart(frame, title=title, mark=mark).encode(
        x=alt.X("Day:T", title="Day"),
        y=alt.Y(f"{value}:Q", title=value, stack="zero", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color(f"{series}:N"),
        tooltip=["Day", series, value],
    )
    st.altair_chart(chart, width="stretch")


def _runs_chart(runs: pd.DataFrame) -> None:
    _over_time(runs, "Provisioning runs over time", "Runs", "Outcome", "bar")


def _state_history_chart() -> None:
    try:
        history = data.states_over_time()
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    title = f"Tenants by state over the last {data.STATE_HISTORY_DAYS} days"
    _over_time(history, title, "Tenants", "State", "area")
    if history["Day"].nunique() > 1:
        st.caption(
            "From the audit trail's recorded state changes: a change shows on the day a state "
            "check or a notification reported it; tenants never checked are not counted."
        )


def _drift() -> None:
    """Check drift plans every tenant (a call to each): operators only."""
    if not data.can("check_drift"):
        return
    with st.expander("Check drift now"):
        st.caption(
            "Plans every active tenant of every application with a manifest against it: reads "
            "every tenant in SuperOffice, changes nothing."
        )
        if st.button("Check drift", key="overview_check_drift", icon=":material/difference:"):
            try:
                with st.spinner("Planning every tenant…"):
                    st.session_state[DRIFT] = data.check_drift()
            except data.DashboardError as exc:
                st.error(str(exc))
        checked = st.session_state.get(DRIFT)
        if checked is not None:
            counts = data.provisioning_counts(checked)
            st.markdown(
                " · ".join(f"**{row.Tenants}** {row.Provisioning}" for row in counts.itertuples())
                or "No active tenant."
            )
            st.dataframe(checked, hide_index=True, key="overview_drift_table")


def _page() -> None:
    try:
        overview = data.overview()
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    jobs: data.JobsSummary | None
    try:
        jobs = data.jobs_summary()
    except data.DashboardError as exc:
        st.error(str(exc))
        jobs = None
    _metrics(overview, jobs)
    if not overview.metrics["Applications"]:
        st.info(
            "No application is registered yet: start on the Applications page."
            if data.can("add_application")
            else "No application is registered yet; an operator registers them."
        )
    elif not overview.metrics["Active tenants"]:
        st.info("No tenant has approved an application yet.")
    _attention([*overview.attention, *([] if jobs is None else data.job_attention(jobs))])
    left, right = st.columns(2)
    with left:
        _states_chart(overview.states)
    with right:
        _runs_chart(overview.runs)
    _state_history_chart()
    _drift()


_page()
