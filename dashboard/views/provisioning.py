"""Provisioning: plan an application's manifest in tenants, apply it, and the recent runs."""

from __future__ import annotations

import data
import streamlit as st

CHOOSE = "Choose tenants"
DRIFTED = "All that drifted"
# The plans on screen (a data.PlanSet), kept until applied or planned again.
PLANS = "provisioning_plans"
# The last apply's per-tenant results (application, DataFrame), shown once after the rerun.
RESULTS = "provisioning_results"
# What the last Store manifest said, shown once after the rerun that reads the new outline.
STORED = "provisioning_stored"
# The Overview's links (?application=…&tenants=drifted) set these widgets; the URL follows them.
APPLICATION = data.QueryLink("application", "provisioning_application")
MODE = data.QueryLink("tenants", "provisioning_mode", {"drifted": DRIFTED}, neutral=CHOOSE)
MANIFEST_TEXT = "provisioning_manifest_text"

st.title("Provisioning")
st.caption(
    "Bring tenants to the application's manifest: its lists, list items, web panels and "
    "buttons. Plan first (nothing changes), then Apply: only the drifted tenants' steps run, "
    "one run per tenant, each recorded. A tenant that changed after its plan is refused as "
    "stale: plan again."
)


def _fill_preset() -> None:
    """The "Start from" button's callback: the chosen preset into the text area."""
    try:
        st.session_state[MANIFEST_TEXT] = data.manifest_preset(
            st.session_state.get("provisioning_preset", data.MODELS[0])
        )
    except data.DashboardError as exc:
        st.session_state[STORED] = (False, str(exc))


def _store(app: str) -> None:
    """The Store manifest button's callback: the rerun after it reads the new outline."""
    try:
        stored = data.store_manifest(app, st.session_state.get(MANIFEST_TEXT, ""))
    except data.DashboardError as exc:
        st.session_state[STORED] = (False, str(exc))
    else:
        st.session_state[STORED] = (True, f"Stored the manifest of {app}: {stored}")
        st.session_state.pop(PLANS, None)


def _manifest(app: str) -> bool:
    """Show the stored manifest's outline (or how to store one); True when there is one."""
    try:
        outline = data.provisioning_manifest(app)
    except data.DashboardError as exc:
        st.error(str(exc))
        return False
    may_store = data.can("store_manifest")
    stored = st.session_state.pop(STORED, None)
    if stored is not None and stored[0]:
        st.success(stored[1])
    if outline is None:
        st.warning(
            f"**{app}** has no manifest yet. "
            + (
                "Start from a preset in **Store a manifest** below, or store one with "
                f"`sotk provision set-manifest '{app}' manifest.toml`."
                if may_store
                else "An operator stores one before tenants can be provisioned."
            )
        )
    elif stored is None or not stored[0]:
        st.markdown(f"**Manifest:** {outline}")
    if not may_store:
        return outline is not None
    with st.expander("Store a manifest", expanded=outline is None):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        left.selectbox(
            "Start from",
            data.MODELS,
            key="provisioning_preset",
            format_func=lambda model: f"the {model} application preset",
            help="The toolkit's preset for each application model: edit it, then store it.",
        )
        right.button("Fill in", key="provisioning_fill_preset", on_click=_fill_preset)
        st.text_area(
            "Manifest (TOML)",
            key=MANIFEST_TEXT,
            height=200,
            help="Lists, list items, web panels and buttons; see examples/manifest.toml.",
        )
        st.button("Store manifest", key="provisioning_store_manifest", on_click=_store, args=(app,))
        if stored is not None and not stored[0]:
            st.error(stored[1])
    return outline is not None


def _plan(app: str) -> None:
    try:
        tenants = data.provisioning_tenants(app)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if not tenants:
        st.info(f"No tenant has approved **{app}** yet: there is nothing to provision.")
        return
    modes = [CHOOSE, DRIFTED]
    mode = st.radio(
        "Tenants", modes, index=data.linked_index(MODE, modes), key=MODE.key, horizontal=True
    )
    chosen: list[str] | None = None
    if mode == CHOOSE:
        chosen = st.multiselect("Tenants to plan", tenants, key="provisioning_tenants")
    else:
        st.caption(f"Every tenant of {app} ({len(tenants)}) is planned; the drifted are applied.")
    if st.button("Plan", key="provisioning_plan", icon=":material/difference:"):
        st.session_state.pop(RESULTS, None)
        try:
            with st.spinner("Reading the tenants…"):
                st.session_state[PLANS] = data.plan_provisioning(app, chosen)
        except data.DashboardError as exc:
            st.session_state.pop(PLANS, None)
            st.error(str(exc))


