"""Plans against a fake tenant: diff by natural key, ownership, conflicts, fingerprints.

:class:`FakeTenant` / :class:`FakeApi` model the tenant REST subset provisioning uses, with web
panels owned by the app that created them (as the emulator decides, open question 13). The
apply tests import them.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.stores import migrated_home

from toolkit.errors import ApiNotFoundError
from toolkit.provisioning import Action, Group, Kind, Manifest, load_manifest, make_plan
from toolkit.provisioning.plan import fingerprint_of, read_snapshot
from toolkit.store import Application, Repository, generate_key_text, open_store
from toolkit.tenant import ListEntity, ListItemEntity, WebPanelEntity

CTX = "Cust12345"

MANIFEST = """\
[[lists]]
name = "Acme status"
tooltip = "Sync states"

[[lists.items]]
name = "Synced"
rank = 1

[[lists.items]]
name = "Failed"
rank = 2

[[lists]]
name = "Category"

[[lists.items]]
name = "Acme customer"

[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "https://partner.example.com/panel?contact=<cuid>"
visible_in = "ContactCard"
window_name = "AcmeContact"

[[buttons]]
prog_id = "acme.main"
name = "Acme"
url = "https://partner.example.com/app?uctx=<uctx>"
"""


class FakeTenant:
    """One tenant's lists, items and web panels (with their owning client)."""

    def __init__(self) -> None:
        self.ids = itertools.count(100)
        self.lists: dict[int, ListEntity] = {
            1: ListEntity(id=1, name="Category", list_type="category", rank=1),
            2: ListEntity(id=2, name="WebPanel", list_type="webpanel", rank=2),
        }
        self.items: dict[int, list[ListItemEntity]] = {
            1: [ListItemEntity(id=next(self.ids), name="VIP Customer", ud_list_definition_id=1)],
        }
        self.panels: dict[int, tuple[WebPanelEntity, str | None]] = {}
        self.calls: list[tuple[str, Any]] = []
        # Task menus (wire dicts) with their owning client; web panel id -> selected groups.
        self.task_menus: dict[int, tuple[dict[str, Any], str | None]] = {}
        self.user_groups = (1, 2, 3)
        self.visible_for: dict[int, set[int]] = {}

    def add_panel(self, owner: str | None, **fields: Any) -> WebPanelEntity:
        entity = WebPanelEntity(web_panel_id=next(self.ids), **fields)
        self.panels[entity.web_panel_id] = (entity, owner)
        return entity

    def panel_count(self, prog_id: str) -> int:
        return sum(1 for entity, _ in self.panels.values() if entity.prog_id == prog_id)

    def task_menu_count(self, prog_id: str) -> int:
        return sum(1 for wire, _ in self.task_menus.values() if wire["ProgId"] == prog_id)

    def item_names(self, list_name: str) -> list[str]:
        (found,) = [e for e in self.lists.values() if e.name == list_name]
        return [item.name for item in self.items.get(found.id, [])]


class FakeApi:
    """The tenant REST methods provisioning uses, as application ``client``."""

    def __init__(self, tenant: FakeTenant, client: str = "acme") -> None:
        self.tenant = tenant
        self.client = client

    def _list(self, ref: int | str) -> ListEntity:
        for entity in self.tenant.lists.values():
            if entity.id == ref or (isinstance(ref, str) and entity.name.lower() == ref.lower()):
                return entity
        raise ApiNotFoundError(f"list {ref}", status_code=404)

    def lists(self) -> builtins.list[ListEntity]:
        self.tenant.calls.append(("lists", None))
        return list(self.tenant.lists.values())

    def list(self, list_ref: int | str) -> ListEntity:
        return self._list(list_ref)

    def create_list(self, entity: ListEntity | Mapping[str, Any]) -> ListEntity:
        assert isinstance(entity, ListEntity)
        assert entity.list_type == "udlist"
        created = replace(entity, id=next(self.tenant.ids))
        self.tenant.lists[created.id] = created
        self.tenant.calls.append(("create_list", created.name))
        return created

    def delete_list(self, list_ref: int | str) -> None:
        entity = self._list(list_ref)
        del self.tenant.lists[entity.id]
        self.tenant.items.pop(entity.id, None)
        self.tenant.calls.append(("delete_list", entity.name))

    def list_items(self, list_ref: int | str) -> builtins.list[ListItemEntity]:
        return list(self.tenant.items.get(self._list(list_ref).id, []))

    def create_list_item(
        self, list_ref: int | str, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        assert isinstance(entity, ListItemEntity)
        owner = self._list(list_ref)
        created = replace(entity, id=next(self.tenant.ids), ud_list_definition_id=owner.id)
        self.tenant.items.setdefault(owner.id, []).append(created)
        self.tenant.calls.append(("create_list_item", created.name))
        return created

    def save_list_items(
        self, list_ref: int | str, entities: builtins.list[ListItemEntity | Mapping[str, Any]]
    ) -> builtins.list[ListItemEntity]:
        """``PUT v1/List/{list}/Items`` as the emulator reads it: Id 0 creates, an item left
        out is marked deleted."""
        owner = self._list(list_ref)
        items = self.tenant.items.setdefault(owner.id, [])
        saved = []
        sent = set()
        for entity in entities:
            assert isinstance(entity, ListItemEntity)
            assert entity.ud_list_definition_id in (0, owner.id)
            if entity.id == 0:
                item = replace(entity, id=next(self.tenant.ids), ud_list_definition_id=owner.id)
                items.append(item)
            else:
                (index,) = [i for i, item in enumerate(items) if item.id == entity.id]
                item = items[index] = replace(entity, ud_list_definition_id=owner.id)
            sent.add(item.id)
            saved.append(item)
        items[:] = [i if i.id in sent else replace(i, deleted=True) for i in items]
        self.tenant.calls.append(("save_list_items", [item.name for item in saved]))
        return saved

    def update_list_item(
        self, list_ref: int | str, item_id: int, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        assert isinstance(entity, ListItemEntity)
        items = self.tenant.items[self._list(list_ref).id]
        for index, item in enumerate(items):
            if item.id == item_id:
                items[index] = replace(entity, id=item_id)
                self.tenant.calls.append(("update_list_item", entity.name))
                return items[index]
        raise ApiNotFoundError("item", status_code=404)

    def delete_list_item(self, list_ref: int | str, item_id: int) -> None:
        items = self.tenant.items[self._list(list_ref).id]
        before = len(items)
        items[:] = [item for item in items if item.id != item_id]
        if len(items) == before:
            raise ApiNotFoundError("item", status_code=404)
        self.tenant.calls.append(("delete_list_item", item_id))

    def web_panels(self) -> builtins.list[WebPanelEntity]:
        return [entity for entity, _ in self.tenant.panels.values()]

    def web_panel(self, web_panel_id: int) -> WebPanelEntity:
        return self.tenant.panels[web_panel_id][0]

    def save_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity:
        assert isinstance(entity, WebPanelEntity)
        assert entity.web_panel_id == 0
        created = replace(entity, web_panel_id=next(self.tenant.ids))
        self.tenant.panels[created.web_panel_id] = (created, self.client)
        self.tenant.calls.append(("save_web_panel", created.prog_id))
        return created

    def update_web_panel(
        self, web_panel_id: int, entity: WebPanelEntity | Mapping[str, Any]
    ) -> WebPanelEntity:
        assert isinstance(entity, WebPanelEntity)
        owner = self.tenant.panels[web_panel_id][1]
        updated = replace(entity, web_panel_id=web_panel_id)
        self.tenant.panels[web_panel_id] = (updated, owner)
        self.tenant.calls.append(("update_web_panel", updated.prog_id))
        return updated

    def app_web_panels(self) -> builtins.list[WebPanelEntity]:
        return [e for e, owner in self.tenant.panels.values() if owner == self.client]

    def delete_app_web_panels(self) -> None:
        self.tenant.panels = {
            key: value for key, value in self.tenant.panels.items() if value[1] != self.client
        }
        self.tenant.calls.append(("delete_app_web_panels", self.client))

    def delete_web_panel_permanently(self, web_panel_id: int) -> None:
        if web_panel_id not in self.tenant.panels:
            raise ApiNotFoundError("panel", status_code=404)
        assert self.tenant.panels[web_panel_id][1] == self.client
        del self.tenant.panels[web_panel_id]
        self.tenant.calls.append(("delete_web_panel", web_panel_id))

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        agent = "v1/Agents/List/"
        if path.startswith(agent):
            return self._agent(path.removeprefix(agent), body, params or {})
        if path.endswith("/UserGroups"):
            return self._user_groups(method, path, body)
        assert method == "PUT"
        assert path.startswith("v1/List/")
        list_id = int(path.rsplit("/", 1)[1])
        updated = ListEntity.from_wire(body)
        self.tenant.lists[list_id] = updated
        self.tenant.calls.append(("update_list", updated.name))
        return updated.to_wire()

    def _agent(self, name: str, body: Any, params: Mapping[str, str]) -> Any:
        menus = self.tenant.task_menus
        if name == "GetAppTaskMenus":
            self.tenant.calls.append(("get_app_task_menus", self.client))
            return [dict(wire) for wire, owner in menus.values() if owner == self.client]
        if name == "SaveTaskMenu":
            wire = dict(body)
            if wire["TaskMenuId"] == 0:
                wire["TaskMenuId"] = next(self.tenant.ids)
                menus[wire["TaskMenuId"]] = (wire, self.client)
                self.tenant.calls.append(("save_task_menu", wire["ProgId"]))
            else:
                menus[wire["TaskMenuId"]] = (wire, menus[wire["TaskMenuId"]][1])
                self.tenant.calls.append(("update_task_menu", wire["ProgId"]))
            return dict(wire)
        if name == "DeleteTaskMenu":
            task_menu_id = int(params["TaskMenuId"])
            if task_menu_id not in menus:
                raise ApiNotFoundError("task menu", status_code=404)
            assert menus[task_menu_id][1] == self.client
            del menus[task_menu_id]
            self.tenant.calls.append(("delete_task_menu", task_menu_id))
            return None
        assert name == "DeleteAppTaskMenus", name
        self.tenant.task_menus = {k: v for k, v in menus.items() if v[1] != self.client}
        self.tenant.calls.append(("delete_app_task_menus", self.client))
        return None

    def _user_groups(self, method: str, path: str, body: Any) -> Any:
        assert path.startswith("v1/List/WebPanel/Items/"), path
        panel_id = int(path.split("/")[4])
        assert panel_id in self.tenant.panels
        selected = self.tenant.visible_for.setdefault(panel_id, set())
        if method == "PUT":
            self.tenant.calls.append(("set_user_groups", panel_id))
            for group in body:
                (selected.add if group["Selected"] else selected.discard)(group["Id"])
        return [{"Id": g, "Selected": g in selected} for g in self.tenant.user_groups]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Repository]:
    repository = open_store(None, migrated_home(tmp_path / "home"), generate_key_text("plan"))
    yield repository
    repository.close()


@pytest.fixture
def app(store: Repository) -> Application:
    return store.add_application(
        "Acme Sync", environment="sod", client_id="acme", client_secret="s", model="hybrid"
    )


@pytest.fixture
def tenant() -> FakeTenant:
    return FakeTenant()


@pytest.fixture
def manifest() -> Manifest:
    return load_manifest(MANIFEST)


def actions(steps: Any) -> list[tuple[str, str, str]]:
    return [(str(s.action), str(s.kind), s.key) for s in steps]


def test_an_empty_tenant_needs_every_object_created(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    plan = make_plan(FakeApi(tenant), store, app, CTX, manifest)
    assert actions(plan.pending) == [
        ("create", "list", "Acme status"),
        ("create", "list_item", "Acme status/Synced"),
        ("create", "list_item", "Acme status/Failed"),
        ("create", "list_item", "Category/Acme customer"),
        ("create", "web_panel", "acme.contact"),
        ("create", "web_panel", "acme.main.panel"),
        ("create", "web_panel", "acme.main.button"),
    ]
    # Category exists and is not the app's: used, never changed.
    (category,) = [s for s in plan.steps if s.key == "Category"]
    assert (category.action, category.owned) == (Action.UNCHANGED, False)
    assert plan.counts()["create"] == 7
    assert plan.conflicts == ()
    assert plan.to_json()["steps"][0]["desired"]["Name"] == "Acme status"


def test_owned_objects_that_differ_are_updated_with_the_fields_that_differ(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    tenant.add_panel(
        "acme",
        prog_id="acme.contact",
        name="Old name",
        url="https://partner.example.com/panel?contact=<cuid>",
        visible_in="ContactCard",
        window_name="AcmeContact",
        deleted=True,
    )
    plan = make_plan(FakeApi(tenant), store, app, CTX, manifest)
    (step,) = [s for s in plan.steps if s.key == "acme.contact"]
    assert step.action is Action.UPDATE
    assert {c.field: (c.actual, c.desired) for c in step.changes} == {
        "Name": ("Old name", "Acme"),
        "Deleted": (True, False),
    }
    assert step.note.startswith("revived")


def test_a_prog_id_on_another_apps_panel_is_a_conflict(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    tenant.add_panel("other", prog_id="acme.contact", name="Theirs", visible_in="ContactCard")
    plan = make_plan(FakeApi(tenant), store, app, CTX, manifest)
    assert len(plan.conflicts) == 1
    assert "acme.contact" in plan.conflicts[0]
    assert not plan.is_empty


def test_owned_panels_no_longer_in_the_manifest_and_duplicates_are_deleted(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    fields = load_manifest(MANIFEST).web_panels[0].entity_fields()
    keep = tenant.add_panel("acme", **fields)
    duplicate = tenant.add_panel("acme", **fields)
    gone = tenant.add_panel("acme", prog_id="acme.retired", name="Retired")
    no_prog_id = tenant.add_panel("acme", name="Made by hand")
    other = tenant.add_panel("other", prog_id="other.thing", name="Theirs")
    plan = make_plan(FakeApi(tenant), store, app, CTX, manifest)
    deletes = {s.remote_id for s in plan.steps if s.action is Action.DELETE}
    assert deletes == {duplicate.web_panel_id, gone.web_panel_id}
    notes = {s.remote_id: s.note for s in plan.steps if s.action is Action.DELETE}
    assert notes[duplicate.web_panel_id] == f"a duplicate of web panel {keep.web_panel_id}"
    assert notes[gone.web_panel_id] == "no longer in the manifest"
    unchanged = {s.remote_id for s in plan.steps if s.action is Action.UNCHANGED}
    assert keep.web_panel_id in unchanged
    assert no_prog_id.web_panel_id not in deletes
    assert other.web_panel_id not in deletes


def test_owned_items_and_lists_the_manifest_dropped_are_deleted(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    old = api.create_list(ListEntity(name="Old list", list_type="udlist"))
    store.put_provisioned_object(app.id, CTX, kind="list", name="Old list", remote_id=old.id)
    vip = tenant.items[1][0]
    item = api.create_list_item(1, ListItemEntity(name="Acme legacy"))
    store.put_provisioned_object(
        app.id, CTX, kind="list_item", name="Acme legacy", list_name="Category", remote_id=item.id
    )
    plan = make_plan(api, store, app, CTX, manifest)
    deletes = [(s.kind, s.key, s.remote_id) for s in plan.steps if s.action is Action.DELETE]
    assert deletes == [
        (Kind.LIST_ITEM, "Category/Acme legacy", item.id),
        (Kind.LIST, "Old list", old.id),  # whole lists last
    ]
    assert vip.id not in {s.remote_id for s in plan.pending}


def test_a_pending_create_whose_object_exists_is_adopted(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    store.put_provisioned_object(
        app.id, CTX, kind="list_item", name="Acme customer", list_name="Category", state="pending"
    )
    item = api.create_list_item(1, ListItemEntity(name="Acme customer"))
    plan = make_plan(api, store, app, CTX, manifest)
    (step,) = [s for s in plan.steps if s.key == "Category/Acme customer"]
    assert (step.action, step.remote_id) == (Action.ADOPT, item.id)


def test_a_list_deleted_between_the_plans_two_reads_counts_as_gone(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    # An uninstall running beside an installation page's read deletes the list after the plan
    # read the list definitions and before it read that list's items.
    created = FakeApi(tenant).create_list(ListEntity(name="Acme status", list_type="udlist"))

    class DeletedMidRead(FakeApi):
        def list_items(self, list_ref: int | str) -> builtins.list[ListItemEntity]:
            if list_ref == created.id:
                self.delete_list(list_ref)
            return super().list_items(list_ref)

    plan = make_plan(DeletedMidRead(tenant), store, app, CTX, manifest)
    assert ("create", "list", "Acme status") in actions(plan.pending)
    assert created.id not in tenant.lists


def test_the_fingerprint_follows_relevant_objects_only(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    first = fingerprint_of(read_snapshot(api, store, app, CTX, manifest), manifest)
    tenant.add_panel("other", prog_id="unrelated", name="Not ours")
    tenant.items[1].append(ListItemEntity(id=999, name="Unrelated? no: Category is ours to read"))
    second = fingerprint_of(read_snapshot(api, store, app, CTX, manifest), manifest)
    assert second != first  # an item of a manifest list changed
    third = fingerprint_of(read_snapshot(api, store, app, CTX, manifest), manifest)
    tenant.add_panel("other", prog_id="also.unrelated", name="Still not ours")
    assert fingerprint_of(read_snapshot(api, store, app, CTX, manifest), manifest) == third
    tenant.add_panel("other", prog_id="acme.contact", name="Squatter")
    assert fingerprint_of(read_snapshot(api, store, app, CTX, manifest), manifest) != third


def test_an_uninstall_plan_removes_only_what_the_app_owns(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    tenant.add_panel("acme", prog_id="acme.contact", name="Mine")
    tenant.add_panel("other", prog_id="other.x", name="Theirs")
    item = api.create_list_item(1, ListItemEntity(name="Acme customer"))
    store.put_provisioned_object(
        app.id, CTX, kind="list_item", name="Acme customer", list_name="Category", remote_id=item.id
    )
    plan = make_plan(api, store, app, CTX, manifest, operation="uninstall")
    assert actions(plan.steps) == [
        ("delete", "app_web_panels", "*"),
        ("delete", "list_item", "Category/Acme customer"),
    ]


# -- task menus, new-window buttons, grouping (issue 12) ---------------------------------------

TASKS = """\
[[web_panels]]
prog_id = "acme.contact"
name = "Acme"
url = "https://partner.example.com/panel/app-1?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"

[[buttons]]
prog_id = "acme.portal"
name = "Acme portal"
opens = "window"
url = "https://partner.example.com/portal?uctx=<uctx>"

[[task_menus]]
prog_id = "acme.task"
name = "Sync with Acme"
table_name = "contact"
url = "https://partner.example.com/panel/app-1?uctx=<uctx>&contact=<cuid>"

[[lists]]
name = "Acme status"
[[lists.items]]
name = "Synced"
"""


def _task_menu(tenant: FakeTenant, owner: str, **fields: Any) -> int:
    task_menu_id = next(tenant.ids)
    wire = {
        "TaskMenuId": task_menu_id,
        "Name": "",
        "Tooltip": "",
        "TableName": "",
        "Area": "Task",
        "UrlOrSoprotocol": "",
        "TaskType": "Url",
        "CrmScriptId": 0,
        "ShowInClient": "Web",
        "ArchiveBehaviour": "None",
        "Rank": 0,
        "Encoding": "None",
        "ProgId": "",
        "Deleted": False,
        **fields,
    }
    tenant.task_menus[task_menu_id] = (wire, owner)
    return task_menu_id


def test_a_plan_groups_its_steps_for_the_installation_page(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    plan = make_plan(FakeApi(tenant), store, app, CTX, load_manifest(TASKS))
    grouped = plan.grouped()
    assert list(grouped) == [Group.LISTS, Group.WEB_PANELS, Group.BUTTONS, Group.TASK_MENUS]
    assert [(s.kind, s.key) for s in grouped[Group.LISTS]] == [
        (Kind.LIST, "Acme status"),
        (Kind.LIST_ITEM, "Acme status/Synced"),
    ]
    assert [s.key for s in grouped[Group.WEB_PANELS]] == ["acme.contact"]
    assert [s.key for s in grouped[Group.BUTTONS]] == ["acme.portal.button"]
    (task,) = grouped[Group.TASK_MENUS]
    assert (task.action, task.kind, task.key) == (Action.CREATE, Kind.TASK_MENU, "acme.task")
    assert task.desired["UrlOrSoprotocol"].endswith("/panel/app-1?uctx=<uctx>&contact=<cuid>")
    json_steps = plan.to_json()["steps"]
    assert {s["key"]: s["group"] for s in json_steps}["acme.portal.button"] == "buttons"
    # Created panels are made visible for every user group; the JSON says so too.
    assert all(s.everyone for s in plan.steps if s.kind is Kind.WEB_PANEL)
    assert {s["key"]: s["everyone"] for s in json_steps}["acme.contact"] is True


def test_owned_task_menus_are_matched_by_prog_id_updated_and_deleted(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    mine = _task_menu(tenant, "acme", ProgId="acme.task", Name="Old name", TableName="contact")
    dropped = _task_menu(tenant, "acme", ProgId="acme.gone", Name="Gone")
    _task_menu(tenant, "other", ProgId="acme.task", Name="Theirs")  # never touched
    _task_menu(tenant, "acme", ProgId="", Name="Made by hand")  # no ProgId: left alone
    plan = make_plan(FakeApi(tenant), store, app, CTX, load_manifest(TASKS))
    steps = {(s.action, s.key): s for s in plan.steps if s.kind is Kind.TASK_MENU}
    update = steps[(Action.UPDATE, "acme.task")]
    assert update.remote_id == mine
    assert ("Name", "Old name", "Sync with Acme") in {
        (c.field, c.actual, c.desired) for c in update.changes
    }
    assert steps[(Action.DELETE, "acme.gone")].remote_id == dropped
    assert len(steps) == 2


def test_an_uninstall_plan_removes_the_apps_task_menus_in_one_call(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    _task_menu(tenant, "acme", ProgId="acme.task", Name="Mine")
    _task_menu(tenant, "other", ProgId="x", Name="Theirs")
    plan = make_plan(FakeApi(tenant), store, app, CTX, load_manifest(TASKS), operation="uninstall")
    (step,) = [s for s in plan.steps if s.kind is Kind.APP_TASK_MENUS]
    assert step.desired == {"ProgIds": ["acme.task"]}
    assert step.group is Group.TASK_MENUS


def test_task_menus_are_read_only_when_the_manifest_has_some_or_for_an_uninstall(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    make_plan(api, store, app, CTX, manifest)  # no task menus in it: no GetAppTaskMenus
    assert ("get_app_task_menus", "acme") not in tenant.calls
    make_plan(api, store, app, CTX, load_manifest(TASKS))
    assert tenant.calls.count(("get_app_task_menus", "acme")) == 1
    make_plan(api, store, app, CTX, manifest, operation="uninstall")
    assert tenant.calls.count(("get_app_task_menus", "acme")) == 2
