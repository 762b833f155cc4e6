"""Activity: the audit trail of every change, filtered, and exported as CSV without secrets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import data
import streamlit as st

ANY = "Any"
# The default time range: the last week (most questions are about recent changes).
DEFAULT_DAYS = 7
# The last export built: (its filters, the CSV text, its file name).
EXPORT = "activity_export_prepared"

st.title("Activity")
st.caption(
    "Every change is an audit event: who (an operator, the partner endpoint, the CLI, a "
    "webhook, the ticket manager), when, which application and tenant, and a summary that never "
    "holds a secret. Times are UTC."
)


def _choice(label: str, options: list[str], key: str) -> str | None:
    picked = st.selectbox(label, [ANY, *options], key=key)
    return None if picked in (None, ANY) else picked


def _range() -> tuple[datetime | None, datetime | None]:
    today = datetime.now(UTC).date()
    picked = st.date_input(
        "Time range (UTC)",
        value=(today - timedelta(days=DEFAULT_DAYS), today),
        key="activity_range",
    )
    days = [d for d in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(d, date)]
    if not days:
        return None, None
    first, last = days[0], days[-1]
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    return since, until


def _page() -> None:
    try:
        choices = data.activity_choices()
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    left, middle, right = st.columns(3)
    with left:
        application = _choice("Application", choices.applications, "activity_application")
        tenant = (
            st.text_input(
                "Tenant",
                key="activity_tenant",
                placeholder="Context identifier, e.g. Cust12345",
                help="One tenant's events (its exact context identifier); empty for all.",
            ).strip()
            or None
        )
    with middle:
        actor = _choice("Actor", choices.actors, "activity_actor")
        action = _choice("Action", choices.actions, "activity_action")
    with right:
        since, until = _range()
    chosen = data.ActivityFilter(
        application=application,
        tenant=tenant,
        actor=actor,
        action=action,
        since=since,
        until=until,
    )
    try:
        table = data.activity(chosen)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if table.empty:
        st.info("No audit events match these filters.")
    else:
        st.dataframe(table, hide_index=True, key="activity_table")
        if len(table) >= data.ACTIVITY_LIMIT:
            st.caption(f"The newest {data.ACTIVITY_LIMIT} events are shown; the export has all.")
    _export(chosen)


def _export(chosen: data.ActivityFilter) -> None:
    """The CSV is built only when asked (it can hold 100,000 events), then offered for download
    while the filters stay the same."""
    if st.button(
        "Prepare CSV export",
        key="activity_prepare_export",
        icon=":material/table_view:",
        help="Build the CSV of every event matching the filters (redacted: no secret is ever in "
        "the export), then download it.",
    ):
        try:
            with st.spinner("Building the export…"):
                built = data.activity_csv(chosen)
        except data.DashboardError as exc:
            st.error(str(exc))
            return
        named = f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv"
        st.session_state[EXPORT] = (chosen, built, named)
    prepared = st.session_state.get(EXPORT)
    if prepared is None or prepared[0] != chosen:
        return  # none yet, or built for other filters
    _chosen, built, file_name = prepared
    st.download_button(
        "Download CSV",
        built,
        file_name=file_name,
        mime="text/csv",
        key="activity_export",
        icon=":material/download:",
        help="The events matching the filters, redacted: no secret is ever in the export.",
    )


_page()
