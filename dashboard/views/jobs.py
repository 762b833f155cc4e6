"""Jobs: background work on the job engine (fleet applies, install-time provisioning), queued,
running and finished, with each tenant's progress; Retry and Cancel for operators."""

from __future__ import annotations

import data
import streamlit as st

ALL = "All"
# The Overview's link to failed jobs (?status=failed) sets the filter; the URL follows it.
STATUS = data.QueryLink(
    "status", "jobs_status", {status: status for status in data.JOB_STATUSES}, neutral=ALL
)

st.title("Jobs")
st.caption(
    "Every fleet plan, apply or uninstall and every install's provisioning is a job: one "
    "workflow per tenant, run by the workers (`sotk worker`, or the one `make run` starts). "
    "Read live from the database; times are UTC."
)


def _page() -> None:
    statuses = [ALL, *data.JOB_STATUSES]
    picked = st.selectbox(
        "Status", statuses, index=data.linked_index(STATUS, statuses), key=STATUS.key
    )
    try:
        table = data.jobs_table(None if picked == ALL else picked)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    st.button("Refresh", key="jobs_refresh", icon=":material/refresh:")
    if table.empty:
        st.info("No job yet. Apply provisioning to a fleet (here or `sotk provision apply --all`).")
        return
    st.dataframe(table, hide_index=True, width="stretch")
    job_id = st.selectbox("Job", list(table["Job"]), key="jobs_chosen")
    if job_id is None:
        return
    try:
        tenants = data.job_tenants(job_id)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    done = tenants["Outcome"].astype(bool).sum() if not tenants.empty else 0
    total = int(table.loc[table["Job"] == job_id, "Total"].iloc[0]) or len(tenants)
    st.progress(min(1.0, done / total) if total else 1.0, text=f"{done} of {total} tenants done")
    st.dataframe(tenants, hide_index=True, width="stretch")
    if not data.can("retry_job"):
        st.caption("Viewers see jobs; operators may retry and cancel them.")
        return
    left, right = st.columns(2)
    with left:
        if st.button("Retry", key="jobs_retry", icon=":material/replay:"):
            try:
                st.success(data.retry_job(job_id))
            except data.DashboardError as exc:
                st.error(str(exc))
    with right:
        # Cancelling stops tenants mid-run: a deliberate confirmation first.
        confirmed = st.checkbox(f"I confirm: cancel {job_id}", key="jobs_cancel_confirm")
        if st.button("Cancel", key="jobs_cancel", icon=":material/cancel:", disabled=not confirmed):
            try:
                st.success(data.cancel_job(job_id))
            except data.DashboardError as exc:
                st.error(str(exc))


data.follow_query("jobs", [STATUS])
_page()
