"""Plans: what it takes to bring one tenant to an application's manifest (protocol §7).

:func:`read_snapshot` reads the tenant's actual objects that matter to the manifest: every list
definition, the items of the manifest's lists (and of lists the application owns items in), the
application's own web panels (``GetAppWebPanels``) and all web panels (to find a ``ProgId``
taken by someone else), and the application's own task menus (``GetAppTaskMenus``).

The list definitions are the one read a plan may take from the store instead: SuperOffice
advises caching lists (protocol §5), and a plan within ``list_cache`` of the last read
(``SOTK_PROVISIONING_LIST_CACHE_SECONDS``) reads each list's items by the id the store kept
(:meth:`~toolkit.store.Repository.remembered_lists`), not ``GET v1/List``. It falls back to the
full read when a list it needs is not kept (a new manifest list) or its items are gone (404).
The price: an administrator's edit of a list's *definition* (name, tooltip, rank, a soft delete)
shows in plans only once the copy is older than that; items and panels are always read. An
apply that changes a list keeps the copy true (:func:`lists_to_keep`).
:func:`diff` compares them with the manifest by natural key and gives
one :class:`Step` per object: ``create``, ``update`` (with the fields that differ), ``delete``,
``adopt`` or ``unchanged``. A :class:`Plan` carries the :attr:`~Plan.fingerprint` of the state
it was computed from, so that an apply can refuse it once the tenant changed.

Ownership (what a plan may update and delete):

* **web panels**: owned through SuperOffice itself. ``GetAppWebPanels`` lists the panels the
  application created (open question 13: how NetServer records it is [I]); a panel is matched
  by ``ProgId``. Owned panels with a ProgId the manifest no longer has are deleted (hard delete,
  ``DeleteWebPanel``); owned duplicates of one ProgId are reduced to one; an owned, soft-deleted
  panel is revived (``Deleted=false``) rather than duplicated (DNO does the same, §7.2). Owned
  panels *without* a ProgId were not made from a manifest and are left alone. A manifest ProgId
  on a live panel the application does not own is a **conflict**: the plan cannot be applied.
* **task menus**: owned through SuperOffice like web panels (``GetAppTaskMenus``, read when the
  manifest has task menus and for an uninstall, so an application without any pays no extra
  request), matched by ``ProgId``; owned ones the manifest no longer has are deleted
  (``DeleteTaskMenu``). A manifest that drops *every* task menu leaves them until the next
  uninstall (nothing asks for them then). Other
  applications' task menus cannot be listed, so a name taken by one (``TaskMenu.name`` is
  unique) shows only when the create is refused [I].
* **visibility**: a web panel the plan creates is made visible for every user group (the
  list item's ``UserGroups``) unless its manifest entry says ``visible_to_everyone = false``;
  what an administrator later changes is left alone. After a run that did not finish (a crash
  between a panel's create and its visibility), the next plan reads the ``UserGroups`` of the
  application's panels and updates those not visible for everyone.
* **lists and list items**: REST has no owner field, so the store records what the application
  created (``provisioned_objects``), *before* the create is sent (``pending``) and after
  (``owned``). A pending record whose object exists is **adopted** (the answer was lost or the
  process died). Objects of the manifest's names that exist but were not created by the
  application (``Category``, an administrator's item) are used as they are and never updated or
  deleted. Owned lists and items the manifest no longer has are deleted.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

from toolkit.errors import ApiNotFoundError
from toolkit.provisioning.manifest import Manifest, TaskMenuSpec, WebPanelSpec
from toolkit.store import Application, ListDefinitionsWrite, ProvisionedObject, Repository
from toolkit.tenant.task_menus import Caller, TaskMenuEntity, app_task_menus, item_user_groups
from toolkit.tenant.webapi import (
    WEB_PANEL_LIST,
    ListEntity,
    ListItemEntity,
    ListRef,
    WebPanelEntity,
)

__all__ = [
    "LIST_CACHE",
    "Action",
    "Change",
    "Group",
    "Kind",
    "Plan",
    "ProvisioningApi",
    "Step",
    "TenantSnapshot",
    "diff",
    "fingerprint_of",
    "lists_to_keep",
    "make_plan",
    "plan_from_snapshot",
    "read_snapshot",
]

# How old the store's copy of a tenant's list definitions a plan may use instead of
# ``GET v1/List`` is, by default (SOTK_PROVISIONING_LIST_CACHE_SECONDS): long enough for a plan
# and its apply, or a fleet's apply and the re-plan after it, to read them once; short enough
# that the nightly drift check reads them again, so it sees an administrator's edit of a list
# definition within the day (see the module doc).
LIST_CACHE: Final = timedelta(minutes=10)

# Response-only fields that say nothing about the object (never compared or fingerprinted).
VOLATILE_FIELDS: Final = ("TableRight", "FieldProperties")
LIST_COMPARED: Final = ("Name", "Tooltip", "Rank")
ITEM_COMPARED: Final = ("Name", "Tooltip", "Rank")


class ProvisioningApi(Caller, Protocol):
    """The tenant REST methods provisioning uses (:class:`~toolkit.tenant.WebApiClient` has
    them); tests pass a fake."""

    def lists(self) -> builtins.list[ListEntity]: ...

    def list(self, list_ref: ListRef) -> ListEntity: ...

    def create_list(self, entity: ListEntity | Mapping[str, Any]) -> ListEntity: ...

    def delete_list(self, list_ref: ListRef) -> None: ...

    def list_items(self, list_ref: ListRef) -> builtins.list[ListItemEntity]: ...

    def create_list_item(
        self, list_ref: ListRef, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity: ...

    def save_list_items(
        self, list_ref: ListRef, entities: Sequence[ListItemEntity | Mapping[str, Any]]
    ) -> builtins.list[ListItemEntity]: ...

    def update_list_item(
        self, list_ref: ListRef, item_id: int, entity: ListItemEntity | Mapping[str, Any]
    ) -> ListItemEntity: ...

    def delete_list_item(self, list_ref: ListRef, item_id: int) -> None: ...

    def web_panels(self) -> builtins.list[WebPanelEntity]: ...

    def web_panel(self, web_panel_id: int) -> WebPanelEntity: ...

    def save_web_panel(self, entity: WebPanelEntity | Mapping[str, Any]) -> WebPanelEntity: ...

    def update_web_panel(
        self, web_panel_id: int, entity: WebPanelEntity | Mapping[str, Any]
    ) -> WebPanelEntity: ...

    def app_web_panels(self) -> builtins.list[WebPanelEntity]: ...

    def delete_app_web_panels(self) -> None: ...

    def delete_web_panel_permanently(self, web_panel_id: int) -> None: ...

    # call(method, path, body=, params=): any endpoint (task menus, user groups), from Caller.


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"  # it exists from an interrupted create of ours: record it as ours
    UNCHANGED = "unchanged"


class Kind(StrEnum):
    LIST = "list"
    LIST_ITEM = "list_item"
    WEB_PANEL = "web_panel"
    APP_WEB_PANELS = "app_web_panels"  # uninstall: every panel the app owns, in one call
    TASK_MENU = "task_menu"
    APP_TASK_MENUS = "app_task_menus"  # uninstall: every task menu the app owns, in one call


class Group(StrEnum):
    """How an installation page groups a plan's steps for the administrator."""

    LISTS = "lists"  # lists and their items
    WEB_PANELS = "web_panels"
    BUTTONS = "buttons"  # a [[buttons]] entry's panels (navigator button, new-window button)
    TASK_MENUS = "task_menus"