def _apply(plan_set: data.PlanSet) -> None:
    tenants = len(plan_set.plans)
    progress = st.progress(0.0, text=f"Applying to {tenants} tenant(s)…")
    with st.status(f"Applying {plan_set.application}…", expanded=True) as status:

        def show(event: data.ApplyProgress) -> None:
            if event.total:
                progress.progress(
                    event.done / event.total, text=f"{event.done} of {event.total} tenant(s)"
                )
            if event.kind in ("finished", "skipped", "failed"):
                detail = f": {event.message}" if event.message else ""
                st.write(f"{event.context_identifier}: {event.kind}{detail}")

        try:
            results = data.apply_provisioning(plan_set, show)
        except data.DashboardError as exc:
            status.update(label="Apply stopped", state="error")
            st.error(str(exc))
            return
        failed = int((results["Outcome"] != "succeeded").sum())
        status.update(
            label=f"Applied {plan_set.application}: {len(results) - failed} of "
            f"{len(results)} tenant(s) succeeded",
            state="error" if failed else "complete",
        )
    # The plans are spent (a second Apply would be refused as stale): the rerun shows the
    # results without the plan or an Apply button, and the confirmation starts unticked.
    st.session_state.pop(PLANS, None)
    st.session_state.pop("provisioning_confirm", None)
    st.session_state[RESULTS] = (plan_set.application, results)
    st.rerun()


def _plans(app: str) -> None:
    plan_set: data.PlanSet | None = st.session_state.get(PLANS)
    if plan_set is None or plan_set.application != app:
        return
    st.subheader("Plan")
    st.dataframe(plan_set.summary, hide_index=True, key="provisioning_plan_table")
    if plan_set.steps.empty:
        st.success("Every tenant planned is up to date: nothing to apply.")
        return
    st.dataframe(plan_set.steps, hide_index=True, key="provisioning_steps_table")
    # Apply changes customers' tenants: a deliberate confirmation first, one run per click.
    confirmed = st.checkbox(
        "I confirm: apply these steps in the tenants' SuperOffice", key="provisioning_confirm"
    )
    clicked = st.button(
        f"Apply {plan_set.pending_steps} step(s) in {len(plan_set.plans)} tenant(s)",
        key="provisioning_apply",
        type="primary",
        icon=":material/play_arrow:",
        disabled=not plan_set.plans or not confirmed,
    )
    if clicked and confirmed:
        _apply(plan_set)


def _results(app: str) -> None:
    shown = st.session_state.get(RESULTS)
    if shown is None or shown[0] != app:
        return
    results = shown[1]
    failed = int((results["Outcome"] != "succeeded").sum())
    st.subheader("Results of the last apply")
    message = f"{len(results) - failed} of {len(results)} tenant(s) succeeded"
    if failed:
        st.error(message)
    else:
        st.success(message)
    st.dataframe(results, hide_index=True, key="provisioning_results_table")


def _runs(app: str) -> None:
    st.subheader("Recent runs")
    try:
        runs = data.recent_runs(app)
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if runs.empty:
        st.info(f"No provisioning run of {app} yet.")
    else:
        st.dataframe(runs, hide_index=True, key="provisioning_runs_table")


def _page() -> None:
    try:
        names = [choice.name for choice in data.application_choices()]
    except data.DashboardError as exc:
        st.error(str(exc))
        return
    if not names:
        st.info("No applications yet. Register one on the Applications page and install it.")
        return
    if st.session_state.get(APPLICATION.key) not in (None, *names):
        st.session_state.pop(APPLICATION.key)  # a link to an application gone since
    app = st.selectbox(
        "Application", names, index=data.linked_index(APPLICATION, names), key=APPLICATION.key
    )
    if app is None:
        return
    if _manifest(app) and data.can("plan"):  # viewers see manifests and runs, not plans
        _plan(app)
        _plans(app)
    _results(app)
    _runs(app)


data.follow_query("provisioning", [APPLICATION, MODE])
_page()
