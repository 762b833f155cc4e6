"""The onboarding notebooks are committed clean and follow the notebook conventions (DESIGN.md).

Executing them is nbmake's job (``pytest --nbmake notebooks``); this checks the committed files:
valid nbformat, outputs stripped, a markdown cell first saying what the notebook teaches, their
own emulator and temporary store, clean-up at the end, and no secret-looking literals.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from toolkit.localstack import DEMO_INSTALLS, NEWCOMER_TENANT, PARTNER_TENANT

if TYPE_CHECKING:
    import nbformat  # imported where used: its schema validator takes seconds to import

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {
    "00_application_models.ipynb",
    "01_register_application.ipynb",
    "02_sign_in_and_install.ipynb",
    "03_system_user_ticket.ipynb",
    "04_tenant_state_and_web_api.ipynb",
    "05_provisioning.ipynb",
    "06_operating_at_scale.ipynb",
    "07_installation_pages.ipynb",
}
# The make run world's demo tenants. Notebook 00 introduces the emulator's seeded demo world (its
# users and tenants are its subject) and installs there; every other notebook that can join the
# running world keeps out of them.
DEMO_TENANTS = sorted(
    {install.tenant for install in DEMO_INSTALLS} | {NEWCOMER_TENANT, PARTNER_TENANT}
)
IN_THE_DEMO_TENANTS = {"00_application_models.ipynb"}
# Hex strings as long as a client id / secret, PEM private key blocks, RSAKeyValue private parts,
# access tokens, system user tickets: none of them belongs in a committed notebook.
SECRET_PATTERNS = (
    re.compile(r"\b[0-9a-f]{32}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n\s*[A-Za-z0-9+/]{20}"),
    re.compile(r"<D>[A-Za-z0-9+/=\s]{16,}</D>"),
    re.compile(r"8A:Cust[0-9]+\.[A-Za-z0-9+/=]{8,}"),
    re.compile(r"7T:[A-Za-z0-9+/=]{16,}"),
)


def ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def load(path: Path) -> nbformat.NotebookNode:
    import nbformat

    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    return notebook


def code_of(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def test_the_onboarding_notebooks_exist() -> None:
    assert {path.name for path in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_outputs_are_stripped(path: Path) -> None:
    notebook = load(path)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs"
            assert cell.execution_count is None, f"cell {index} has an execution count"
        assert "attachments" not in cell or not cell.attachments, f"cell {index} has attachments"
    assert "widgets" not in notebook.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_starts_with_markdown_saying_what_it_teaches(path: Path) -> None:
    first = load(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "teaches" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_runs_its_own_emulator_and_store_and_cleans_up(path: Path) -> None:
    notebook = load(path)
    code = code_of(notebook)
    last_code = next(c for c in reversed(notebook.cells) if c.cell_type == "code").source
    if "open_world(" in code:
        # toolkit.notebook_world: the make run world when it is up, else a private emulator
        # and a throw-away store (always private under nbmake: notebooks/conftest.py).
        assert "from toolkit.notebook_world import" in code
        assert "world.close()" in last_code, "the last code cell does not call world.close()"
        assert "Emulator(port=0).start()" not in code  # one way to get a world per notebook
        return
    assert "Emulator(port=0).start()" in code
    assert "tempfile.mkdtemp(" in code
    assert "_env_file=None" in code  # a developer's .env must not change what it does
    for step in ("emu.stop()", "ws.close()", "shutil.rmtree(home"):
        assert step in last_code, f"the last code cell does not call {step}"
    if "PartnerEndpoints(" in code:
        assert "endpoints.stop()" in last_code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_joins_the_running_world_and_says_what_it_leaves_there(path: Path) -> None:
    # Issue 15: a notebook that changes the emulator's world does it in tenants of its own,
    # so it can work in the make run world too; none asks for a private world.
    notebook = load(path)
    code = code_of(notebook)
    assert "open_world(private=True)" not in code
    last_code = next(c for c in reversed(notebook.cells) if c.cell_type == "code").source
    if "control.add_tenant(" in code:
        assert "world.new_contexts(" in code  # identifiers no tenant of the world uses
        assert "world.left_behind(" in last_code  # what stays in the world, how to remove it
    for demo_tenant in ("Cust12345", "Cust23456"):
        for change in ("move_tenant(", "change_tenant(", "set_tenant_state("):
            assert f"{change}{demo_tenant!r}" not in code.replace('"', "'")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_signs_in_and_revokes_only_in_tenants_of_its_own(path: Path) -> None:
    # Issue 15: installs, sign-ins and revocations in the make run world happen in tenants the
    # notebook made, so the demo tenants' records (and the Overview) stay as the seed left them.
    code = code_of(load(path))
    named = [ctx for ctx in DEMO_TENANTS if ctx.casefold() in code.casefold()]
    if "/revoke" in code:
        assert not named, f"revokes with a demo tenant in sight: {named}"
        assert "world.new_contexts(" in code
    if "open_world(" not in code or path.name in IN_THE_DEMO_TENANTS:
        return
    assert not named, f"names the demo tenants {named} (their users included)"
    if "sign_in(" in code:
        assert "world.new_contexts(" in code  # the administrator of a tenant of its own


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_progress_bars_render_as_one_widget(path: Path) -> None:
    # tqdm.auto draws one widget in Jupyter; plain tqdm saves a fragment per refresh.
    code = code_of(load(path))
    assert "from tqdm import" not in code
    assert "import tqdm\n" not in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_secret_literals(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), f"{path.name} contains {pattern.pattern!r}"