_KIND_GROUPS: Final = {
    Kind.LIST: Group.LISTS,
    Kind.LIST_ITEM: Group.LISTS,
    Kind.WEB_PANEL: Group.WEB_PANELS,
    Kind.APP_WEB_PANELS: Group.WEB_PANELS,
    Kind.TASK_MENU: Group.TASK_MENUS,
    Kind.APP_TASK_MENUS: Group.TASK_MENUS,
}
# ProgId endings of the panels a button expands to (manifest.BUTTON_PANEL_SUFFIX / _SUFFIX).
_BUTTON_PROG_ID_ENDINGS: Final = (".button", ".panel")
# The application-owned entities the planner matches by ProgId.
_Owned = TypeVar("_Owned", WebPanelEntity, TaskMenuEntity)


@dataclass(frozen=True)
class Change:
    """One field that differs: what the tenant has, what the manifest wants."""

    field: str
    actual: Any
    desired: Any


@dataclass(frozen=True)
class Step:
    """One object's step. ``key`` is its natural key (list name, ``list/item`` name, ProgId);
    ``remote_id`` its id when it exists; ``desired`` the wire fields to set (create, update);
    ``owned`` whether the application owns it; ``note`` says why in plain words.
    ``group`` is what an installation page groups by (:class:`Group`, derived from ``kind``
    when not given); ``everyone``: a created web panel is made visible for every user group."""

    action: Action
    kind: Kind
    key: str
    name: str
    list_name: str | None = None
    remote_id: int | None = None
    desired: Mapping[str, Any] = field(default_factory=dict, hash=False)
    changes: tuple[Change, ...] = ()
    owned: bool = True
    note: str = ""
    group: Group | None = None
    everyone: bool = False

    def __post_init__(self) -> None:
        if self.group is None:
            group = _KIND_GROUPS[self.kind]
            if self.kind is Kind.WEB_PANEL and self.key.endswith(_BUTTON_PROG_ID_ENDINGS):
                group = Group.BUTTONS
            object.__setattr__(self, "group", group)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "kind": str(self.kind),
            "group": str(self.group),
            "everyone": self.everyone,
            "key": self.key,
            "name": self.name,
            "list_name": self.list_name,
            "remote_id": self.remote_id,
            "desired": dict(self.desired),
            "changes": [
                {"field": c.field, "actual": c.actual, "desired": c.desired} for c in self.changes
            ],
            "owned": self.owned,
            "note": self.note,
        }


