"""Tenants: the application authorization records with their last known state, and one record's
claims, audit trail and state-change webhook history; Renew ticket and Check state actions."""

from __future__ import annotations

import data
import streamlit as st

ALL = "All applications"
ANY = "Any status"
# The page of the table shown (the pager's number input writes it).
PAGE = "tenants_page"
# The outcome of the last Renew ticket click: (record label, succeeded, message).
RENEW_OUTCOME = "tenants_renew_outcome"
# The outcome of the last Check state click: (record label, StateCheck or error message).
CHECK_OUTCOME = "tenants_check_outcome"

st.title("Tenants")
st.caption(
    "One record per application approved in a tenant. Whether a system user token is held, and "
    "until when the system user ticket is valid, are shown; the token and the ticket themselves "
    "stay encrypted in the store. The state is the last one known (from a Check state or a "
    "state-change webhook); showing this page asks SuperOffice nothing."
)


def _first_page() -> None:
    """Other filters, other records: back to the first page."""
    st.session_state.pop(PAGE, None)


def _filters(names: list[str]) -> tuple[str | None, str, str | None]:
    left, middle, right = st.columns([2, 3, 2])
    with left:
        chosen = st.selectbox(
            "Application", [ALL, *names], key="tenants_application", on_change=_first_page
        )
    with middle:
        search = st.text_input(
            "Search",
            key="tenants_search",
            on_change=_first_page,
            placeholder="Tenant, company or who approved",
            help="Any part of the context identifier, the company name or the approver, in "
            "any case.",
        )
    with right:
        status = st.selectbox(
            "Status", [ANY, *data.STATUSES], key="tenants_status", on_change=_first_page
        )
    application = None if chosen in (None, ALL) else chosen
    return application, search or "", None if status in (None, ANY) else status


def _records() -> None:
    try:
        names = [choice.name for choice in data.application_choices()]
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    application, search, status = _filters(names)
    try:
        shown = data.tenants_page(
            application, search=search, status=status, page=st.session_state.get(PAGE, 1)
        )
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if shown.table.empty:
        if not names:
            st.info(
                "No applications yet, so no tenants. Register one on the Applications page, "
                "then click Install and approve it as a tenant administrator."
            )
        elif search or status:
            st.info("No record matches these filters.")
        else:
            st.info(
                "No tenant has approved "
                + ("any application" if application is None else f"**{application}**")
                + " yet. Click Install on the Applications page to start an approval."
            )
        return
    st.dataframe(
        shown.table,
        hide_index=True,
        column_config={
            "System user token held": st.column_config.CheckboxColumn(
                "System user token held", help="The token itself is never shown."
            ),
            "State": st.column_config.TextColumn(
                "State",
                help="The tenant's last known state (state API or webhook), whether it is "
                "running, and when it was checked. Check state in the detail asks again.",
            ),
            "Ticket": st.column_config.TextColumn(
                "Ticket",
                help="The system user ticket held for the record: valid until (6 h from its "
                "last use, sliding), none, or needs reconsent. Shown without an exchange.",
            ),
        },
    )
    _pager(shown)
    _detail(shown.choices)


def _pager(shown: data.TenantsPage) -> None:
    first = (shown.page - 1) * data.TENANTS_PAGE_SIZE + 1
    last = first + len(shown.table) - 1
    left, right = st.columns([3, 1])
    left.caption(
        f"Records {first:,}–{last:,} of {shown.total:,} (page {shown.page} of {shown.pages})."
    )
    if shown.pages > 1:
        if st.session_state.get(PAGE, 1) != shown.page:  # fewer pages now than when chosen
            st.session_state[PAGE] = shown.page
        right.number_input("Page", min_value=1, max_value=shown.pages, step=1, key=PAGE)


def _renew(label: str, app: str, ctx: str) -> None:
    """The Renew ticket button's callback: runs once per click, before the page reruns."""
    try:
        st.session_state[RENEW_OUTCOME] = (label, True, data.renew_ticket(app, ctx))
    except data.DashboardError as exc:
        st.session_state[RENEW_OUTCOME] = (label, False, str(exc))


def _renew_action(label: str, app: str, ctx: str) -> None:
    st.button(
        "Renew ticket",
        key="tenants_renew",
        on_click=_renew,
        args=(label, app, ctx),
        help="Exchange a new system user ticket for this record now (one exchange, which "
        "creates a credentials record in the tenant). The ticket itself is never shown.",
        icon=":material/autorenew:",
    )
    outcome = st.session_state.pop(RENEW_OUTCOME, None)
    if outcome is None or outcome[0] != label:
        return
    _label, succeeded, message = outcome
    if succeeded:
        st.success(message)
    else:
        st.error(message)


def _check(label: str, app: str, ctx: str) -> None:
    """The Check state button's callback: one state API call per click, stored."""
    try:
        st.session_state[CHECK_OUTCOME] = (label, data.check_state(app, ctx))
    except data.DashboardError as exc:
        st.session_state[CHECK_OUTCOME] = (label, str(exc))


def _check_action(label: str, app: str, ctx: str) -> None:
    st.button(
        "Check state",
        key="tenants_check_state",
        on_click=_check,
        args=(label, app, ctx),
        help="Ask the state API now where this tenant lives and whether it is running, and "
        "store the answer as its last known state.",
        icon=":material/travel_explore:",
    )
    outcome = st.session_state.pop(CHECK_OUTCOME, None)
    if outcome is None or outcome[0] != label:
        return
    result = outcome[1]
    if isinstance(result, str):
        st.error(result)
    elif result.running:
        st.success(result.message)
    else:
        st.warning(result.message)


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
    # Viewers read; renewing a ticket and asking the state API are operators' actions.
    if data.can("renew_ticket"):
        _renew_action(picked, app, ctx)
    if data.can("check_state"):
        _check_action(picked, app, ctx)
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
    st.markdown("#### State-change webhooks")
    if detail.history.empty:
        st.info("No state-change webhook has been received for this record.")
    else:
        st.dataframe(detail.history, hide_index=True)


_records()
