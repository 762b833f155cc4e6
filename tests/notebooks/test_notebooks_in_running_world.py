"""Notebooks 02 to 07 in the `make run` world (issue 15).

Under nbmake every notebook runs in a private world (notebooks/conftest.py). Here a local stack
like `make run`'s (without the dashboard process: the store is what the dashboard shows) runs in
this process, and each notebook is executed against it, found through ``SOTK_HOME``. Each must
work there with applications and tenants of its own: afterwards the store holds the
applications its last line says it added, installed only in tenants the world did not have
and none needing an administrator's re-approval (the Overview would list it), and the demo
tenants, their authorizations and what the emulator holds in them are as before,
with no fault rule left behind. Cells wait for what they wait for (webhooks, runs, jobs), each
with its own bound; the kernel gets a generous per-cell timeout, so a slow machine only takes
longer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from toolkit.localstack import DEMO_INSTALLS, NEWCOMER_TENANT, PARTNER_TENANT, LocalStack
from toolkit.notebook_world import WORLD_VARIABLE
from toolkit.workspace import Workspace

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
IN_THE_WORLD = (
    "02_sign_in_and_install.ipynb",
    "03_system_user_ticket.ipynb",
    "04_tenant_state_and_web_api.ipynb",
    "05_provisioning.ipynb",
    "06_operating_at_scale.ipynb",
    "07_installation_pages.ipynb",
)
DEMO_TENANTS = {install.tenant for install in DEMO_INSTALLS} | {NEWCOMER_TENANT, PARTNER_TENANT}
# Per cell: far above what any cell needs on a loaded machine; a hung cell still ends the test.
CELL_TIMEOUT_SECONDS = 900

pytestmark = [pytest.mark.slow, pytest.mark.server]


def emulator_view(emulator_url: str) -> dict[str, Any]:
    """What the emulator holds of the demo tenants, and its fault rules."""
    with httpx.Client(base_url=emulator_url + "/__emulator__", timeout=30) as control:
        state = control.get("/state").json()
        faults = control.get("/faults").json()["rules"]
    demo = {t["ctx"]: t for t in state["tenants"] if t["ctx"] in DEMO_TENANTS}
    data = {ctx: d for ctx, d in state["tenant_data"].items() if ctx.title() in DEMO_TENANTS}
    return {"tenants": demo, "tenant_data": data, "faults": faults}


def store_view(workspace: Workspace) -> dict[str, dict[str, str]]:
    """Every application's authorizations: tenant -> status."""
    return {
        app.name: {
            record.context_identifier: record.status
            for record in workspace.repository.list_authorizations(application=app.id)
        }
        for app in workspace.applications.list()
    }


@pytest.fixture(scope="module")
def running_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    home = tmp_path_factory.mktemp("make-run") / ".toolkit"
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("SOTK_")]:
            patch.delenv(name)
        stack = LocalStack(home, emulator_port=0, partner_port=0, dashboard=False)
        with stack:
            # The kernels inherit these: they find this stack and nothing else.
            patch.setenv("SOTK_HOME", str(home))
            patch.setenv(WORLD_VARIABLE, "running")
            yield stack


def execute(path: Path) -> str:
    """Run the notebook in a fresh kernel; the text its last code cell printed."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    last = next(cell for cell in reversed(notebook.cells) if cell.cell_type == "code")
    return "".join(out.get("text", "") for out in last.outputs if out.output_type == "stream")


@pytest.mark.parametrize("name", IN_THE_WORLD)
def test_runs_in_the_running_world_with_its_own_tenants(
    running_world: LocalStack, name: str
) -> None:
    workspace = running_world.workspace
    assert workspace is not None
    emulator_before = emulator_view(running_world.urls.emulator)
    store_before = store_view(workspace)
    assert {ctx for apps in store_before.values() for ctx in apps} >= {
        install.tenant for install in DEMO_INSTALLS
    }

    last_words = execute(NOTEBOOKS_DIR / name)

    assert "Added to the make run world" in last_words
    assert "the make run world runs on" in last_words
    store_after = store_view(workspace)
    added = {app: tenants for app, tenants in store_after.items() if app not in store_before}
    assert added, "the notebook registers applications of its own"
    known = {ctx for apps in store_before.values() for ctx in apps}
    for app, tenants in added.items():
        assert f"'{app}'" in last_words  # the last line names it
        assert tenants, f"{app} is installed in tenants of its own"
        assert not set(tenants) & (DEMO_TENANTS | known)
        # Nothing it leaves waits for a tenant administrator (03 revokes and approves again).
        assert "needs_reconsent" not in tenants.values(), f"{app}: {tenants}"
        first, final = min(tenants), max(tenants)
        assert first in last_words  # and its tenants
        assert final in last_words
    # The applications that were there have the same authorizations, in the same states.
    assert {a: t for a, t in store_after.items() if a in store_before} == store_before
    # The demo tenants are where they were, in the state they were, holding what they held,
    # and no fault rule is left.
    assert emulator_view(running_world.urls.emulator) == emulator_before
    assert emulator_before["faults"] == []