@dataclass(frozen=True)
class Plan:
    """The steps that bring one tenant to the manifest, and the state they were computed from.

    ``steps`` include the ``unchanged`` ones; :attr:`pending` are those an apply performs.
    ``conflicts`` (ProgIds taken by panels the application does not own) make it unappliable.
    """

    application: str
    application_id: str
    context_identifier: str
    operation: str
    steps: tuple[Step, ...]
    fingerprint: str
    manifest_digest: str
    created_at: datetime
    conflicts: tuple[str, ...] = ()
    manifest: Manifest | None = field(default=None, compare=False, repr=False)

    @property
    def pending(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.action is not Action.UNCHANGED)

    @property
    def is_empty(self) -> bool:
        """Nothing to do: the tenant already matches the manifest."""
        return not self.pending and not self.conflicts

    def grouped(self) -> dict[Group, tuple[Step, ...]]:
        """The steps by :class:`Group`, in plan order (every group present): what an
        installation page shows under "lists and items", "web panels", "buttons", "task
        menus"."""
        groups: dict[Group, list[Step]] = {group: [] for group in Group}
        for step in self.steps:
            groups[step.group or _KIND_GROUPS[step.kind]].append(step)
        return {group: tuple(steps) for group, steps in groups.items()}

    def counts(self) -> dict[str, int]:
        """Steps per action (``{"create": 2, "unchanged": 5, ...}``), every action present."""
        counts = {str(action): 0 for action in Action}
        for step in self.steps:
            counts[str(step.action)] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "application": self.application,
            "context_identifier": self.context_identifier,
            "operation": self.operation,
            "fingerprint": self.fingerprint,
            "manifest_digest": self.manifest_digest,
            "created_at": self.created_at.isoformat(),
            "conflicts": list(self.conflicts),
            "counts": self.counts(),
            "steps": [step.to_json() for step in self.steps],
        }


# ============================================================================================
# Reading the tenant
# ============================================================================================


def _fold(text: str) -> str:
    return text.strip().casefold()


def _wire(entity: ListEntity | ListItemEntity | WebPanelEntity) -> dict[str, Any]:
    wire = entity.to_wire()
    for name in VOLATILE_FIELDS:
        wire.pop(name, None)
    return wire


@dataclass(frozen=True)
class TenantSnapshot:
    """The tenant objects a plan is computed from (plus the store's ownership records)."""

    lists: tuple[ListEntity, ...]
    items: Mapping[str, tuple[ListItemEntity, ...]]  # casefolded list name -> its items
    app_panels: tuple[WebPanelEntity, ...]
    all_panels: tuple[WebPanelEntity, ...]
    owned: tuple[ProvisionedObject, ...]
    app_task_menus: tuple[TaskMenuEntity, ...] | None = None  # None: not read (see reads_...)
    # The app's panels (ids) meant for everyone but not visible for every user group; read
    # only after a run that did not finish (see the module doc).
    not_everyone: frozenset[int] = frozenset()
    # When ``lists`` was read from the tenant, and whether it came from the store's copy (then
    # it holds only the lists the plan needs) rather than from ``GET v1/List`` just now.
    lists_read_at: datetime | None = None
    lists_remembered: bool = False

    def find_list(self, name: str) -> ListEntity | None:
        folded = _fold(name)
        return next((entity for entity in self.lists if _fold(entity.name) == folded), None)

    def items_of(self, name: str) -> tuple[ListItemEntity, ...]:
        return self.items.get(_fold(name), ())

    def ownership(
        self, kind: str, name: str, list_name: str | None = None
    ) -> ProvisionedObject | None:
        list_key = _fold(list_name or "") if kind == "list_item" else ""
        for record in self.owned:
            if (
                record.kind == kind
                and _fold(record.name) == _fold(name)
                and _fold(record.list_name or "") == list_key
            ):
                return record
        return None


