"""Applications: what is registered, who approved each, Install, and adding new ones."""

from __future__ import annotations

import data
import streamlit as st

st.title("Applications")
st.caption(
    "Applications registered with the toolkit. Credentials are kept encrypted in the store "
    "and never shown here; at most the private key's fingerprint."
)

NOTICE = "applications_notice"
# Up to this many applications, each one's approvals and Install button are shown expanded.
EXPANDED_UP_TO = 5


def _show_notice() -> None:
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice)


def _registered_message(app: dict[str, object]) -> str:
    return f"Registered **{app['name']}** (client id `{app['client_id']}`)."


def _list_applications() -> None:
    try:
        table = data.applications_table()
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if table.empty:
        if data.can("add_application"):
            st.info(
                "No applications registered yet. Add one under **Add application** below with "
                "the credentials the SuperOffice Developer Portal gave you"
                + (", or register one with the emulator." if data.emulator_enabled() else ".")
            )
        else:
            st.info("No applications registered yet; an operator registers them.")
        return
    st.dataframe(table, hide_index=True)

    # Viewers see the approvals; Install is an operator's action.
    st.subheader("Approvals and install" if data.can("install") else "Approvals")
    choices = data.application_choices()
    for choice in choices:
        label = f"{choice.name} · {choice.kind} · {choice.environment}"
        # Open while the list is short, so each Install button is one click away.
        with st.expander(label, expanded=len(choices) <= EXPANDED_UP_TO):
            _application_detail(choice)


def _application_detail(choice: data.ApplicationChoice) -> None:
    try:
        approvals = data.approvals_for(choice.name)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    left, right = st.columns([4, 1])
    with left:
        if approvals.table.empty:
            st.info(
                "No tenant has approved this application yet."
                + (" Click Install to start." if data.can("install") else "")
            )
        else:
            st.dataframe(approvals.table, hide_index=True)
            if approvals.total > len(approvals.table):
                st.caption(
                    f"The first {len(approvals.table)} of {approvals.total:,} approvals; the "
                    "Tenants page searches them all."
                )
    if not data.can("install"):
        return  # viewers see the approvals; starting an install is for operators
    with right:
        tenant = st.text_input(
            "Install for tenant",
            value=choice.tenant or "",
            placeholder="CustNNNNN (empty: any)",
            disabled=bool(choice.tenant),
            key=f"install_tenant_{choice.name}",
            help="The customer's context identifier; empty lets their administrator choose.",
        )
    try:
        link = data.install_link(choice.name, tenant or None)
        state_change = data.state_change_url(choice.name)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    with right:
        st.link_button(
            "Install",
            link.url,
            help="Opens the partner's /install page, which sends you to SuperID to sign in "
            "as a tenant administrator and approve the application.",
            icon=":material/open_in_new:",
        )
        if choice.tenant:
            st.caption(f"Custom application for tenant `{choice.tenant}`.")
    where = f"for {link.tenant}" if link.tenant else "for any tenant"
    st.caption(f"Install link {where}, to copy to the customer's administrator:")
    st.code(link.url, language=None)
    st.caption(link.account_note)
    st.caption(f"Customer state change URL to register for it: `{state_change}`")


def _add_form() -> None:
    with (
        st.expander("Add application", icon=":material/add:"),
        st.form("add_application", clear_on_submit=True),
    ):
        name = st.text_input("Name")
        environment = st.selectbox("Environment", data.ENVIRONMENTS)
        environment_url = st.text_input(
            "Environment URL", help="Only for the emulator environment: its base URL."
        )
        client_id = st.text_input("Client ID")
        client_secret = st.text_input("Client secret", type="password")
        key_file = st.file_uploader(
            "Private key (RSAKeyValue XML or PEM)", type=["xml", "pem", "key", "txt"]
        )
        key_text = st.text_area(
            "…or paste the private key",
            help="Used when no file is uploaded. It is cleared from the form on submit and "
            "stored encrypted.",
        )
        redirect_uri = st.text_input("Redirect URL", value=_default_redirect())
        kind = st.radio("Kind", data.KINDS, horizontal=True)
        model = st.selectbox("Model", data.MODELS)
        tenant = st.text_input(
            "Tenant (context identifier)", help="Custom applications only: the one customer."
        )
        submitted = st.form_submit_button("Add application")
    if not submitted:
        return
    private_key = key_file.getvalue() if key_file is not None else (key_text or None)
    try:
        app = data.add_application(
            name=name,
            environment=environment or "",
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            kind=kind or "standard",
            model=model or "internal",
            private_key=private_key,
            tenant=tenant,
            environment_url=environment_url,
        )
    except data.DashboardError as exc:
        st.error(f"Could not add the application: {exc}")
        return
    st.session_state[NOTICE] = _registered_message(app)
    st.rerun()


def _emulator_form() -> None:
    with (
        st.expander("Register with the emulator", icon=":material/science:"),
        st.form("register_with_emulator", clear_on_submit=True),
    ):
        st.caption(
            "The emulator creates the client id, secret and key pair, as the Developer Portal does."
        )
        name = st.text_input("Name")
        kind = st.radio("Kind", data.KINDS, horizontal=True)
        model = st.selectbox("Model", data.MODELS)
        tenant = st.text_input("Tenant (context identifier)", help="Custom applications only.")
        submitted = st.form_submit_button("Register with the emulator")
    if not submitted:
        return
    try:
        app = data.add_emulator_application(
            name=name, kind=kind or "standard", model=model or "internal", tenant=tenant
        )
    except data.DashboardError as exc:
        st.error(f"Could not register with the emulator: {exc}")
        return
    st.session_state[NOTICE] = _registered_message(app)
    st.rerun()


def _default_redirect() -> str:
    try:
        return data.callback_url()
    except data.DashboardError:
        return ""


_show_notice()
_list_applications()
if data.can("add_application"):
    if data.emulator_enabled():
        _emulator_form()
    _add_form()
