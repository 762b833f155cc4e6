"""Tenants: the application authorization records with their last known state, and one record's
claims, audit trail and state-change webhook history; Renew ticket and Check state actions."""

from __future__ import annotations

import data
import streamlit as st

ALL = "All applications"
ANY = "Any status"
ANY_STATE = "Any state"
# The "state known" filter's choices -> data's values.
STATE_KNOWN = {"Never checked": data.NEVER_CHECKED, "Checked": data.CHECKED}
# The Overview's links (?status=…&state=…, ?application=…&search=…) set the filters; the URL
# follows them.
APPLICATION = data.QueryLink("application", "tenants_application", neutral=ALL)
SEARCH = data.QueryLink("search", "tenants_search", neutral="")
STATUS = data.QueryLink(
    "status", "tenants_status", {status: status for status in data.STATUSES}, neutral=ANY
)
STATE = data.QueryLink(
    "state", "tenants_state", {value: label for label, value in STATE_KNOWN.items()}, ANY_STATE
)
LINKS = [APPLICATION, SEARCH, STATUS, STATE]
# The page of the table shown (the pager's number input writes it).
PAGE = "tenants_page"
# The outcome of the last Renew ticket click: (record label, succeeded, message).
RENEW_OUTCOME = "tenants_renew_outcome"
# The outcome of the last Check state click: (record label, StateCheck or error message).
CHECK_OUTCOME = "tenants_check_outcome"

st.title("Tenants")
st.caption(
    "One record per application approved in a tenant; select a row to open it. The state is "
    "the last one known (a Check state or a state-change webhook), the ticket's validity the "
    "toolkit's view of its sliding window; tokens and tickets stay encrypted in the store. "
    "Showing this page asks SuperOffice nothing. Exact UTC times are in the last columns."
)


def _first_page() -> None:
    """Other filters, other records: back to the first page."""
    st.session_state.pop(PAGE, None)


def _filters(names: list[str]) -> tuple[str | None, str, str | None, str | None]:
    if st.session_state.get(APPLICATION.key) not in (None, ALL, *names):
        st.session_state.pop(APPLICATION.key)  # a link to an application gone since
    applications = [ALL, *names]
    statuses = [ANY, *data.STATUSES]
    states = [ANY_STATE, *STATE_KNOWN]
    left, middle, right, state_column = st.columns([2, 3, 2, 2])
    with left:
        chosen = st.selectbox(
            "Application",
            applications,
            index=data.linked_index(APPLICATION, applications),
            key=APPLICATION.key,
            on_change=_first_page,
        )
    with middle:
        search = st.text_input(
            "Search",
            value=data.linked_text(SEARCH),
            key=SEARCH.key,
            on_change=_first_page,
            placeholder="Tenant, company or who approved",
            help="Any part of the context identifier, the company name or the approver, in "
            "any case.",
        )
    with right:
        status = st.selectbox(
            "Status",
            statuses,
            index=data.linked_index(STATUS, statuses),
            key=STATUS.key,
            on_change=_first_page,
        )
    with state_column:
        known = st.selectbox(
            "State",
            states,
            index=data.linked_index(STATE, states),
            key=STATE.key,
            on_change=_first_page,
            help="Never checked: no state from the state API or a webhook yet.",
        )
    application = None if chosen in (None, ALL) else chosen
    return (
        application,
        search or "",
        None if status in (None, ANY) else status,
        STATE_KNOWN.get(known or ANY_STATE),
    )


def _records() -> None:
    try:
        names = [choice.name for choice in data.application_choices()]
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    application, search, status, checked = _filters(names)
    try:
        shown = data.tenants_page(
            application,
            search=search,
            status=status,
            checked=checked,
            page=st.session_state.get(PAGE, 1),
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
        elif search or status or checked:
            st.info("No record matches these filters.")
        else:
            st.info(
                "No tenant has approved "
                + ("any application" if application is None else f"**{application}**")
                + " yet. An approval starts from an application's Install link."
            )
        return
    event = st.dataframe(
        shown.table,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="tenants_table",
        column_config={
            "State": st.column_config.TextColumn(
                "State",
                help="The tenant's last known state (state API or webhook) and when it was "
                "checked. Check state in the record asks again.",
            ),
            "Ticket valid until": st.column_config.TextColumn(
                "Ticket valid until",
                help="The system user ticket held for the record: valid for how long (6 h "
                "from its last use, sliding), none, or needs reconsent. No exchange is made.",
            ),
            "Last provisioning": st.column_config.TextColumn(
                "Last provisioning", help="The outcome of the newest provisioning run."
            ),
            "Drift": st.column_config.TextColumn(
                "Drift", help="Steps pending at the last drift check (the nightly job)."
            ),
        },
    )
    _pager(shown)
    rows = list(event.selection.rows) if event is not None else []
    if rows and rows[0] < len(shown.choices):
        _detail(*shown.choices[rows[0]])
    elif len(shown.choices) == 1:  # one match (a search, an attention link): open it
        _detail(*shown.choices[0])
    else:
        st.caption("Select a row to open its record.")


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


def _detail(app: str, ctx: str) -> None:
    label = f"{ctx} · {app}"
    st.subheader(label)
    try:
        detail = data.tenant_detail(app, ctx)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    # Viewers read; renewing a ticket and asking the state API are operators' actions.
    left, right = st.columns(2)
    if data.can("renew_ticket"):
        with left:
            _renew_action(label, app, ctx)
    if data.can("check_state"):
        with right:
            _check_action(label, app, ctx)
    facts, claims, audit, notifications = st.tabs(
        ["Facts", "Claims", "Audit trail", "State-change notifications"]
    )
    with facts:
        st.dataframe(
            [{"Fact": key, "Value": value or "—"} for key, value in detail.facts.items()],
            hide_index=True,
            width="stretch",
        )
    with claims:
        if detail.claims.empty:
            st.info("No claims were kept for this record.")
        else:
            st.dataframe(detail.claims, hide_index=True, width="stretch")
    with audit:
        if detail.audit.empty:
            st.info("No audit events for this record.")
        else:
            st.dataframe(detail.audit, hide_index=True, width="stretch")
    with notifications:
        if detail.history.empty:
            st.info("No state-change notification has been received for this record.")
        else:
            st.dataframe(detail.history, hide_index=True, width="stretch")


if data.follow_query("tenants", LINKS):
    _first_page()  # other filters, other records
_records()