def relevant_lists(manifest: Manifest | None, owned: Sequence[ProvisionedObject]) -> list[str]:
    """The list names whose items matter: the manifest's and those the app owns things in."""
    names: dict[str, str] = {}
    for spec in manifest.lists if manifest is not None else ():
        names.setdefault(_fold(spec.name), spec.name)
    for record in owned:
        name = record.name if record.kind == "list" else record.list_name or ""
        if name:
            names.setdefault(_fold(name), name)
    return list(names.values())


def reads_task_menus(manifest: Manifest | None, operation: str) -> bool:
    """Whether a plan reads the application's task menus (``GetAppTaskMenus``)."""
    return operation == "uninstall" or (manifest is not None and bool(manifest.task_menus))


def _last_run_unfinished(
    repository: Repository, application: Application, context_identifier: str
) -> bool:
    runs = repository.list_provisioning_runs(application.id, context_identifier, limit=1)
    return bool(runs) and runs[0].outcome != "succeeded"


def _hidden_panels(
    api: ProvisioningApi, manifest: Manifest, app_panels: Sequence[WebPanelEntity]
) -> frozenset[int]:
    everyone = {_fold(p.prog_id) for p in manifest.all_web_panels() if p.visible_to_everyone}
    hidden = set()
    for panel in app_panels:
        if _fold(panel.prog_id) not in everyone or panel.deleted:
            continue
        groups = item_user_groups(api, WEB_PANEL_LIST, panel.web_panel_id)
        if not all(group.get("Selected") is True for group in groups):
            hidden.add(panel.web_panel_id)
    return frozenset(hidden)


def read_snapshot(
    api: ProvisioningApi,
    repository: Repository,
    application: Application,
    context_identifier: str,
    manifest: Manifest | None,
    *,
    operation: str = "apply",
    list_cache: timedelta = timedelta(0),
    now: datetime | None = None,
) -> TenantSnapshot:
    """Read what a plan needs from the tenant (and the store's ownership records).

    ``list_cache``: how old the store's copy of the list definitions may be to be used instead
    of ``GET v1/List`` (see the module doc; zero: always read; an uninstall always reads)."""
    now = now or _utc_now()
    owned = tuple(repository.list_provisioned_objects(application, context_identifier))
    names = relevant_lists(manifest, owned)
    remembered = None
    if list_cache > timedelta(0) and operation == "apply":
        remembered = _remembered_lists(
            api, repository, application, context_identifier, names, read_since=now - list_cache
        )
    if remembered is not None:
        lists, items, lists_read_at = remembered
    else:
        lists, items = _read_lists(api, names)
        lists_read_at = now
    app_panels = tuple(api.app_web_panels())
    # Other applications' panels matter only for a ProgId the application holds no panel for
    # (a possible conflict); when it holds them all, the tenant-wide read adds nothing, and an
    # unchanged fleet's re-plan saves one request per tenant.
    held = {_fold(panel.prog_id) for panel in app_panels}
    wanted = {_fold(p) for p in (manifest.prog_ids if manifest is not None else ())}
    all_panels = app_panels if wanted <= held else tuple(api.web_panels())
    not_everyone: frozenset[int] = frozenset()
    if (
        manifest is not None
        and operation == "apply"
        and app_panels
        and _last_run_unfinished(repository, application, context_identifier)
    ):
        not_everyone = _hidden_panels(api, manifest, app_panels)
    return TenantSnapshot(
        lists=lists,
        items=items,
        app_panels=app_panels,
        all_panels=all_panels,
        owned=owned,
        app_task_menus=(
            tuple(app_task_menus(api)) if reads_task_menus(manifest, operation) else None
        ),
        not_everyone=not_everyone,
        lists_read_at=lists_read_at,
        lists_remembered=remembered is not None,
    )


_Lists = tuple[tuple[ListEntity, ...], dict[str, tuple[ListItemEntity, ...]]]


def _read_lists(api: ProvisioningApi, names: Sequence[str]) -> _Lists:
    """Every list definition, and the items of the lists ``names``."""
    lists = tuple(api.lists())
    by_name = {_fold(entity.name): entity for entity in lists}
    items: dict[str, tuple[ListItemEntity, ...]] = {}
    gone: set[int] = set()
    for name in names:
        entity = by_name.get(_fold(name))
        if entity is not None:
            try:
                items[_fold(name)] = tuple(api.list_items(entity.id))
            except ApiNotFoundError:
                # Deleted between the two reads (an uninstall running beside an installation
                # page's read, an administrator): the tenant no longer has it.
                gone.add(entity.id)
    if gone:
        lists = tuple(entity for entity in lists if entity.id not in gone)
    return lists, items


