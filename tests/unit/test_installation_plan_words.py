"""The installation page's plan in plain words (toolkit.installation_pages.describe_plan): the
groups an administrator sees (lists and items, web panels, buttons, task menus)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_plan import CTX, TASKS, FakeApi, FakeTenant

from toolkit.installation_pages import describe_plan
from toolkit.provisioning import apply_plan, load_manifest, make_plan
from toolkit.store import Application, Repository, generate_key_text, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Repository]:
    repository = open_store(None, tmp_path / "home", generate_key_text("pages"))
    yield repository
    repository.close()


@pytest.fixture
def app(store: Repository) -> Application:
    return store.add_application(
        "Acme Sync", environment="sod", client_id="acme", client_secret="s", model="hybrid"
    )


def test_the_plan_is_described_in_groups_with_task_menus_and_new_window_buttons(
    store: Repository, app: Application
) -> None:
    manifest = load_manifest(TASKS)
    plan = make_plan(FakeApi(FakeTenant()), store, app, CTX, manifest)
    groups = {
        group.title: [entry.words for entry in group.entries]
        for group in describe_plan(plan, manifest)
    }
    assert list(groups) == ["Lists and list items", "Web panels", "Buttons", "Task menus"]
    assert groups["Buttons"] == [
        "Create button “Acme portal” (in the navigator (the main menu on the left), opening the "
        "application in a new window)"
    ]
    assert groups["Task menus"] == [
        "Create task menu item “Sync with Acme” (in the task menu of contact records)"
    ]


def test_an_uninstall_names_the_task_menus_it_removes(store: Repository, app: Application) -> None:
    tenant = FakeTenant()
    api = FakeApi(tenant)
    manifest = load_manifest(TASKS)
    apply_plan(api, store, app, make_plan(api, store, app, CTX, manifest), actor="test")
    removal = make_plan(api, store, app, CTX, manifest, operation="uninstall")
    groups = {g.title: [e.words for e in g.entries] for g in describe_plan(removal, manifest)}
    assert groups["Task menus"] == ["Remove 1 task menu(s) owned by the application: acme.task"]
