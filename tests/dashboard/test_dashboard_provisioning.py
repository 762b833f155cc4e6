"""The Provisioning page: empty states, storing a manifest, and applying a plan through the page
(select the application and a tenant, Plan, Apply) against an in-thread emulator."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dashboard_support import CUSTOM_APP, STANDARD_APP, app_test, labels, open_page, seed, texts
from streamlit.testing.v1 import AppTest

from toolkit.config import Settings
from toolkit.emulator import Emulator
from toolkit.emulator.driver import sign_in
from toolkit.store import Repository
from toolkit.workspace import Workspace

PROVISIONING_PAGE = "views/provisioning.py"
APP = "Echo Sync"
CTX = "Cust12345"
ADMIN = "admin@cust12345.test"
PUBLIC_URL = "http://127.0.0.1:8000"

MANIFEST = """\
model = "internal"

[[lists]]
name = "Echo status"

[[lists.items]]
name = "Synced"

[[web_panels]]
prog_id = "echo.contact"
name = "Echo"
url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"
"""


def test_no_applications_explains_what_to_do() -> None:
    at = open_page(PROVISIONING_PAGE)

    assert at.title[0].value == "Provisioning"
    assert any("No applications yet" in text for text in texts(at.info))
    assert not at.error


@pytest.fixture
def installed(home: Path, emu: Emulator) -> None:
    """Echo Sync registered at the emulator and installed into Cust12345 (no manifest yet)."""
    settings = Settings(home=home, public_url=PUBLIC_URL, _env_file=None)  # type: ignore[call-arg]
    with Workspace.open(settings) as ws:
        ws.applications.register_with_emulator(
            name=APP,
            emulator_url=emu.base_url,
            redirect_uri=f"{PUBLIC_URL}/callback",
            actor="test",
        )
        answer = sign_in(ws.installations.begin(APP, tenant=CTX), username=ADMIN)
        ws.installations.complete(answer.params)


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with ``column`` (each of the page's tables has its own)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def prog_ids(emu: Emulator) -> set[str]:
    data = emu.world.data_of(emu.world.find_tenant(CTX))  # type: ignore[arg-type]
    return {panel.entity["ProgId"] for panel in data.web_panels}


@pytest.mark.emulator
def test_store_a_manifest_then_plan_and_apply_through_the_page(
    repository: Repository, emu: Emulator, installed: None
) -> None:
    at = open_page(PROVISIONING_PAGE)
    assert at.selectbox(key="provisioning_application").value == APP
    assert any("has no manifest yet" in text for text in texts(at.warning))

    # An invalid manifest is refused with its line; a valid one is stored.
    at.text_area(key="provisioning_manifest_text").input(MANIFEST.replace("ContactCard", "Nav"))
    at.button(key="provisioning_store_manifest").click().run()
    assert not at.exception, at.exception
    (error,) = texts(at.error)
    line = MANIFEST.splitlines().index('visible_in = "ContactCard"') + 1
    assert f"<manifest>:{line}: web_panels[0].visible_in" in error
    assert repository.get_application_manifest(APP) is None

    at.text_area(key="provisioning_manifest_text").input(MANIFEST)
    at.button(key="provisioning_store_manifest").click().run()
    assert not at.error, texts(at.error)
    assert repository.get_application_manifest(APP) == MANIFEST
    # The new manifest's outline, not the cached "no manifest" of the page run before.
    assert any(
        text.startswith(f"Stored the manifest of {APP}: 1 list(s)") for text in texts(at.success)
    )
    assert not any("has no manifest yet" in text for text in texts(at.warning))
    at.run()
    assert any("1 list(s), 1 web panel(s)" in text for text in texts(at.markdown))

    # Choose the tenant, plan: the page shows the counts and the steps; nothing changed yet.
    at.multiselect(key="provisioning_tenants").select(CTX).run()
    at.button(key="provisioning_plan").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    summary = table(at, "Unchanged")
    assert list(summary["Tenant"]) == [CTX]
    assert list(summary["Status"]) == ["drifted"]
    assert int(summary["Create"][0]) == 3
    steps = table(at, "Action")
    assert set(steps["Key"]) == {"Echo status", "Echo status/Synced", "echo.contact"}
    assert "echo.contact" not in prog_ids(emu)
    assert "Apply 3 step(s) in 1 tenant(s)" in labels(at.button)

    # Apply: the fleet's events drive the status and progress; results and the run are shown.
    assert at.button(key="provisioning_apply").disabled  # not before the confirmation
    at.checkbox(key="provisioning_confirm").check().run()
    at.button(key="provisioning_apply").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    results = table(at, "Run")
    assert list(results["Tenant"]) == [CTX]
    assert list(results["Outcome"]) == ["succeeded"]
    assert list(results["Steps"]) == ["3/3"]
    assert "1 of 1 tenant(s) succeeded" in texts(at.success)
    # The plan is spent: no plan table and no Apply button stay on screen.
    assert not [b for b in at.button if b.key == "provisioning_apply"]
    assert not [frame for frame in at.dataframe if "Unchanged" in frame.value.columns]
    assert "echo.contact" in prog_ids(emu)
    (run,) = repository.list_provisioning_runs(APP, CTX)
    assert (run.outcome, run.actor, run.steps_total) == ("succeeded", "dashboard", 3)
    assert list(results["Run"]) == [run.id]
    runs = table(at, "Operation")
    assert list(runs["Outcome"]) == ["succeeded"]

    # Reruns apply nothing more; planning every drifted tenant finds none.
    at.run()
    assert len(repository.list_provisioning_runs(APP)) == 1
    assert not [b for b in at.button if b.key == "provisioning_apply"]
    at.radio(key="provisioning_mode").set_value("All that drifted").run()
    at.button(key="provisioning_plan").click().run()
    assert list(table(at, "Unchanged")["Status"]) == ["up to date"]
    assert any("nothing to apply" in text for text in texts(at.success))
    assert len(repository.list_provisioning_runs(APP)) == 1


def test_a_new_manifest_starts_from_a_preset(repository: Repository) -> None:
    seed(repository)
    at = open_page(PROVISIONING_PAGE)
    assert any("Start from a preset" in text for text in texts(at.warning))

    at.selectbox(key="provisioning_preset").select("internal")
    at.button(key="provisioning_fill_preset").click().run()
    assert not at.exception, at.exception
    text = at.text_area(key="provisioning_manifest_text").value
    assert text.startswith("# Preset for an INTERNAL application")
    at.button(key="provisioning_store_manifest").click().run()
    assert not at.error, texts(at.error)
    assert repository.get_application_manifest(STANDARD_APP) == text


def test_an_overview_link_chooses_its_application_until_the_operator_does(
    repository: Repository,
) -> None:
    seed(repository)  # Alpha Sync, then Bravo Custom in the list
    at = app_test()
    at.query_params["application"] = CUSTOM_APP
    at.run()
    at.switch_page(PROVISIONING_PAGE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="provisioning_application").options == [STANDARD_APP, CUSTOM_APP]
    assert at.selectbox(key="provisioning_application").value == CUSTOM_APP
    at.run()  # a rerun with the link still in the address: still the linked application
    assert at.selectbox(key="provisioning_application").value == CUSTOM_APP
    # The widget's default is the linked application too: a browser that lost the widget's
    # value (clicked before the linked page's first run ended) falls back to it, not to the
    # first application (tests/browser/test_linked_views_in_browser.py).
    assert at.selectbox(key="provisioning_application").proto.default == 1

    # The choice is the operator's afterwards, and the address follows it (a reload or a
    # shared link shows the same view).
    at.selectbox(key="provisioning_application").select(STANDARD_APP).run()
    at.run()
    assert at.selectbox(key="provisioning_application").value == STANDARD_APP
    assert at.query_params == {"application": STANDARD_APP}
    assert at.selectbox(key="provisioning_application").proto.default == 0

    # Another link chooses its own application again; its tenants mode stays in the address
    # (Bravo Custom has no tenant, so the page draws no mode to follow it).
    at.query_params.clear()
    at.query_params.update(application=CUSTOM_APP, tenants="drifted")
    at.run()
    assert at.selectbox(key="provisioning_application").value == CUSTOM_APP
    assert at.query_params == {"application": CUSTOM_APP, "tenants": "drifted"}
    assert not at.exception, at.exception


def test_a_url_one_write_behind_is_not_a_link(repository: Repository) -> None:
    """A click sent before the browser applied the page's last write to the address carries the
    address as it was: the operator's choice stands (a fresh-clone CI run's browser test saw
    the application reset to none there), and once the address has caught up, the old
    address is a link again (Back)."""
    seed(repository)
    at = app_test()
    at.switch_page(PROVISIONING_PAGE).run()
    assert at.selectbox(key="provisioning_application").value == STANDARD_APP
    at.selectbox(key="provisioning_application").select(CUSTOM_APP).run()
    assert at.query_params == {"application": CUSTOM_APP}

    at.query_params.clear()  # the browser still shows the address before that write
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="provisioning_application").value == CUSTOM_APP
    assert at.query_params == {"application": CUSTOM_APP}  # written again

    at.run()  # the address caught up
    at.query_params.clear()  # then Back to the address without an application: kept
    at.run()
    assert at.selectbox(key="provisioning_application").value == CUSTOM_APP
    at.query_params.update(application=STANDARD_APP)  # a link naming the other one
    at.run()
    assert at.selectbox(key="provisioning_application").value == STANDARD_APP