def _remembered_lists(
    api: ProvisioningApi,
    repository: Repository,
    application: Application,
    context_identifier: str,
    names: Sequence[str],
    *,
    read_since: datetime,
) -> tuple[tuple[ListEntity, ...], dict[str, tuple[ListItemEntity, ...]], datetime] | None:
    """The lists ``names`` from the store's copy read since ``read_since``, with their items
    read by the kept ids; None when the copy is older, lacks one of them, or one is gone."""
    kept = repository.remembered_lists(application, context_identifier)
    if kept is None or kept.read_at < read_since:
        return None
    wanted = dict.fromkeys(_fold(name) for name in names)  # in the order of names
    lists = tuple(e for e in map(ListEntity.from_wire, kept.lists) if _fold(e.name) in wanted)
    by_name: dict[str, ListEntity] = {}
    for entity in lists:  # the first of a name, as TenantSnapshot.find_list takes it
        by_name.setdefault(_fold(entity.name), entity)
    if wanted - by_name.keys():
        return None  # a list the copy never held (new in the manifest, or not in the tenant)
    items: dict[str, tuple[ListItemEntity, ...]] = {}
    for name in wanted:
        try:
            items[name] = tuple(api.list_items(by_name[name].id))
        except ApiNotFoundError:
            return None  # deleted since the copy was read: read every definition again
    return lists, items, kept.read_at


def lists_to_keep(
    snapshot: TenantSnapshot,
    manifest: Manifest | None,
    lists: Iterable[ListEntity] | None = None,
) -> ListDefinitionsWrite:
    """What the store keeps of the tenant's list definitions after ``snapshot``: those of
    ``lists`` (default: the snapshot's; an apply passes them as its own writes left them) that
    a plan of ``manifest`` needs, as of when the snapshot's lists were read."""
    names = {_fold(name) for name in relevant_lists(manifest, snapshot.owned)}
    return ListDefinitionsWrite(
        lists=tuple(
            e.to_wire()
            for e in (snapshot.lists if lists is None else lists)
            if _fold(e.name) in names
        ),
        read_at=snapshot.lists_read_at or _utc_now(),
    )


def fingerprint_of(snapshot: TenantSnapshot, manifest: Manifest | None) -> str:
    """SHA-256 over the objects the plan depends on (canonical JSON), nothing else: unrelated
    lists and other applications' panels may change without making a plan stale."""
    names = {_fold(name) for name in relevant_lists(manifest, snapshot.owned)}
    prog_ids = {_fold(p) for p in (manifest.prog_ids if manifest is not None else ())}
    document: dict[str, Any] = {
        "lists": sorted(
            (_wire(e) for e in snapshot.lists if _fold(e.name) in names),
            key=lambda w: (w["Id"], w["Name"]),
        ),
        "items": {
            name: sorted((_wire(i) for i in items), key=lambda w: w["Id"])
            for name, items in sorted(snapshot.items.items())
        },
        "app_panels": sorted(
            (_wire(p) for p in snapshot.app_panels), key=lambda w: w["WebPanelId"]
        ),
        "panels": sorted(
            (_wire(p) for p in snapshot.all_panels if _fold(p.prog_id) in prog_ids),
            key=lambda w: w["WebPanelId"],
        ),
        "owned": sorted(
            [r.kind, _fold(r.list_name or ""), _fold(r.name), r.state] for r in snapshot.owned
        ),
    }
    if snapshot.app_task_menus is not None:
        document["app_task_menus"] = sorted(
            (m.to_wire() for m in snapshot.app_task_menus), key=lambda w: w["TaskMenuId"]
        )
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ============================================================================================
# Diffing (pure)
# ============================================================================================


