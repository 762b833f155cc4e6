"""Apply a plan: exactly its steps, one apply per application x tenant, every step recorded.

:func:`apply_plan`:

1. refuses a plan with conflicts (:class:`~toolkit.errors.PlanConflictError`);
2. takes the store's apply lock of the application x tenant (a lease with expiry, renewed
   before a step once a tenth of its TTL has passed since the last renewal: a lock renewed
   more recently cannot have expired, so nobody can have taken it over; a crashed holder's
   lock is taken over once it expires). Another apply holding it
   gives :class:`~toolkit.errors.ProvisioningBusyError` at once, or after ``lock_wait``
   seconds: two applies never interleave;
3. re-reads the tenant and refuses a **stale** plan (its fingerprint changed:
   :class:`~toolkit.errors.StalePlanError`); nothing has been done yet;
4. records the run (plan, actor, ``running``) and performs each pending step, recording it in
   the store (``done`` / ``adopted`` / ``failed``) with the run's next store write (the next
   ownership record, a failure or the run's end: see ``_Executor.completed``), reporting
   progress as :class:`ProvisioningEvent` values through ``on_event`` (no printing);
5. ends the run ``succeeded``, ``partial`` (some steps done) or ``failed``; a step that raised
   (or a callback that raised: an interrupted run) surfaces as
   :class:`~toolkit.errors.ProvisioningRunError` with the cause chained.

Re-running after a crash, a kill or a lost response never duplicates anything:

* the items of a list this run created go in one request (``PUT v1/List/{id}/Items``, a
  "save all", at the list's first item step; the later item steps of that list find theirs
  in its answer). The reference does not say what that PUT does with items it is not sent
  [I]; a list created moments ago holds none, so it is sent for such a list only. Their
  ownership is written ahead, all of them, with the list's owned record (one store
  transaction) once the list's create has answered, so before that request is sent; their
  owned records go in together (again one transaction) once its answer is in, before the
  item steps are recorded; an answer lost on the way back is read back like a lost create
  (each item step reads the list again and creates what is missing, one by one);
* before every create the object is read back by its natural key (ProgId among the app's own
  panels and task menus, list name, item name within its list) and an existing one is
  **adopted**. One read per kind serves every read-back of that kind: the run starts from the
  tenant as read under the lock (the staleness check's read, or the plan's own when
  :func:`apply_manifest` plans under the lock), adds what it creates, and reads a kind only
  when it has not been read yet (a list's items; a list this run created has none). A step
  that ran before (a resumed workflow) did so before this run took the lock, so that read
  shows it;
* a created web panel is then made visible for every user group when its step says so: the
  first panel's groups are read (written only when a group is missing); every later panel this
  run created gets the same groups, all selected, without another read;
* list and item creates are written ahead to the store as ``pending`` ownership, so an object
  whose create answer never arrived is still known to be the application's on the next plan;
* a POST that raised :class:`~toolkit.errors.RequestOutcomeUnknownError` (sent, answer lost) is
  followed by a read-back: found is adopted; not found is created once more (the read-back
  proved it was not applied). Deletes treat 404 as done.

A new plan after an interrupted run contains only the rest (what was done is in the tenant).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from toolkit.errors import (
    ApiNotFoundError,
    PlanConflictError,
    ProvisioningBusyError,
    ProvisioningRunError,
    RequestOutcomeUnknownError,
    StalePlanError,
)
from toolkit.provisioning.manifest import Manifest
from toolkit.provisioning.plan import (
    Action,
    Kind,
    Plan,
    ProvisioningApi,
    Step,
    TenantSnapshot,
    fingerprint_of,
    lists_to_keep,
    plan_from_snapshot,
    read_snapshot,
)
from toolkit.store import Application, ProvisioningRun, Repository
from toolkit.store.records import OwnershipWrite, ProvisioningStepWrite
from toolkit.tenant.task_menus import (
    TaskMenuEntity,
    app_task_menus,
    delete_app_task_menus,
    delete_task_menu,
    item_user_groups,
    save_task_menu,
    set_item_user_groups,
    set_visible_for_everyone,
)
from toolkit.tenant.webapi import WEB_PANEL_LIST, ListEntity, ListItemEntity, WebPanelEntity

__all__ = [
    "LOCK_POLL",
    "LOCK_TTL",
    "EventCallback",
    "ProvisioningEvent",
    "apply_manifest",
    "apply_plan",
]

logger = logging.getLogger("toolkit.provisioning")

# An apply holds its lock this long past its last step; long enough for one slow step (the
# HTTP retry budget is 30 s), short enough that a crashed holder blocks the tenant briefly.
LOCK_TTL: Final = timedelta(minutes=2)
# How often a waiting apply asks for the lock again.
LOCK_POLL: Final = 0.1
# A run renews its lock before a step once this share of the TTL has passed since the last
# renewal (a write transaction per step was a sixth of a first apply's client CPU, issue 14);
# a step then still has nine tenths of the TTL before anyone could take the lock over.
LOCK_RENEW_SHARE: Final = 0.1
# User-defined lists are the only ones an application can create (§7.3, SD:udef).
UDLIST_TYPE: Final = "udlist"


@dataclass(frozen=True)
class ProvisioningEvent:
    """Progress of an apply / uninstall.

    ``kind``: ``run_started``, ``step_started``, ``step_finished`` (``outcome`` done /
    adopted), ``step_failed``, ``run_finished`` (``outcome`` succeeded / partial / failed).
    ``position`` is the 0-based index among the run's ``total`` pending steps.
    """

    kind: str
    application: str
    context_identifier: str
    run_id: str
    total: int
    position: int | None = None
    step: Step | None = None
    outcome: str | None = None
    message: str = ""


EventCallback = Callable[[ProvisioningEvent], None]


def lock_owner() -> str:
    """A lock owner id unique to this process, thread and call."""
    return (
        f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"
    )


def _acquire(
    repository: Repository,
    application: Application,
    context_identifier: str,
    owner: str,
    *,
    ttl: timedelta,
    wait: float,
) -> float:
    """Take the lock; the monotonic time just before the attempt that took it."""
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        attempted = time.monotonic()
        lock = repository.acquire_provisioning_lock(application, context_identifier, owner, ttl=ttl)
        if lock is not None:
            return attempted
        if time.monotonic() >= deadline:
            held = repository.get_provisioning_lock(application, context_identifier)
            raise ProvisioningBusyError(
                f"another apply is running for {application.name!r} in {context_identifier!r}"
                + ("" if held is None else f" (until {held.locked_until.isoformat()})"),
                owner=None if held is None else held.owner,
                until=None if held is None else held.locked_until,
            )
        time.sleep(LOCK_POLL)


def _fold(text: str) -> str:
    return text.strip().casefold()


class _Executor:
    """Performs single steps against the tenant, idempotently (read back before creating)."""

    def __init__(
        self,
        api: ProvisioningApi,
        repository: Repository,
        application: Application,
        context_identifier: str,
        run_id: str,
        *,
        snapshot: TenantSnapshot | None = None,
        steps: Sequence[Step] = (),
    ) -> None:
        self.api = api
        self.repository = repository
        self.application = application
        self.ctx = context_identifier
        self.run_id = run_id
        self.steps = tuple(steps)  # the run's pending steps (a new list's items go together)
        self._list_ids: dict[str, int] = {}
        # Lists this run created (folded names): their items go in one request, and what
        # that request saved (folded list name -> folded item name -> item).
        self._new_lists: set[str] = set()
        self._items_written_ahead: set[str] = set()  # new lists whose items' records are in
        self._saved_items: dict[str, dict[str, ListItemEntity]] = {}
        # What this run knows of the tenant, per kind (None: not read yet); see the module doc.
        self._lists: list[ListEntity] | None = None
        self._items: dict[str, list[ListItemEntity]] = {}
        self._app_panels: list[WebPanelEntity] | None = None
        self._task_menus: list[TaskMenuEntity] | None = None
        self._user_groups: list[dict[str, Any]] | None = None
        self._unrecorded: list[ProvisioningStepWrite] = []
        if snapshot is not None:
            self._lists = list(snapshot.lists)
            self._items = {name: list(items) for name, items in snapshot.items.items()}
            self._app_panels = list(snapshot.app_panels)
            if snapshot.app_task_menus is not None:
                self._task_menus = list(snapshot.app_task_menus)

    # -- lookups (fresh=True reads the kind again: after a lost answer) --------------------------

    def find_list(self, name: str, fresh: bool = False) -> ListEntity | None:
        if fresh or self._lists is None:
            self._lists = list(self.api.lists())
        folded = _fold(name)
        found = next((e for e in self._lists if _fold(e.name) == folded), None)
        if found is not None:
            self._list_ids[folded] = found.id
        return found

    def list_id(self, name: str) -> int:
        folded = _fold(name)
        if folded not in self._list_ids:
            found = self.find_list(name)
            if found is None:
                raise ApiNotFoundError(
                    f"list {name!r} is not in the tenant", status_code=404, error_type=None
                )
        return self._list_ids[folded]

    def find_item(self, list_name: str, name: str, fresh: bool = False) -> ListItemEntity | None:
        key = _fold(list_name)
        if fresh or key not in self._items:
            self._items[key] = list(self.api.list_items(self.list_id(list_name)))
        folded = _fold(name)
        return next((item for item in self._items[key] if _fold(item.name) == folded), None)

    def find_app_panel(self, prog_id: str, fresh: bool = False) -> WebPanelEntity | None:
        if fresh or self._app_panels is None:
            self._app_panels = list(self.api.app_web_panels())
        folded = _fold(prog_id)
        mine = [p for p in self._app_panels if _fold(p.prog_id) == folded]
        mine.sort(key=lambda p: (p.deleted, p.web_panel_id))
        return mine[0] if mine else None

    def find_app_task_menu(self, prog_id: str, fresh: bool = False) -> TaskMenuEntity | None:
        if fresh or self._task_menus is None:
            self._task_menus = app_task_menus(self.api)
        folded = _fold(prog_id)
        mine = [m for m in self._task_menus if _fold(m.prog_id) == folded]
        mine.sort(key=lambda m: (m.deleted, m.task_menu_id))
        return mine[0] if mine else None

    def make_visible_for_everyone(self, panel_id: int, *, created: bool) -> None:
        """Every user group sees the panel. A panel this run created gets the groups read for
        an earlier one, all selected, without a read of its own: the groups are the tenant's,
        the same for every item of the list [I] (§7.1 documents the read and the write, not
        whether a new item's groups differ)."""
        if created and self._user_groups is not None:
            groups = [{**g, "Selected": True} for g in self._user_groups]
            set_item_user_groups(self.api, WEB_PANEL_LIST, panel_id, groups)
            return
        groups = item_user_groups(self.api, WEB_PANEL_LIST, panel_id)
        self._user_groups = groups
        if not all(group.get("Selected") is True for group in groups):
            set_item_user_groups(
                self.api, WEB_PANEL_LIST, panel_id, [{**g, "Selected": True} for g in groups]
            )

    # -- the store: ownership records, and the step records that ride along -------------------

    def completed(self, step: ProvisioningStepWrite) -> None:
        """A step done: its record goes in with the run's next store write (an ownership
        record or the run's end), so a step that writes nothing itself (an item saved with
        its list, a panel) costs no transaction of its own. A crash in between leaves the
        run's recorded steps a shorter prefix of its plan; what they did is in the tenant
        and in the ownership records, which are written before and after each create."""
        self._unrecorded.append(step)

    def unrecorded(self) -> list[ProvisioningStepWrite]:
        """The completed steps not recorded yet (the caller records them), in order."""
        steps, self._unrecorded = self._unrecorded, []
        return steps

    def own(
        self, kind: str, name: str, list_name: str | None, state: str, remote: int | None
    ) -> None:
        self.own_all([OwnershipWrite(kind, name, list_name, state, remote)])

    def own_all(self, writes: Sequence[OwnershipWrite]) -> None:
        """Several ownership records written at one moment, in one transaction."""
        self.repository.put_provisioned_objects(
            self.application,
            self.ctx,
            writes,
            run_id=self.run_id,
            steps=self._unrecorded,
        )
        self._unrecorded = []

    def disown(self, kind: str, name: str, list_name: str | None) -> None:
        self.repository.delete_provisioned_object(
            self.application,
            self.ctx,
            kind=kind,
            name=name,
            list_name=list_name,
            run_id=self.run_id,
            steps=self._unrecorded,
        )
        self._unrecorded = []

    # -- creating with read-back --------------------------------------------------------------

    def _create(self, find: Callable[[bool], Any], create: Callable[[], Any]) -> tuple[Any, str]:
        """(the object, ``done`` | ``adopted``): read back first (from the run's read of the
        kind); after a lost answer, read the kind again and create once more only if it is
        really not there."""
        existing = find(False)
        if existing is not None:
            return existing, "adopted"
        try:
            return create(), "done"
        except RequestOutcomeUnknownError:
            logger.info("a create's answer was lost; reading it back by its natural key")
            existing = find(True)
            if existing is not None:
                return existing, "adopted"
            return create(), "done"

    # -- steps ---------------------------------------------------------------------------------

    def perform(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        """Do one step: (outcome, remote id, detail)."""
        handler = {
            (Kind.LIST, Action.CREATE): self.create_list,
            (Kind.LIST, Action.UPDATE): self.update_list,
            (Kind.LIST, Action.ADOPT): self.adopt,
            (Kind.LIST, Action.DELETE): self.delete_list,
            (Kind.LIST_ITEM, Action.CREATE): self.create_item,
            (Kind.LIST_ITEM, Action.UPDATE): self.update_item,
            (Kind.LIST_ITEM, Action.ADOPT): self.adopt,
            (Kind.LIST_ITEM, Action.DELETE): self.delete_item,
            (Kind.WEB_PANEL, Action.CREATE): self.create_panel,
            (Kind.WEB_PANEL, Action.UPDATE): self.update_panel,
            (Kind.WEB_PANEL, Action.DELETE): self.delete_panel,
            (Kind.APP_WEB_PANELS, Action.DELETE): self.delete_app_panels,
            (Kind.TASK_MENU, Action.CREATE): self.create_task_menu,
            (Kind.TASK_MENU, Action.UPDATE): self.update_task_menu,
            (Kind.TASK_MENU, Action.DELETE): self.delete_task_menu,
            (Kind.APP_TASK_MENUS, Action.DELETE): self.delete_app_task_menus,
        }.get((step.kind, step.action))
        if handler is None:
            raise ValueError(f"no way to {step.action} a {step.kind}")
        return handler(step)

    def create_list(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        desired = step.desired
        self.own("list", step.name, None, "pending", None)  # written ahead (see module doc)
        entity = ListEntity(
            name=str(desired["Name"]),
            tooltip=str(desired.get("Tooltip", "")),
            rank=int(desired.get("Rank", 0)),
            list_type=UDLIST_TYPE,
            is_custom_list=True,
        )
        created, outcome = self._create(
            lambda fresh: self.find_list(step.name, fresh), lambda: self.api.create_list(entity)
        )
        self._list_ids[_fold(step.name)] = created.id
        if outcome == "done":
            self._remember(self._lists, created)
            self._items[_fold(step.name)] = []  # a list just created has no items
            self._new_lists.add(_fold(step.name))
        if outcome == "adopted" and _list_differs(created, desired):
            self._put_list(created, desired)
        owned = [OwnershipWrite("list", step.name, None, "owned", created.id)]
        if outcome == "done":
            # The items this run saves with the new list: their records written ahead now, in
            # the list's transaction (a crash before their request leaves them pending and
            # absent: the next plan creates them).
            owned += self._items_ahead(step.name)
            self._items_written_ahead.add(_fold(step.name))
        self.own_all(owned)
        return outcome, created.id, {}

    def _items_ahead(self, list_name: str) -> list[OwnershipWrite]:
        return [
            OwnershipWrite("list_item", s.name, s.list_name, "pending")
            for s in self._new_item_steps(list_name)
        ]

    def _put_list(self, actual: ListEntity, desired: Mapping[str, Any]) -> None:
        saved = replace(
            actual,
            name=str(desired.get("Name", actual.name)),
            tooltip=str(desired.get("Tooltip", actual.tooltip)),
            rank=int(desired.get("Rank", actual.rank)),
            deleted=False,
        )
        self.api.call("PUT", f"v1/List/{actual.id}", body=saved.to_wire())
        self._forget_list(actual.id)
        self._remember(self._lists, saved)

    def _forget_list(self, list_id: int) -> None:
        if self._lists is not None:
            self._lists = [entity for entity in self._lists if entity.id != list_id]

    def lists(self) -> list[ListEntity] | None:
        """The list definitions as this run knows them now (None: never read)."""
        return self._lists

    def update_list(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        actual = self.api.list(self._remote(step))
        self._put_list(actual, step.desired)
        self.own("list", step.name, None, "owned", actual.id)
        return "done", actual.id, {"fields": [c.field for c in step.changes]}

    def adopt(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        kind = "list" if step.kind is Kind.LIST else "list_item"
        self.own(kind, step.name, step.list_name, "owned", step.remote_id)
        return "adopted", step.remote_id, {}

    def delete_list(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        detail: dict[str, Any] = {}
        if step.remote_id is not None:
            try:
                self.api.delete_list(step.remote_id)
            except ApiNotFoundError:
                detail["already_gone"] = True
            self._forget_list(step.remote_id)
        self.disown("list", step.name, None)
        return "done", step.remote_id, detail

    def _new_item_steps(self, list_name: str) -> list[Step]:
        folded = _fold(list_name)
        return [
            s
            for s in self.steps
            if s.kind is Kind.LIST_ITEM
            and s.action is Action.CREATE
            and _fold(s.list_name or "") == folded
        ]

    def _save_new_items(self, list_name: str) -> dict[str, ListItemEntity]:
        """Create every item the run's steps want in a list this run created, in one request
        (see the module doc); what it saved, by folded name. A lost answer: nothing known
        (each item step then reads the list again)."""
        key = _fold(list_name)
        steps = self._new_item_steps(list_name)
        list_id = self.list_id(list_name)
        if key not in self._items_written_ahead:  # with the list's owned record, normally
            self.own_all(self._items_ahead(list_name))
        body = [
            ListItemEntity(
                name=str(s.desired["Name"]),
                tooltip=str(s.desired.get("Tooltip", "")),
                rank=int(s.desired.get("Rank", 0)),
                ud_list_definition_id=list_id,
            )
            for s in steps
        ]
        try:
            saved = self.api.save_list_items(list_id, body)
        except RequestOutcomeUnknownError:
            logger.info("saving a new list's items lost its answer; reading them back")
            self._items.pop(key, None)  # the run's "no items" is no longer known
            return {}
        known = self._items.setdefault(key, [])
        known.extend(saved)
        by_name = {_fold(item.name): item for item in saved}
        # The answer known: the saved items' owned records, again in one transaction.
        self.own_all(
            [
                OwnershipWrite("list_item", s.name, list_name, "owned", by_name[_fold(s.name)].id)
                for s in steps
                if _fold(s.name) in by_name
            ]
        )
        return by_name

    def create_item(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        list_name = step.list_name or ""
        desired = step.desired
        key = _fold(list_name)
        if key in self._new_lists and key not in self._saved_items:
            self._saved_items[key] = self._save_new_items(list_name)
            batch = len(self._new_item_steps(list_name))
        else:
            batch = 0
        saved = self._saved_items.get(key, {}).get(_fold(step.name))
        if saved is not None:  # its owned record went in with the request's answer
            return "done", saved.id, {"saved_with_list": batch} if batch else {}
        self.own("list_item", step.name, list_name, "pending", None)
        list_id = self.list_id(list_name)
        entity = ListItemEntity(
            name=str(desired["Name"]),
            tooltip=str(desired.get("Tooltip", "")),
            rank=int(desired.get("Rank", 0)),
        )
        created, outcome = self._create(
            lambda fresh: self.find_item(list_name, step.name, fresh),
            lambda: self.api.create_list_item(list_id, entity),
        )
        if outcome == "done":
            self._remember(self._items.get(_fold(list_name)), created)
        if outcome == "adopted" and (created.tooltip, created.rank) != (
            entity.tooltip,
            entity.rank,
        ):
            created = self.api.update_list_item(
                list_id, created.id, replace(created, tooltip=entity.tooltip, rank=entity.rank)
            )
        self.own("list_item", step.name, list_name, "owned", created.id)
        return outcome, created.id, {}

    def update_item(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        list_name = step.list_name or ""
        list_id = self.list_id(list_name)
        item_id = self._remote(step)
        desired = step.desired
        body = ListItemEntity(
            id=item_id,
            name=str(desired["Name"]),
            tooltip=str(desired.get("Tooltip", "")),
            rank=int(desired.get("Rank", 0)),
            ud_list_definition_id=list_id,
        )
        self.api.update_list_item(list_id, item_id, body)
        self.own("list_item", step.name, list_name, "owned", item_id)
        return "done", item_id, {"fields": [c.field for c in step.changes]}

    def delete_item(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        list_name = step.list_name or ""
        detail: dict[str, Any] = {}
        if step.remote_id is not None:
            try:
                self.api.delete_list_item(self.list_id(list_name), step.remote_id)
            except ApiNotFoundError:
                detail["already_gone"] = True
        self.disown("list_item", step.name, list_name)
        return "done", step.remote_id, detail

    def _panel_entity(self, step: Step, base: WebPanelEntity | None = None) -> WebPanelEntity:
        desired = step.desired
        values = {
            "prog_id": desired["ProgId"],
            "name": desired["Name"],
            "url": desired["Url"],
            "visible_in": desired["VisibleIn"],
            "window_name": desired["WindowName"],
            "url_encoding": desired["UrlEncoding"],
            "tooltip": desired["Tooltip"],
            "rank": desired["Rank"],
            "icon": desired["Icon"],
            "on_central": desired["OnCentral"],
            "on_satellite": desired["OnSatellite"],
            "on_travel": desired["OnTravel"],
            "on_sales_marketing_web": desired["OnSalesMarketingWeb"],
            "on_sales_marketing_pocket": desired["OnSalesMarketingPocket"],
            "show_in_menu_bar": desired["ShowInMenuBar"],
            "show_in_tool_bar": desired["ShowInToolBar"],
            "show_in_address_bar": desired["ShowInAddressBar"],
            "show_in_status_bar": desired["ShowInStatusBar"],
            "always_reload_on_show": desired["AlwaysReloadOnShow"],
            "never_reload_on_current_change": desired["NeverReloadOnCurrentChange"],
            "deleted": False,
        }
        return replace(base, **values) if base is not None else WebPanelEntity(**values)

    def create_panel(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        entity = self._panel_entity(step)
        created, outcome = self._create(
            lambda fresh: self.find_app_panel(step.key, fresh),
            lambda: self.api.save_web_panel(entity),
        )
        if outcome == "done":
            self._remember(self._app_panels, created)
        if outcome == "adopted" and _panel_differs(created, entity):
            created = self.api.update_web_panel(
                created.web_panel_id, self._panel_entity(step, created)
            )
        detail: dict[str, Any] = {}
        if step.everyone:
            # An adopted panel's groups are read first, so a re-run after a crash here
            # finishes the job.
            self.make_visible_for_everyone(created.web_panel_id, created=outcome == "done")
            detail["visible_for"] = "everyone"
        return outcome, created.web_panel_id, detail

    def update_panel(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        panel_id = self._remote(step)
        current = self.api.web_panel(panel_id)
        self.api.update_web_panel(panel_id, self._panel_entity(step, current))
        if step.everyone:
            set_visible_for_everyone(self.api, WEB_PANEL_LIST, panel_id)
        return "done", panel_id, {"fields": [c.field for c in step.changes]}

    def delete_panel(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        panel_id = self._remote(step)
        detail: dict[str, Any] = {}
        try:
            self.api.delete_web_panel_permanently(panel_id)
        except ApiNotFoundError:
            detail["already_gone"] = True
        except RequestOutcomeUnknownError:
            if any(p.web_panel_id == panel_id for p in self.api.app_web_panels()):
                self.api.delete_web_panel_permanently(panel_id)
        return "done", panel_id, detail

    def delete_app_panels(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        try:
            self.api.delete_app_web_panels()
        except RequestOutcomeUnknownError:
            if self.api.app_web_panels():
                self.api.delete_app_web_panels()
        return "done", None, {"prog_ids": list(step.desired.get("ProgIds", []))}

    def _task_menu_entity(self, step: Step, task_menu_id: int = 0) -> TaskMenuEntity:
        desired = step.desired
        return TaskMenuEntity(
            task_menu_id=task_menu_id,
            prog_id=str(desired["ProgId"]),
            name=str(desired["Name"]),
            tooltip=str(desired["Tooltip"]),
            table_name=str(desired["TableName"]),
            area=str(desired["Area"]),
            url_or_soprotocol=str(desired["UrlOrSoprotocol"]),
            task_type=str(desired["TaskType"]),
            show_in_client=str(desired["ShowInClient"]),
            archive_behaviour=str(desired["ArchiveBehaviour"]),
            rank=int(desired["Rank"]),
            encoding=str(desired["Encoding"]),
        )

    def create_task_menu(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        entity = self._task_menu_entity(step)
        created, outcome = self._create(
            lambda fresh: self.find_app_task_menu(step.key, fresh),
            lambda: save_task_menu(self.api, entity),
        )
        if outcome == "done":
            self._remember(self._task_menus, created)
        wanted = self._task_menu_entity(step, created.task_menu_id)
        if outcome == "adopted" and created.to_wire() != wanted.to_wire():
            created = save_task_menu(self.api, wanted)
        return outcome, created.task_menu_id, {}

    def update_task_menu(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        task_menu_id = self._remote(step)
        save_task_menu(self.api, self._task_menu_entity(step, task_menu_id))
        return "done", task_menu_id, {"fields": [c.field for c in step.changes]}

    def delete_task_menu(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        task_menu_id = self._remote(step)
        detail: dict[str, Any] = {}
        try:
            delete_task_menu(self.api, task_menu_id)
        except ApiNotFoundError:
            detail["already_gone"] = True
        except RequestOutcomeUnknownError:
            if any(m.task_menu_id == task_menu_id for m in app_task_menus(self.api)):
                delete_task_menu(self.api, task_menu_id)
        return "done", task_menu_id, detail

    def delete_app_task_menus(self, step: Step) -> tuple[str, int | None, dict[str, Any]]:
        try:
            delete_app_task_menus(self.api)
        except RequestOutcomeUnknownError:
            if app_task_menus(self.api):
                delete_app_task_menus(self.api)
        return "done", None, {"prog_ids": list(step.desired.get("ProgIds", []))}

    @staticmethod
    def _remember(known: list[Any] | None, created: Any) -> None:
        """Add a created object to the run's read of its kind (None: not read yet, so the
        next read-back reads it, this object included)."""
        if known is not None:
            known.append(created)

    @staticmethod
    def _remote(step: Step) -> int:
        if step.remote_id is None:
            raise ValueError(f"step {step.action} {step.key} has no remote id")
        return step.remote_id


def _list_differs(actual: ListEntity, desired: Mapping[str, Any]) -> bool:
    return (actual.tooltip, actual.rank, actual.deleted) != (
        desired.get("Tooltip", actual.tooltip),
        desired.get("Rank", actual.rank),
        False,
    )


def _panel_differs(actual: WebPanelEntity, desired: WebPanelEntity) -> bool:
    ignore = ("WebPanelId", "TableRight", "FieldProperties")
    a = {k: v for k, v in actual.to_wire().items() if k not in ignore}
    d = {k: v for k, v in desired.to_wire().items() if k not in ignore}
    return a != d


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


def apply_plan(
    api: ProvisioningApi,
    repository: Repository,
    application: Application,
    plan: Plan,
    *,
    actor: str,
    on_event: EventCallback | None = None,
    lock_ttl: timedelta = LOCK_TTL,
    lock_wait: float = 0.0,
    manifest: Manifest | None = None,
    owner: str | None = None,
    list_cache: timedelta = timedelta(0),
) -> ProvisioningRun:
    """Perform exactly ``plan``'s pending steps in its tenant (see the module doc).

    ``manifest`` defaults to the one the plan was made from (needed to re-read the same
    objects for the staleness check). ``owner`` names the lock holder (default: unique to
    this call); a job engine passes one naming its workflow, executor and execution (one per
    execution, so two copies of a workflow never share it). ``list_cache``: as for
    :func:`~toolkit.provisioning.plan.read_snapshot`. Returns the stored run.
    """
    if plan.application_id != application.id:
        raise ValueError(f"the plan is for {plan.application!r}, not {application.name!r}")
    if plan.conflicts:
        raise PlanConflictError(
            f"the plan for {plan.application!r} in {plan.context_identifier!r} has conflicts: "
            + "; ".join(plan.conflicts),
            conflicts=plan.conflicts,
        )
    manifest = manifest if manifest is not None else plan.manifest
    ctx = plan.context_identifier
    owner = owner or lock_owner()
    renewed = _acquire(repository, application, ctx, owner, ttl=lock_ttl, wait=lock_wait)
    try:
        snapshot = read_snapshot(
            api,
            repository,
            application,
            ctx,
            manifest,
            operation=plan.operation,
            list_cache=list_cache,
        )
        actual = fingerprint_of(snapshot, manifest)
        if actual != plan.fingerprint:
            if list_cache > timedelta(0):
                # The plan may have been made from the store's copy of the list definitions
                # and the tenant's differ: the next plan reads them all again.
                repository.forget_lists(application, ctx)
            raise StalePlanError(
                f"the tenant {ctx!r} changed since the plan was made; plan again",
                expected=plan.fingerprint,
                actual=actual,
            )
        return _run(
            api,
            repository,
            application,
            plan,
            actor=actor,
            on_event=on_event,
            owner=owner,
            lock_ttl=lock_ttl,
            snapshot=snapshot,
            renewed=renewed,
            manifest=manifest,
            list_cache=list_cache,
        )
    finally:
        repository.release_provisioning_lock(application, ctx, owner)


def apply_manifest(
    api: ProvisioningApi,
    repository: Repository,
    application: Application,
    context_identifier: str,
    manifest: Manifest,
    *,
    actor: str,
    on_event: EventCallback | None = None,
    lock_ttl: timedelta = LOCK_TTL,
    lock_wait: float = 0.0,
    owner: str | None = None,
    now: datetime | None = None,
    list_cache: timedelta = timedelta(0),
) -> ProvisioningRun:
    """Plan and apply under one lock: the tenant is read once, after the lock is taken, and
    that read is both the plan's and the run's read-backs (no staleness check is needed: no
    other apply can change the tenant in between). The plan has conflicts:
    :class:`~toolkit.errors.PlanConflictError`, nothing done. Otherwise as :func:`apply_plan`.
    """
    owner = owner or lock_owner()
    renewed = _acquire(
        repository, application, context_identifier, owner, ttl=lock_ttl, wait=lock_wait
    )
    try:
        snapshot = read_snapshot(
            api,
            repository,
            application,
            context_identifier,
            manifest,
            list_cache=list_cache,
            now=now,
        )
        plan = plan_from_snapshot(snapshot, application, context_identifier, manifest, now=now)
        if plan.conflicts:
            raise PlanConflictError(
                f"the plan for {plan.application!r} in {context_identifier!r} has conflicts: "
                + "; ".join(plan.conflicts),
                conflicts=plan.conflicts,
            )
        return _run(
            api,
            repository,
            application,
            plan,
            actor=actor,
            on_event=on_event,
            owner=owner,
            lock_ttl=lock_ttl,
            snapshot=snapshot,
            renewed=renewed,
            manifest=manifest,
            list_cache=list_cache,
        )
    finally:
        repository.release_provisioning_lock(application, context_identifier, owner)


def _run(
    api: ProvisioningApi,
    repository: Repository,
    application: Application,
    plan: Plan,
    *,
    actor: str,
    on_event: EventCallback | None,
    owner: str,
    lock_ttl: timedelta,
    snapshot: TenantSnapshot,
    renewed: float | None = None,
    manifest: Manifest | None = None,
    list_cache: timedelta = timedelta(0),
) -> ProvisioningRun:
    ctx = plan.context_identifier
    pending = plan.pending
    record = repository.start_provisioning_run(
        application,
        ctx,
        operation=plan.operation,
        actor=actor,
        plan=plan.to_json(),
        fingerprint=plan.fingerprint,
        steps_total=len(pending),
    )
    run_id = record.id
    executor = _Executor(
        api, repository, application, ctx, run_id, snapshot=snapshot, steps=pending
    )

    def emit(kind: str, **fields: Any) -> None:
        if on_event is not None:
            on_event(
                ProvisioningEvent(
                    kind=kind,
                    application=application.name,
                    context_identifier=ctx,
                    run_id=run_id,
                    total=len(pending),
                    **fields,
                )
            )

    done = 0
    position: int | None = None
    outcome = "failed"
    error: str | None = None
    try:
        emit("run_started", message=f"{len(pending)} step(s)")
        renew_every = lock_ttl.total_seconds() * LOCK_RENEW_SHARE
        for position, step in enumerate(pending):
            if renewed is None or time.monotonic() - renewed >= renew_every:
                attempted = time.monotonic()
                if (
                    repository.acquire_provisioning_lock(application, ctx, owner, ttl=lock_ttl)
                    is None
                ):
                    raise ProvisioningBusyError(
                        f"the apply lock of {application.name!r} in {ctx!r} was taken over "
                        "(this run outlived its lock)"
                    )
                renewed = attempted
            emit("step_started", position=position, step=step)
            try:
                result, remote_id, detail = executor.perform(step)
            except Exception as exc:
                failed = _step_write(
                    position, step, "failed", step.remote_id, {"error": _error_text(exc)}
                )
                repository.record_provisioning_steps(run_id, [*executor.unrecorded(), failed])
                emit("step_failed", position=position, step=step, message=_error_text(exc))
                raise
            executor.completed(_step_write(position, step, result, remote_id, detail))
            done += 1
            emit("step_finished", position=position, step=step, outcome=result)
        outcome = "succeeded"
    except BaseException as exc:
        outcome = "partial" if done else "failed"
        error = _error_text(exc)
        final = repository.finish_provisioning_run(
            run_id, outcome, error=error, steps=executor.unrecorded()
        )
        _audit(repository, application, ctx, actor, final)
        if isinstance(exc, Exception):
            raise ProvisioningRunError(
                f"{plan.operation} of {application.name!r} in {ctx!r} stopped at step "
                f"{position} of {len(pending)} ({outcome}): {error}",
                run_id=run_id,
                step=position,
                outcome=outcome,
            ) from exc
        raise
    # The store's copy of the list definitions: as read, with this run's writes, kept in the
    # run's last transaction. (A run that stopped leaves it be: a list it created is not in
    # it, so the next plan reads every definition; one it deleted answers 404, and so does
    # that; one it updated shows the old fields, and the next apply writes them again.)
    keep = list_cache > timedelta(0) and (
        not snapshot.lists_remembered or any(step.kind is Kind.LIST for step in pending)
    )
    final = repository.finish_provisioning_run(
        run_id,
        outcome,
        steps=executor.unrecorded(),
        lists=lists_to_keep(snapshot, manifest, executor.lists()) if keep else None,
    )
    _audit(repository, application, ctx, actor, final)
    emit("run_finished", outcome=outcome, message=f"{done} step(s) done")
    return final


def _step_write(
    position: int, step: Step, outcome: str, remote_id: int | None, detail: Mapping[str, Any]
) -> ProvisioningStepWrite:
    return ProvisioningStepWrite(
        position, str(step.action), str(step.kind), step.key, outcome, remote_id, detail
    )


def _audit(
    repository: Repository,
    application: Application,
    ctx: str,
    actor: str,
    run: ProvisioningRun,
) -> None:
    try:
        repository.record_audit(
            actor,
            f"provisioning.{run.operation}",
            application=application.name,
            context_identifier=ctx,
            summary={
                "run_id": run.id,
                "outcome": run.outcome,
                "steps": run.steps_total,
                "done": sum(1 for s in run.steps if s.outcome != "failed"),
            },
        )
    except Exception:  # the run itself is recorded; an audit hiccup must not mask its outcome
        logger.exception("could not record the audit event of run %s", run.id)
