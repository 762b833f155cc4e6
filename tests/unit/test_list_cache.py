"""The store's copy of a tenant's list definitions (SOTK_PROVISIONING_LIST_CACHE_SECONDS).

A plan within the configured age of the last ``GET v1/List`` reads each list's items by the id
the store kept instead (issue 14: an unchanged tenant's re-plan in 3 reads, not 4). Against the
fake tenant of ``test_plan``, with the store's clock in the test's hand.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.stores import migrated_home
from test_plan import CTX, MANIFEST, FakeApi, FakeTenant

from toolkit.errors import StalePlanError
from toolkit.provisioning import Manifest, Plan, apply_plan, load_manifest, make_plan
from toolkit.provisioning.apply import apply_manifest
from toolkit.store import Application, Repository, generate_key_text, open_store
from toolkit.tenant import ListItemEntity

CACHE = timedelta(minutes=10)
START = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class CountingApi(FakeApi):
    """Records every read a plan makes, by kind."""

    def __init__(self, tenant: FakeTenant) -> None:
        super().__init__(tenant)
        self.reads: list[str] = []

    def lists(self) -> builtins.list[Any]:
        self.reads.append("lists")
        return super().lists()

    def list_items(self, list_ref: int | str) -> builtins.list[ListItemEntity]:
        self.reads.append(f"items {list_ref}")
        return super().list_items(list_ref)

    def app_web_panels(self) -> builtins.list[Any]:
        self.reads.append("app panels")
        return super().app_web_panels()

    def web_panels(self) -> builtins.list[Any]:
        self.reads.append("panels")
        return super().web_panels()

    def take(self) -> list[str]:
        reads, self.reads = self.reads, []
        return reads


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Repository]:
    home = migrated_home(tmp_path / "home")
    repository = open_store(None, home, generate_key_text("lists"), now=clock)
    yield repository
    repository.close()


@pytest.fixture
def app(store: Repository) -> Application:
    return store.add_application(
        "Acme Sync", environment="sod", client_id="acme", client_secret="s", model="hybrid"
    )


@pytest.fixture
def manifest() -> Manifest:
    return load_manifest(MANIFEST)


@pytest.fixture
def api() -> CountingApi:
    return CountingApi(FakeTenant())


def plan_at(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, now: datetime
) -> Plan:
    return make_plan(api, store, app, CTX, manifest, now=now, list_cache=CACHE)


def applied(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    """Apply the manifest (cache on) and forget the reads it made."""
    run = apply_manifest(
        api, store, app, CTX, manifest, actor="test", now=clock.now, list_cache=CACHE
    )
    assert run.outcome == "succeeded"
    api.take()


def item_reads(reads: list[str]) -> int:
    return sum(read.startswith("items ") for read in reads)


def test_after_an_apply_a_re_plan_reads_items_by_the_kept_ids_and_the_apps_panels_only(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)
    status = next(e for e in api.tenant.lists.values() if e.name == "Acme status")
    clock.now += CACHE - timedelta(seconds=1)
    plan = plan_at(api, store, app, manifest, clock.now)
    assert plan.is_empty
    # Category (id 1) and the list the apply created: by the ids the store kept.
    assert sorted(api.take()) == sorted(["items 1", f"items {status.id}", "app panels"])
    # The same plan as one that reads every definition.
    fresh = make_plan(api, store, app, CTX, manifest, now=clock.now)
    assert "lists" in api.take()
    assert (fresh.fingerprint, fresh.is_empty) == (plan.fingerprint, True)


def test_once_the_copy_is_older_than_the_cache_a_plan_reads_every_definition_again(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)
    status = next(e for e in api.tenant.lists.values() if e.name == "Acme status")
    api.tenant.lists[status.id] = replace(status, tooltip="Changed by an administrator")
    assert plan_at(api, store, app, manifest, clock.now).is_empty  # the copy: blind to it
    assert "lists" not in api.take()
    clock.now += CACHE + timedelta(seconds=1)
    plan = plan_at(api, store, app, manifest, clock.now)
    assert "lists" in api.take()
    ((key, fields),) = [(s.key, [c.field for c in s.changes]) for s in plan.pending]
    assert (key, fields) == ("Acme status", ["Tooltip"])
    # That read is the new copy: the next plan uses it, and sees the edit too.
    assert plan_at(api, store, app, manifest, clock.now).fingerprint == plan.fingerprint
    assert "lists" not in api.take()


def test_a_fresh_plan_reads_every_definition_and_keeps_them(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)
    status = next(e for e in api.tenant.lists.values() if e.name == "Acme status")
    api.tenant.lists[status.id] = replace(status, rank=9)
    plan = make_plan(api, store, app, CTX, manifest, list_cache=CACHE, fresh=True)
    assert "lists" in api.take()
    assert [(s.key, str(s.action)) for s in plan.pending] == [("Acme status", "update")]
    kept = store.remembered_lists(app, CTX)
    assert kept is not None
    assert {(w["Name"], w["Rank"]) for w in kept.lists} == {("Acme status", 9), ("Category", 1)}


def test_a_list_the_copy_does_not_hold_or_one_deleted_since_means_a_full_read(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)
    # A manifest with one more list: not in the copy, so every definition is read.
    bigger = load_manifest(MANIFEST + '\n[[lists]]\nname = "Acme region"\n')
    plan = plan_at(api, store, app, bigger, clock.now)
    assert api.take()[0] == "lists"
    assert [(s.key, str(s.action)) for s in plan.pending] == [("Acme region", "create")]
    # An administrator deletes the app's list: its items answer 404, and the plan reads every
    # definition and creates it again.
    status = next(e for e in api.tenant.lists.values() if e.name == "Acme status")
    api.delete_list(status.id)
    plan = plan_at(api, store, app, manifest, clock.now)
    assert api.take() == [f"items {status.id}", "lists", "items 1", "app panels"]
    assert ("Acme status", "create") in [(s.key, str(s.action)) for s in plan.pending]


def test_an_apply_keeps_the_copy_true_to_the_lists_it_created_updated_and_deleted(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)  # created "Acme status" (a full read)
    kept = store.remembered_lists(app, CTX)
    assert kept is not None
    assert kept.read_at == START
    assert {w["Name"] for w in kept.lists} == {"Acme status", "Category"}
    # The manifest changes the list's tooltip: the apply (from the copy) writes it, and the
    # copy follows without a read of every definition.
    clock.now += timedelta(minutes=1)
    retitled = load_manifest(MANIFEST.replace('tooltip = "Sync states"', 'tooltip = "States"'))
    applied(api, store, app, retitled, clock)
    kept = store.remembered_lists(app, CTX)
    assert kept is not None
    assert {w["Name"]: w["Tooltip"] for w in kept.lists}["Acme status"] == "States"
    assert kept.read_at == START  # as old as the read it came from
    assert plan_at(api, store, app, retitled, clock.now).is_empty
    assert "lists" not in api.take()
    # A manifest without the list: the apply deletes it, and the copy drops it.
    dropped = load_manifest(MANIFEST[MANIFEST.index('[[lists]]\nname = "Category"') :])
    applied(api, store, app, dropped, clock)
    kept = store.remembered_lists(app, CTX)
    assert kept is not None
    assert {w["Name"] for w in kept.lists} == {"Category"}


def test_a_stale_plan_from_the_copy_makes_the_next_plan_read_every_definition(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)
    plan = plan_at(api, store, app, manifest, clock.now)
    status = next(e for e in api.tenant.lists.values() if e.name == "Acme status")
    api.tenant.items[status.id].append(ListItemEntity(id=7000, name="Added by an admin"))
    with pytest.raises(StalePlanError):
        apply_plan(api, store, app, plan, actor="test", list_cache=CACHE)
    assert store.remembered_lists(app, CTX) is None
    api.take()
    plan_at(api, store, app, manifest, clock.now)
    assert "lists" in api.take()


def test_without_a_cache_nothing_is_kept_and_every_plan_reads_every_definition(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    run = apply_manifest(api, store, app, CTX, manifest, actor="test", now=clock.now)
    assert run.outcome == "succeeded"
    assert store.remembered_lists(app, CTX) is None
    api.take()
    assert make_plan(api, store, app, CTX, manifest, now=clock.now).is_empty
    assert "lists" in api.take()


def test_an_uninstall_reads_every_definition_whatever_is_kept(
    api: CountingApi, store: Repository, app: Application, manifest: Manifest, clock: Clock
) -> None:
    applied(api, store, app, manifest, clock)
    plan = make_plan(
        api, store, app, CTX, manifest, operation="uninstall", now=clock.now, list_cache=CACHE
    )
    assert "lists" in api.take()
    assert ("Acme status", "delete") in [(s.key, str(s.action)) for s in plan.pending]


def test_the_setting_defaults_to_the_plans_list_cache() -> None:
    from toolkit.config import DEFAULT_LIST_CACHE_SECONDS, Settings
    from toolkit.provisioning.plan import LIST_CACHE

    assert LIST_CACHE.total_seconds() == DEFAULT_LIST_CACHE_SECONDS
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.provisioning_list_cache_seconds == DEFAULT_LIST_CACHE_SECONDS
    with pytest.raises(ValueError, match="provisioning_list_cache_seconds"):
        Settings(_env_file=None, provisioning_list_cache_seconds=-1)  # type: ignore[call-arg]