def _changes(actual: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(
        Change(name, actual.get(name), value)
        for name, value in desired.items()
        if actual.get(name) != value
    )


def _item_key(list_name: str, name: str) -> str:
    return f"{list_name}/{name}"


def _list_steps(manifest: Manifest, snapshot: TenantSnapshot) -> tuple[list[Step], list[Step]]:
    """(steps for lists and items, list deletions that must come last)."""
    steps: list[Step] = []
    late: list[Step] = []
    wanted = {_fold(spec.name) for spec in manifest.lists}
    for spec in manifest.lists:
        actual = snapshot.find_list(spec.name)
        record = snapshot.ownership("list", spec.name)
        desired = spec.fields()
        if actual is None:
            steps.append(Step(Action.CREATE, Kind.LIST, spec.name, spec.name, desired=desired))
        elif record is None:
            steps.append(
                Step(
                    Action.UNCHANGED,
                    Kind.LIST,
                    spec.name,
                    actual.name,
                    remote_id=actual.id,
                    owned=False,
                    note="exists and was not created by the application: only its items "
                    "from the manifest are managed",
                )
            )
        else:
            wire = _wire(actual)
            changes = _changes(wire, {**desired, **({"Deleted": False} if actual.deleted else {})})
            action = Action.UPDATE if changes else Action.UNCHANGED
            if record.state == "pending" and not changes:
                action = Action.ADOPT
            steps.append(
                Step(
                    action,
                    Kind.LIST,
                    spec.name,
                    actual.name,
                    remote_id=actual.id,
                    desired={**desired, "Deleted": False},
                    changes=changes,
                    note="created earlier; its answer was lost" if action is Action.ADOPT else "",
                )
            )
        steps.extend(_item_steps(spec.name, spec.items, snapshot, actual is not None))
    # Lists the app owns (or owns items in) that the manifest no longer has.
    for name in relevant_lists(None, snapshot.owned):
        if _fold(name) in wanted:
            continue
        actual = snapshot.find_list(name)
        record = snapshot.ownership("list", name)
        if record is not None:
            late.append(
                Step(
                    Action.DELETE,
                    Kind.LIST,
                    name,
                    name,
                    remote_id=actual.id if actual is not None else None,
                    note="no longer in the manifest"
                    if actual is not None
                    else "already gone: only the record is removed",
                )
            )
        else:
            steps.extend(_item_steps(name, (), snapshot, actual is not None))
    return steps, late


def _item_steps(
    list_name: str, specs: Sequence[Any], snapshot: TenantSnapshot, list_exists: bool
) -> list[Step]:
    steps: list[Step] = []
    actual_items = {_fold(item.name): item for item in snapshot.items_of(list_name)}
    wanted = set()
    for spec in specs:
        wanted.add(_fold(spec.name))
        key = _item_key(list_name, spec.name)
        desired = spec.fields()
        actual = actual_items.get(_fold(spec.name)) if list_exists else None
        record = snapshot.ownership("list_item", spec.name, list_name)
        if actual is None:
            steps.append(
                Step(Action.CREATE, Kind.LIST_ITEM, key, spec.name, list_name, desired=desired)
            )
        elif record is None:
            steps.append(
                Step(
                    Action.UNCHANGED,
                    Kind.LIST_ITEM,
                    key,
                    actual.name,
                    list_name,
                    remote_id=actual.id,
                    owned=False,
                    note="exists and was not created by the application: left as it is",
                )
            )
        else:
            changes = _changes(_wire(actual), desired)
            action = Action.UPDATE if changes else Action.UNCHANGED
            if record.state == "pending" and not changes:
                action = Action.ADOPT
            steps.append(
                Step(
                    action,
                    Kind.LIST_ITEM,
                    key,
                    actual.name,
                    list_name,
                    remote_id=actual.id,
                    desired=desired,
                    changes=changes,
                    note="created earlier; its answer was lost" if action is Action.ADOPT else "",
                )
            )
    for record in snapshot.owned:
        if record.kind != "list_item" or _fold(record.list_name or "") != _fold(list_name):
            continue
        if _fold(record.name) in wanted:
            continue
        actual = actual_items.get(_fold(record.name))
        steps.append(
            Step(
                Action.DELETE,
                Kind.LIST_ITEM,
                _item_key(list_name, record.name),
                record.name,
                list_name,
                remote_id=actual.id if actual is not None else None,
                note="no longer in the manifest"
                if actual is not None
                else "already gone: only the record is removed",
            )
        )
    return steps


def _panel_steps(
    panels: Sequence[WebPanelSpec], snapshot: TenantSnapshot
) -> tuple[list[Step], list[str]]:
    steps: list[Step] = []
    conflicts: list[str] = []
    owned = _owned_by_prog_id(snapshot.app_panels)
    owned_ids = {entity.web_panel_id for entity in snapshot.app_panels}
    wanted = set()
    for spec in panels:
        key = _fold(spec.prog_id)
        wanted.add(key)
        desired = spec.fields()
        mine = sorted(owned.get(key, []), key=lambda e: (e.deleted, e.web_panel_id))
        if not mine:
            others = [
                entity
                for entity in snapshot.all_panels
                if _fold(entity.prog_id) == key
                and entity.web_panel_id not in owned_ids
                and not entity.deleted
            ]
            if others:
                conflicts.append(
                    f"ProgId {spec.prog_id!r} is taken by web panel {others[0].web_panel_id} "
                    f"({others[0].name!r}), which the application does not own"
                )
                continue
            steps.append(
                Step(
                    Action.CREATE,
                    Kind.WEB_PANEL,
                    spec.prog_id,
                    spec.name,
                    desired=desired,
                    group=Group(spec.group),
                    everyone=spec.visible_to_everyone,
                    note="visible for every user group" if spec.visible_to_everyone else "",
                )
            )
            continue
        keep, *duplicates = mine
        changes = _changes(_wire(keep), {**desired, "Deleted": False})
        hidden = spec.visible_to_everyone and keep.web_panel_id in snapshot.not_everyone
        if hidden:
            changes = (*changes, Change("UserGroups", "not every group", "every group"))
        steps.append(
            Step(
                Action.UPDATE if changes else Action.UNCHANGED,
                Kind.WEB_PANEL,
                spec.prog_id,
                spec.name,
                remote_id=keep.web_panel_id,
                desired={**desired, "Deleted": False},
                changes=changes,
                note="revived: it was soft-deleted" if keep.deleted else "",
                group=Group(spec.group),
                everyone=hidden,
            )
        )
        steps.extend(_duplicate_deletes(Kind.WEB_PANEL, spec.prog_id, duplicates, _panel_id, keep))
    steps.extend(_unwanted_deletes(Kind.WEB_PANEL, owned, wanted, _panel_id))
    return steps, conflicts


def _panel_id(entity: WebPanelEntity) -> int:
    return entity.web_panel_id


def _task_menu_id(entity: TaskMenuEntity) -> int:
    return entity.task_menu_id


def _owned_by_prog_id(entities: Iterable[_Owned]) -> dict[str, list[_Owned]]:
    """The application's own entities by folded ProgId (one without a ProgId is no one's)."""
    owned: dict[str, list[_Owned]] = {}
    for entity in entities:
        if entity.prog_id.strip():
            owned.setdefault(_fold(entity.prog_id), []).append(entity)
    return owned


def _duplicate_deletes(
    kind: Kind,
    prog_id: str,
    duplicates: Iterable[_Owned],
    id_of: Callable[[_Owned], int],
    keep: _Owned,
) -> list[Step]:
    """Deletes of the application's extra copies of one ProgId (``keep`` stays)."""
    noun = "web panel" if kind is Kind.WEB_PANEL else "task menu"
    return [
        Step(
            Action.DELETE,
            kind,
            prog_id,
            duplicate.name,
            remote_id=id_of(duplicate),
            note=f"a duplicate of {noun} {id_of(keep)}",
        )
        for duplicate in duplicates
    ]


def _unwanted_deletes(
    kind: Kind,
    owned: Mapping[str, Sequence[_Owned]],
    wanted: set[str],
    id_of: Callable[[_Owned], int],
) -> list[Step]:
    """Deletes of the application's entities whose ProgId the manifest no longer names."""
    return [
        Step(
            Action.DELETE,
            kind,
            entity.prog_id,
            entity.name,
            remote_id=id_of(entity),
            note="no longer in the manifest",
        )
        for key, entities in sorted(owned.items())
        if key not in wanted
        for entity in sorted(entities, key=id_of)
    ]


def _task_menu_wire(entity: TaskMenuEntity) -> dict[str, Any]:
    return entity.to_wire()


def _task_menu_steps(specs: Sequence[TaskMenuSpec], snapshot: TenantSnapshot) -> list[Step]:
    steps: list[Step] = []
    owned = _owned_by_prog_id(snapshot.app_task_menus or ())
    wanted = set()
    for spec in specs:
        key = _fold(spec.prog_id)
        wanted.add(key)
        desired = spec.fields()
        mine = sorted(owned.get(key, []), key=lambda e: (e.deleted, e.task_menu_id))
        if not mine:
            steps.append(
                Step(Action.CREATE, Kind.TASK_MENU, spec.prog_id, spec.name, desired=desired)
            )
            continue
        keep, *duplicates = mine
        changes = _changes(_task_menu_wire(keep), {**desired, "Deleted": False})
        steps.append(
            Step(
                Action.UPDATE if changes else Action.UNCHANGED,
                Kind.TASK_MENU,
                spec.prog_id,
                spec.name,
                remote_id=keep.task_menu_id,
                desired={**desired, "Deleted": False},
                changes=changes,
                note="revived: it was deleted" if keep.deleted else "",
            )
        )
        steps.extend(
            _duplicate_deletes(Kind.TASK_MENU, spec.prog_id, duplicates, _task_menu_id, keep)
        )
    steps.extend(_unwanted_deletes(Kind.TASK_MENU, owned, wanted, _task_menu_id))
    return steps


def diff(manifest: Manifest, snapshot: TenantSnapshot) -> tuple[tuple[Step, ...], tuple[str, ...]]:
    """(steps, conflicts) to bring ``snapshot`` to ``manifest`` (pure).

    Order: lists and their items (creates, updates, deletes), web panels, task menus, then
    deletions of whole lists last.
    """
    list_steps, late = _list_steps(manifest, snapshot)
    panel_steps, conflicts = _panel_steps(manifest.all_web_panels(), snapshot)
    task_menu_steps = _task_menu_steps(manifest.task_menus, snapshot)
    return (*list_steps, *panel_steps, *task_menu_steps, *late), tuple(conflicts)


def uninstall_steps(snapshot: TenantSnapshot) -> tuple[Step, ...]:
    """Everything the application owns, to delete: its web panels (``DeleteAppWebPanels``, one
    call), its task menus (``DeleteAppTaskMenus``, one call), the list items it created, then
    the lists it created. Nothing else."""
    steps: list[Step] = []
    if snapshot.app_panels:
        steps.append(
            Step(
                Action.DELETE,
                Kind.APP_WEB_PANELS,
                "*",
                f"{len(snapshot.app_panels)} web panel(s) owned by the application",
                desired={"ProgIds": sorted(p.prog_id for p in snapshot.app_panels)},
            )
        )
    if snapshot.app_task_menus:
        steps.append(
            Step(
                Action.DELETE,
                Kind.APP_TASK_MENUS,
                "*",
                f"{len(snapshot.app_task_menus)} task menu(s) owned by the application",
                desired={"ProgIds": sorted(m.prog_id for m in snapshot.app_task_menus)},
            )
        )
    owned_lists = {_fold(r.name) for r in snapshot.owned if r.kind == "list"}
    for record in snapshot.owned:
        if record.kind != "list_item" or _fold(record.list_name or "") in owned_lists:
            continue  # a list of ours goes as a whole
        list_name = record.list_name or ""
        item = next(
            (i for i in snapshot.items_of(list_name) if _fold(i.name) == _fold(record.name)),
            None,
        )
        steps.append(
            Step(
                Action.DELETE,
                Kind.LIST_ITEM,
                _item_key(list_name, record.name),
                record.name,
                list_name,
                remote_id=item.id if item is not None else None,
            )
        )
    for record in snapshot.owned:
        if record.kind == "list":
            actual = snapshot.find_list(record.name)
            steps.append(
                Step(
                    Action.DELETE,
                    Kind.LIST,
                    record.name,
                    record.name,
                    remote_id=actual.id if actual is not None else None,
                )
            )
    return tuple(steps)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_plan(
    api: ProvisioningApi,
    repository: Repository,
    application: Application,
    context_identifier: str,
    manifest: Manifest,
    *,
    operation: str = "apply",
    now: datetime | None = None,
    list_cache: timedelta = timedelta(0),
    fresh: bool = False,
) -> Plan:
    """Read the tenant and diff it against ``manifest`` (``operation="uninstall"``: plan the
    removal of everything the application owns instead). ``list_cache``: see
    :func:`read_snapshot`; list definitions read from the tenant are kept in the store for the
    plans and applies after this one. ``fresh``: read them from the tenant whatever is kept."""
    snapshot = read_snapshot(
        api,
        repository,
        application,
        context_identifier,
        manifest,
        operation=operation,
        list_cache=timedelta(0) if fresh else list_cache,
        now=now,
    )
    if list_cache > timedelta(0) and not snapshot.lists_remembered:
        repository.remember_lists(
            application, context_identifier, lists_to_keep(snapshot, manifest)
        )
    return plan_from_snapshot(
        snapshot, application, context_identifier, manifest, operation=operation, now=now
    )


def plan_from_snapshot(
    snapshot: TenantSnapshot,
    application: Application,
    context_identifier: str,
    manifest: Manifest,
    *,
    operation: str = "apply",
    now: datetime | None = None,
) -> Plan:
    """The plan of an already read ``snapshot`` (pure): an apply that plans under its own lock
    reads the tenant once for the plan and its read-backs (``apply_manifest``)."""
    conflicts: tuple[str, ...] = ()
    if operation == "uninstall":
        steps = uninstall_steps(snapshot)
    elif operation == "apply":
        steps, conflicts = diff(manifest, snapshot)
    else:
        raise ValueError("operation is apply or uninstall")
    return Plan(
        application=application.name,
        application_id=application.id,
        context_identifier=context_identifier,
        operation=operation,
        steps=steps,
        fingerprint=fingerprint_of(snapshot, manifest),
        manifest_digest=manifest.digest,
        created_at=now or _utc_now(),
        conflicts=conflicts,
        manifest=manifest,
    )
