"""Tenants: the application authorization records, and one record's claims and audit trail."""

from __future__ import annotations

import data
import streamlit as st

ALL = "All applications"

st.title("Tenants")
st.caption(
    "One record per application approved in a tenant. Whether a system user token is held is "
    "shown; the token itself stays encrypted in the store."
)


def _records() -> None:
    try:
        names = [choice.name for choice in data.application_choices()]
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    chosen = st.selectbox("Application", [ALL, *names], key="tenants_application")
    application = None if chosen in (None, ALL) else chosen
    try:
        table = data.tenants_table(application)
        choices = data.tenant_choices(application)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if table.empty:
        if not names:
            st.info(
                "No applications yet, so no tenants. Register one on the Applications page, "
                "then click Install and approve it as a tenant administrator."
            )
        else:
            st.info(
                "No tenant has approved "
                + ("any application" if application is None else f"**{application}**")
                + " yet. Click Install on the Applications page to start an approval."
            )
        return
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "System user token held": st.column_config.CheckboxColumn(
                "System user token held", help="The token itself is never shown."
            )
        },
    )
    _detail(choices)


def _detail(choices: list[tuple[str, str]]) -> None:
    st.subheader("Detail")
    by_label = {f"{ctx} · {app}": (app, ctx) for app, ctx in choices}
    picked = st.selectbox("Record", list(by_label), key="tenants_record")
    if picked is None:
        return
    app, ctx = by_label[picked]
    try:
        detail = data.tenant_detail(app, ctx)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    st.markdown(
        "\n".join(f"- **{label}:** {value or '—'}" for label, value in detail.facts.items())
    )
    st.markdown("#### Claims")
    if detail.claims.empty:
        st.info("No claims were kept for this record.")
    else:
        st.dataframe(detail.claims, hide_index=True)
    st.markdown("#### Audit trail")
    if detail.audit.empty:
        st.info("No audit events for this record.")
    else:
        st.dataframe(detail.audit, hide_index=True)


_records()
