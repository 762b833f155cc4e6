"""Applying plans against a fake tenant: exactly the plan, recorded, resumable, locked."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.stores import migrated_home
from test_plan import CTX, MANIFEST, TASKS, FakeApi, FakeTenant

from toolkit.errors import (
    PlanConflictError,
    ProvisioningBusyError,
    ProvisioningRunError,
    RequestOutcomeUnknownError,
    StalePlanError,
)
from toolkit.provisioning import (
    Action,
    Manifest,
    ProvisioningEvent,
    apply_manifest,
    apply_plan,
    load_manifest,
    make_plan,
)
from toolkit.store import Application, Repository, generate_key_text, open_store
from toolkit.tenant import ListItemEntity, WebPanelEntity


class Interrupted(Exception):
    """What a test raises from the progress callback to kill a run mid-way."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Repository]:
    repository = open_store(None, migrated_home(tmp_path / "home"), generate_key_text("apply"))
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


def apply_now(
    api: Any, store: Repository, app: Application, manifest: Manifest, **options: Any
) -> Any:
    plan = make_plan(api, store, app, CTX, manifest)
    return apply_plan(api, store, app, plan, actor="test", **options)


def test_apply_performs_the_plan_and_a_new_plan_is_empty(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    events: list[ProvisioningEvent] = []
    run = apply_now(api, store, app, manifest, on_event=events.append)
    assert run.outcome == "succeeded"
    assert run.steps_total == len(run.steps) == 7
    assert {step.outcome for step in run.steps} == {"done"}
    assert tenant.item_names("Acme status") == ["Synced", "Failed"]
    assert tenant.item_names("Category") == ["VIP Customer", "Acme customer"]
    assert tenant.panel_count("acme.main.button") == 1
    (button,) = [e for e, _ in tenant.panels.values() if e.prog_id == "acme.main.button"]
    assert button.url == "soprotocol:browser.AcmeWindow"
    assert [e.kind for e in events][:2] == ["run_started", "step_started"]
    assert events[-1].kind == "run_finished"
    assert events[-1].outcome == "succeeded"
    owned = {(o.kind, o.name, o.state) for o in store.list_provisioned_objects(app.id, CTX)}
    assert ("list", "Acme status", "owned") in owned
    assert ("list_item", "Acme customer", "owned") in owned
    again = make_plan(api, store, app, CTX, manifest)
    assert again.is_empty
    stored = store.list_provisioning_runs(app.name, CTX)
    assert [r.outcome for r in stored] == ["succeeded"]
    assert stored[0].plan["counts"]["create"] == 7
    audit = store.list_audit(application=app.name)
    assert [e.action for e in audit] == ["provisioning.apply"]
    assert audit[0].summary["outcome"] == "succeeded"


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_a_run_killed_after_k_steps_is_completed_by_the_next_without_duplicates(
    k: int, store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)

    def kill(event: ProvisioningEvent) -> None:
        if event.kind == "step_finished" and event.position == k:
            raise Interrupted(f"killed after step {k}")

    with pytest.raises(ProvisioningRunError) as caught:
        apply_now(api, store, app, manifest, on_event=kill)
    assert isinstance(caught.value.__cause__, Interrupted)
    killed = store.get_provisioning_run(caught.value.run_id)
    assert killed.outcome == "partial"
    assert len(killed.steps) == k + 1
    assert store.get_provisioning_lock(app.id, CTX) is None  # released on the way out

    if k == 0:  # the new list's items were written ahead with its owned record, not created
        records = store.list_provisioned_objects(app.id, CTX)
        assert {(o.kind, o.name, o.state) for o in records} == {
            ("list", "Acme status", "owned"),
            ("list_item", "Synced", "pending"),
            ("list_item", "Failed", "pending"),
        }
        assert tenant.item_names("Acme status") == []
    rest = make_plan(api, store, app, CTX, manifest)
    # Killed after the new list's first item step: the one request that saved its items saved
    # "Failed" too, and its owned record went in with the answer, so nothing is left for it.
    saved_with_list = 1 if k == 1 else 0
    assert len(rest.pending) == 7 - (k + 1) - saved_with_list
    assert all(s.name != "Failed" for s in rest.pending) or k == 0
    run = apply_plan(api, store, app, rest, actor="test")
    assert run.outcome == "succeeded"
    assert tenant.item_names("Acme status") == ["Synced", "Failed"]
    assert tenant.item_names("Category").count("Acme customer") == 1
    for prog_id in ("acme.contact", "acme.main.panel", "acme.main.button"):
        assert tenant.panel_count(prog_id) == 1
    assert make_plan(api, store, app, CTX, manifest).is_empty


class LosingApi(FakeApi):
    """Creates on the server, then loses the answer (RequestOutcomeUnknownError) once per
    method named in ``lose``."""

    def __init__(self, tenant: FakeTenant, lose: set[str]) -> None:
        super().__init__(tenant)
        self.lose = set(lose)

    def _maybe_lose(self, name: str) -> None:
        if name in self.lose:
            self.lose.discard(name)
            raise RequestOutcomeUnknownError(f"{name}: connection reset after sending")

    def save_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity:
        created = super().save_web_panel(entity)
        self._maybe_lose("save_web_panel")
        return created

    def create_list_item(
        self, list_ref: int | str, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity:
        created = super().create_list_item(list_ref, entity)
        self._maybe_lose("create_list_item")
        return created

    def save_list_items(
        self, list_ref: int | str, entities: list[ListItemEntity | Mapping[str, Any]]
    ) -> list[ListItemEntity]:
        saved = super().save_list_items(list_ref, entities)
        self._maybe_lose("save_list_items")
        return saved


def test_a_create_whose_answer_is_lost_is_read_back_not_duplicated(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    """A lost create answer (a panel, an item of an existing list, the one request that
    saved a new list's items): read back, adopted, nothing made twice."""
    api = LosingApi(tenant, {"save_web_panel", "create_list_item", "save_list_items"})
    run = apply_now(api, store, app, manifest)
    assert run.outcome == "succeeded"
    outcomes = {step.key: step.outcome for step in run.steps}
    assert outcomes["acme.contact"] == "adopted"
    assert outcomes["Acme status/Synced"] == "adopted"
    assert outcomes["Acme status/Failed"] == "adopted"
    assert outcomes["Category/Acme customer"] == "adopted"
    assert tenant.panel_count("acme.contact") == 1
    assert tenant.item_names("Acme status") == ["Synced", "Failed"]
    assert tenant.item_names("Category") == ["VIP Customer", "Acme customer"]
    assert make_plan(api, store, app, CTX, manifest).is_empty


def test_a_new_lists_items_go_in_one_request_and_nothing_else_is_touched(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    """The items of a list the run created are saved by one ``PUT .../Items`` (each item
    step still recorded, done); an existing list's items are added one by one, so the "save
    all" never meets an item it was not sent."""
    api = FakeApi(tenant)
    run = apply_now(api, store, app, manifest)
    assert run.outcome == "succeeded"
    item_calls = [c for c in tenant.calls if c[0] in ("save_list_items", "create_list_item")]
    assert item_calls == [
        ("save_list_items", ["Synced", "Failed"]),
        ("create_list_item", "Acme customer"),
    ]
    details = {s.key: (s.outcome, s.detail) for s in run.steps if s.kind == "list_item"}
    assert details == {
        "Acme status/Synced": ("done", {"saved_with_list": 2}),
        "Acme status/Failed": ("done", {}),
        "Category/Acme customer": ("done", {}),
    }
    (status,) = [e for e in tenant.lists.values() if e.name == "Acme status"]
    assert [(i.name, i.rank, i.deleted) for i in tenant.items[status.id]] == [
        ("Synced", 1, False),
        ("Failed", 2, False),
    ]
    owned = {(o.name, o.state, o.remote_id) for o in store.list_provisioned_objects(app.id, CTX)}
    assert {("Synced", "owned", tenant.items[status.id][0].id)} <= owned
    assert make_plan(api, store, app, CTX, manifest).is_empty


def test_a_lost_create_that_never_arrived_is_created_once_more(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    class Dropping(FakeApi):
        dropped = False

        def save_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity:
            if not self.dropped:
                self.dropped = True
                raise RequestOutcomeUnknownError("dropped before the server saw it")
            return super().save_web_panel(entity)

    api = Dropping(tenant)
    assert apply_now(api, store, app, manifest).outcome == "succeeded"
    assert tenant.panel_count("acme.contact") == 1


@pytest.mark.parametrize(
    ("method", "dying_keys"),
    [
        ("save_list_items", ["Acme status/Failed", "Acme status/Synced"]),
        ("create_list_item", ["Category/Acme customer"]),
    ],
)
def test_a_crash_between_create_and_record_is_adopted_on_the_next_plan(  # noqa: PLR0917 - fixtures
    method: str,
    dying_keys: list[str],
    store: Repository,
    app: Application,
    tenant: FakeTenant,
    manifest: Manifest,
) -> None:
    """The process dies right after the server created items (one by one, or a new list's
    items in one request): their ownership was written ahead, so the next plan adopts them."""

    class Dying(FakeApi):
        def __getattribute__(self, name: str) -> Any:
            found = super().__getattribute__(name)
            if name != method:
                return found

            def die(*args: Any) -> Any:
                found(*args)
                raise SystemExit("the process died right after the server created it")

            return die

    with pytest.raises(SystemExit):
        apply_now(Dying(tenant), store, app, manifest)
    pending = [o for o in store.list_provisioned_objects(app.id, CTX) if o.state == "pending"]
    assert sorted(f"{o.list_name}/{o.name}" for o in pending) == dying_keys
    api = FakeApi(tenant)
    plan = make_plan(api, store, app, CTX, manifest)
    adopted = sorted(s.key for s in plan.pending if s.action is Action.ADOPT)
    assert adopted == dying_keys
    apply_plan(api, store, app, plan, actor="test")
    assert tenant.item_names("Acme status") == ["Synced", "Failed"]
    assert tenant.item_names("Category") == ["VIP Customer", "Acme customer"]
    assert all(o.state == "owned" for o in store.list_provisioned_objects(app.id, CTX))


def test_a_stale_plan_is_refused_before_anything_happens(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    plan = make_plan(api, store, app, CTX, manifest)
    tenant.items[1].append(ListItemEntity(id=5000, name="Added by an admin"))
    calls = len(tenant.calls)
    with pytest.raises(StalePlanError) as caught:
        apply_plan(api, store, app, plan, actor="test")
    assert caught.value.expected == plan.fingerprint != caught.value.actual
    assert [c for c in tenant.calls[calls:] if c[0] != "lists"] == []
    assert store.list_provisioning_runs(app.id) == []


def test_a_plan_with_conflicts_is_refused(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    tenant.add_panel("other", prog_id="acme.contact", name="Theirs")
    api = FakeApi(tenant)
    with pytest.raises(PlanConflictError, match=r"acme\.contact"):
        apply_now(api, store, app, manifest)
    assert tenant.panel_count("acme.main.panel") == 0


def test_two_applies_on_one_tenant_do_not_interleave(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    plan = make_plan(api, store, app, CTX, manifest)
    inside, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def slow(event: ProvisioningEvent) -> None:
        if event.kind == "step_started" and event.position == 2:
            inside.set()
            assert release.wait(10)

    def first() -> None:
        results["first"] = apply_plan(api, store, app, plan, actor="one", on_event=slow)

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    with pytest.raises(ProvisioningBusyError) as caught:
        apply_plan(api, store, app, plan, actor="two")
    assert caught.value.owner is not None
    with pytest.raises(ProvisioningBusyError):
        apply_plan(api, store, app, plan, actor="two", lock_wait=0.3)
    release.set()
    thread.join(10)
    assert results["first"].outcome == "succeeded"
    # The lock is free again; the old plan is stale now; a fresh one is empty.
    with pytest.raises(StalePlanError):
        apply_plan(api, store, app, plan, actor="two")
    assert make_plan(api, store, app, CTX, manifest).is_empty
    assert [r.actor for r in store.list_provisioning_runs(app.id)] == ["one"]


def test_a_waiting_apply_gets_the_lock_when_the_first_ends(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    owner = "someone-else"
    assert store.acquire_provisioning_lock(app.id, CTX, owner, ttl=timedelta(seconds=30))
    timer = threading.Timer(0.3, lambda: store.release_provisioning_lock(app.id, CTX, owner))
    timer.start()
    try:
        run = apply_now(api, store, app, manifest, lock_wait=5)
    finally:
        timer.cancel()
    assert run.outcome == "succeeded"


def test_uninstall_removes_the_apps_objects_and_nothing_else(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    api = FakeApi(tenant)
    apply_now(api, store, app, manifest)
    other = FakeApi(tenant, client="other")
    theirs = other.save_web_panel(WebPanelEntity(prog_id="other.panel", name="Theirs"))
    admin = tenant.add_panel(None, prog_id="admin.panel", name="Admin's")
    plan = make_plan(api, store, app, CTX, manifest, operation="uninstall")
    run = apply_plan(api, store, app, plan, actor="test")
    assert run.outcome == "succeeded"
    left = {entity.prog_id for entity, _ in tenant.panels.values()}
    assert left == {theirs.prog_id, admin.prog_id}
    assert tenant.item_names("Category") == ["VIP Customer"]
    assert not [e for e in tenant.lists.values() if e.name == "Acme status"]
    assert store.list_provisioned_objects(app.id, CTX) == []


def test_apply_creates_task_menus_and_everyone_visible_panels_and_uninstalls_them(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    manifest = load_manifest(TASKS)
    api = FakeApi(tenant)
    run = apply_now(api, store, app, manifest)
    assert run.outcome == "succeeded"
    assert tenant.task_menu_count("acme.task") == 1
    ((wire, owner),) = tenant.task_menus.values()
    assert owner == "acme"
    assert (wire["TaskType"], wire["TableName"], wire["Area"]) == ("Url", "contact", "Task")
    # Every panel created is visible for every user group; the step says so.
    panel_ids = [e.web_panel_id for e, _ in tenant.panels.values()]
    assert all(tenant.visible_for[i] == {1, 2, 3} for i in panel_ids)
    visible = [s for s in run.steps if s.detail.get("visible_for") == "everyone"]
    assert len(visible) == 2
    (portal,) = [e for e, _ in tenant.panels.values() if e.prog_id == "acme.portal.button"]
    assert (portal.window_name, portal.visible_in) == ("_blank", "NavigatorButton")
    assert make_plan(api, store, app, CTX, manifest).is_empty

    uninstall = make_plan(api, store, app, CTX, manifest, operation="uninstall")
    apply_plan(api, store, app, uninstall, actor="test")
    assert tenant.task_menus == {}
    assert tenant.panels == {}


def test_a_task_menu_create_whose_answer_is_lost_is_read_back_not_duplicated(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    class LosingTaskMenus(FakeApi):
        lost = False

        def call(self, method: str, path: str, **options: Any) -> Any:
            answer = super().call(method, path, **options)
            if path.endswith("SaveTaskMenu") and not self.lost:
                self.lost = True
                raise RequestOutcomeUnknownError("the answer never came")
            return answer

    api = LosingTaskMenus(tenant)
    run = apply_now(api, store, app, load_manifest(TASKS))
    assert run.outcome == "succeeded"
    assert tenant.task_menu_count("acme.task") == 1
    (step,) = [s for s in run.steps if s.kind == "task_menu"]
    assert step.outcome == "adopted"


def test_a_run_killed_between_a_panels_create_and_its_visibility_is_finished_next_time(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    class DiesBeforeVisibility(FakeApi):
        def call(self, method: str, path: str, **options: Any) -> Any:
            if method == "PUT" and path.endswith("/UserGroups"):
                raise Interrupted("killed before the panel's user groups were saved")
            return super().call(method, path, **options)

    manifest = load_manifest(TASKS)
    with pytest.raises(ProvisioningRunError):
        apply_now(DiesBeforeVisibility(tenant), store, app, manifest)
    (created,) = [e for e, _ in tenant.panels.values()]
    assert tenant.visible_for.get(created.web_panel_id, set()) == set()

    api = FakeApi(tenant)
    rest = make_plan(api, store, app, CTX, manifest)
    (fix,) = [s for s in rest.pending if s.key == created.prog_id]
    assert (fix.action, fix.everyone) == (Action.UPDATE, True)
    assert [c.field for c in fix.changes] == ["UserGroups"]
    assert apply_plan(api, store, app, rest, actor="test").outcome == "succeeded"
    assert all(tenant.visible_for[e.web_panel_id] == {1, 2, 3} for e, _ in tenant.panels.values())
    # A finished run: the next plan reads no user groups and is empty.
    calls = len(tenant.calls)
    assert make_plan(api, store, app, CTX, manifest).is_empty
    assert all(name != "set_user_groups" for name, _ in tenant.calls[calls:])


# -- one read per kind (issue 14) ---------------------------------------------------------------


class ReadCountingApi(FakeApi):
    """Counts the tenant reads by kind: lists, a list's items, the app's panels, all panels,
    the app's task menus, a panel's user groups."""

    def __init__(self, tenant: FakeTenant) -> None:
        super().__init__(tenant)
        self.reads: dict[str, int] = {}

    def _read(self, kind: str) -> None:
        self.reads[kind] = self.reads.get(kind, 0) + 1

    def lists(self) -> list[Any]:
        self._read("lists")
        return super().lists()

    def list_items(self, list_ref: int | str) -> list[ListItemEntity]:
        self._read("items")
        return super().list_items(list_ref)

    def app_web_panels(self) -> list[WebPanelEntity]:
        self._read("app_panels")
        return super().app_web_panels()

    def web_panels(self) -> list[WebPanelEntity]:
        self._read("all_panels")
        return super().web_panels()

    def call(self, method: str, path: str, **options: Any) -> Any:
        if method == "GET" and path.endswith("/UserGroups"):
            self._read("user_groups")
        if path.endswith("GetAppTaskMenus"):
            self._read("app_task_menus")
        return super().call(method, path, **options)


def test_an_apply_reads_each_kind_once_for_all_its_creates(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    """The plan reads lists, the app's panels, all panels and task menus once each; the apply
    re-reads them once for the staleness check, and that read serves every create's
    read-back: no read per create, none for the items of a list the run created, one read of
    user groups for all the panels it made visible."""
    api = ReadCountingApi(tenant)
    plan = make_plan(api, store, app, CTX, load_manifest(TASKS))
    assert sum(1 for s in plan.pending if s.action is Action.CREATE) == 5
    planned = dict(api.reads)
    assert planned == {"lists": 1, "app_panels": 1, "all_panels": 1, "app_task_menus": 1}
    api.reads.clear()
    run = apply_plan(api, store, app, plan, actor="test")
    assert run.outcome == "succeeded"
    assert {step.outcome for step in run.steps} == {"done"}
    assert api.reads == {**planned, "user_groups": 1}
    assert all(tenant.visible_for[e.web_panel_id] == {1, 2, 3} for e, _ in tenant.panels.values())
    assert tenant.item_names("Acme status") == ["Synced"]


def test_apply_manifest_reads_the_tenant_once_for_the_plan_and_the_run(
    store: Repository, app: Application, tenant: FakeTenant
) -> None:
    api = ReadCountingApi(tenant)
    manifest = load_manifest(TASKS)
    run = apply_manifest(api, store, app, CTX, manifest, actor="test")
    assert run.outcome == "succeeded"
    assert api.reads == {
        "lists": 1,
        "app_panels": 1,
        "all_panels": 1,
        "app_task_menus": 1,
        "user_groups": 1,
    }
    assert store.get_provisioning_lock(app.id, CTX) is None
    assert make_plan(api, store, app, CTX, manifest).is_empty


def test_apply_manifest_adopts_what_an_earlier_attempt_created(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    """A step that ran twice: the first attempt died after two steps (the list and its first
    item: the request that saved that item saved its sibling too, owned with the answer); the
    second reads the tenant under the lock, so those three are in the plan as unchanged, never
    created again."""

    def kill(event: ProvisioningEvent) -> None:
        if event.kind == "step_finished" and event.position == 1:
            raise Interrupted("killed after two steps")

    with pytest.raises(ProvisioningRunError):
        apply_manifest(FakeApi(tenant), store, app, CTX, manifest, actor="test", on_event=kill)
    run = apply_manifest(FakeApi(tenant), store, app, CTX, manifest, actor="test")
    assert run.outcome == "succeeded"
    assert run.steps_total == 7 - 3
    assert tenant.item_names("Acme status") == ["Synced", "Failed"]
    assert tenant.panel_count("acme.contact") == 1


def test_a_create_read_back_after_a_lost_answer_reads_the_kind_again(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    """The run's read of a kind predates the lost create: the read-back after it reads again."""

    class Losing(ReadCountingApi):
        lost = False

        def create_list_item(
            self, list_ref: int | str, entity: ListItemEntity | Mapping[str, Any]
        ) -> ListItemEntity:
            created = super().create_list_item(list_ref, entity)
            if not self.lost:
                self.lost = True
                raise RequestOutcomeUnknownError("the answer never came")
            return created

    api = Losing(tenant)
    run = apply_manifest(api, store, app, CTX, manifest, actor="test")
    assert run.outcome == "succeeded"
    # Category's items for the plan, then the lost create's list once more.
    assert api.reads["items"] == 2
    assert tenant.item_names("Category") == ["VIP Customer", "Acme customer"]
    outcomes = {step.key: step.outcome for step in run.steps}
    assert outcomes["Category/Acme customer"] == "adopted"


def test_apply_manifest_refuses_a_plan_with_conflicts_and_releases_the_lock(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    other = FakeApi(tenant, client="someone-else")
    other.save_web_panel(WebPanelEntity(prog_id="acme.contact", name="Theirs"))
    with pytest.raises(PlanConflictError):
        apply_manifest(FakeApi(tenant), store, app, CTX, manifest, actor="test")
    assert store.get_provisioning_lock(app.id, CTX) is None
    assert store.list_provisioning_runs(app.name, CTX) == []


def test_a_run_renews_its_lock_only_once_a_tenth_of_its_ttl_has_passed(
    store: Repository,
    app: Application,
    tenant: FakeTenant,
    manifest: Manifest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lock renewed less than its TTL ago cannot have been taken over: a run of 7 quick steps
    under a 2-minute lock takes it once and writes no renewal per step."""
    taken: list[str] = []
    acquire = store.acquire_provisioning_lock

    def counting(*args: Any, **kwargs: Any) -> Any:
        taken.append(args[2])
        return acquire(*args, **kwargs)

    monkeypatch.setattr(store, "acquire_provisioning_lock", counting)
    run = apply_manifest(
        FakeApi(tenant), store, app, CTX, manifest, actor="test", lock_ttl=timedelta(minutes=2)
    )
    assert run.outcome == "succeeded"
    assert run.steps_total == 7
    assert len(taken) == 1


def test_a_run_whose_lock_was_taken_over_stops_before_its_next_step(
    store: Repository, app: Application, tenant: FakeTenant, manifest: Manifest
) -> None:
    """With a TTL this short every step renews, and finds the lock taken over."""

    def take_over(event: ProvisioningEvent) -> None:
        if event.kind == "step_finished" and event.position == 1:
            assert store.acquire_provisioning_lock(
                app.id, CTX, "someone else", ttl=timedelta(minutes=2)
            )

    with pytest.raises(ProvisioningRunError) as caught:
        apply_manifest(
            FakeApi(tenant),
            store,
            app,
            CTX,
            manifest,
            actor="test",
            on_event=take_over,
            lock_ttl=timedelta(microseconds=1),
        )
    assert isinstance(caught.value.__cause__, ProvisioningBusyError)
    assert store.get_provisioning_run(caught.value.run_id).outcome == "partial"
    assert len(store.get_provisioning_run(caught.value.run_id).steps) == 2
