"""Provisioning manifests: the lists, list items, web panels, buttons and task menus an
application wants in every tenant it is installed in (protocol §7), as TOML, validated into
frozen dataclasses.

::

    model = "internal"            # optional: must match the application's model
    preset = "internal"           # optional: start from a model preset (objects below win)

    [[lists]]
    name = "Acme Sync status"     # natural key: the list's name (case-insensitive)
    tooltip = "Sync states (Acme Sync)"
    [[lists.items]]
    name = "Synced"               # natural key within its list
    rank = 1

    [[web_panels]]
    prog_id = "acme.sync.contact"                 # REQUIRED, unique: the stable natural key
    name = "Acme Sync"
    url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"
    visible_in = "ContactCard"                    # a VisibleIn name (§7.1)
    window_name = "AcmeSyncContact"
    visible_to_everyone = true                    # the default: every user group sees it

    [[buttons]]                   # a navigator button + the browser panel it opens
    prog_id = "acme.sync.main"    # the two panels get "acme.sync.main.panel" / ".button"
    name = "Acme Sync"
    url = "{public_url}/panel/{app}?uctx=<uctx>"

    [[buttons]]                   # a button opening the partner's portal in a NEW window
    prog_id = "acme.sync.portal"  # one panel, "acme.sync.portal.button", WindowName "_blank"
    name = "Acme Sync portal"
    opens = "window"
    url = "{public_url}/portal?uctx=<uctx>"

    [[task_menus]]                # a task menu item (List agent SaveTaskMenu, §7.2)
    prog_id = "acme.sync.task"
    name = "Sync with Acme"
    table_name = "contact"
    url = "{public_url}/panel/{app}?uctx=<uctx>&contact=<cuid>"

Rules:

* URLs are ``https://`` (``http://`` on loopback only) or ``soprotocol:``; they carry SuperOffice
  template variables (``<cuid>``, ``<uctx>``, ...) instead of tenant data, and never a
  hard-coded SuperOffice host (``*.superoffice.com``): a tenant moves between hosts (§1, §6).
  ``{public_url}`` is replaced by the partner's public URL when one is given to the loader,
  ``{app}`` by the application's id (the stable per-application path ``/panel/{app}``).
* A URL that opens the partner's ``/panel`` must name the application (``/panel/{app}`` or
  ``app=``) and take the tenant from SuperOffice's ``<uctx>`` (the context identifier,
  SuperOfficeDocs ``common/includes/variable/generated/system-variables.md``); when the loader
  knows the application (storing a manifest), a panel URL that could never identify it is
  refused with the reason.
* ``visible_in`` / ``url_encoding`` take the enum *names* (open question 14: their numbers come
  from a sample only).
* ``optional = true`` on a list, web panel or button lets the tenant administrator leave it out
  on the installation page (:meth:`Manifest.optional_parts`, :meth:`Manifest.choose`).
* An **external** application has no UI inside SuperOffice: its manifest may hold lists (what
  background work needs) but no web panels, buttons or task menus.
* Every problem is reported with file, line (best effort: the key's line in the source) and
  field, e.g. ``manifest.toml:12: web_panels[1].visible_in: 'NavBar' is not a VisibleIn value``
  (indexes are 0-based, as in TOML tooling). An invalid manifest gives no
  :class:`Manifest`, so nothing can be applied from it.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from toolkit.config import is_superoffice_host
from toolkit.errors import InputFileError, ManifestError
from toolkit.files import MAX_TEXT_FILE_BYTES, read_limited_text
from toolkit.tenant.webapi import UrlEncoding, VisibleIn
from toolkit.text import control_character, describe_character

__all__ = [
    "APPLICATION_MODELS",
    "BUTTON_PANEL_SUFFIX",
    "BUTTON_SUFFIX",
    "ApplicationIdentity",
    "ButtonSpec",
    "ListItemSpec",
    "ListSpec",
    "Manifest",
    "TaskMenuSpec",
    "WebPanelSpec",
    "load_manifest",
    "preset_manifest",
    "preset_text",
]

APPLICATION_MODELS: Final = ("internal", "external", "hybrid")
# ProgIds of the two panels a button expands to: {prog_id}.panel and {prog_id}.button.
BUTTON_PANEL_SUFFIX: Final = ".panel"
BUTTON_SUFFIX: Final = ".button"
# DNO's CreateBrowserPanelWithButton sets Rank 100 on both panels (§7.2) [S].
BUTTON_DEFAULT_RANK: Final = 100
# Bounds that keep a runaway value out of a tenant (not protocol facts).
MAX_NAME: Final = 200
MAX_URL: Final = 2000
MAX_TEXT: Final = 1000
PUBLIC_URL_VARIABLE: Final = "{public_url}"
APP_VARIABLE: Final = "{app}"
# The partner's panel endpoint (toolkit.web.panel) and the query names it reads.
PANEL_PATH: Final = "/panel"
PANEL_APP_PARAMETER: Final = "app"
PANEL_TENANT_PARAMETERS: Final = ("ctx", "uctx")
# SuperOffice's template variable for the context identifier ("online's customer number",
# SuperOfficeDocs common/includes/variable/generated/system-variables.md).
CONTEXT_IDENTIFIER_VARIABLE: Final = "<uctx>"
_CONTEXT_IDENTIFIER = re.compile(r"[Cc][Uu][Ss][Tt][0-9]+")
# A button that opens a NEW browser window: the panel's WindowName is the browsing-context
# target; "_blank" is HTML's new-window target [I] (add-web-panel.md: "the name of the browser
# window where the URL address should be opened"; web-panels/dev/index.md: target="_blank"
# opens a new browser window).
NEW_WINDOW_NAME: Final = "_blank"
BUTTON_OPENS: Final = ("panel", "window")
# Where a button can sit (§7.2): the navigator, the main button bar, the toolbox menu, the
# top panel's New menu.
BUTTON_LOCATIONS: Final = ("NavigatorButton", "ButtonPanelTask", "ToolboxMenu", "TopPanelNewMenu")
# TaskMenu column sizes (docs/en/database/tables/taskmenu.md); its name is also unique.
MAX_TASK_MENU_NAME: Final = 239
MAX_TASK_MENU_URL: Final = 1024
MAX_TASK_MENU_TOOLTIP: Final = 254
MAX_TASK_MENU_TEXT: Final = 256
# The menu a task item merges into: the docs name "Task" only [I].
DEFAULT_TASK_MENU_AREA: Final = "Task"
# Hosts a panel URL must not name: the tenant's host comes from the state API and changes.
SUPEROFFICE_DOMAINS: Final = ("superoffice.com", "superoffice.net")
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1", "[::1]")
# A SuperOffice template variable: <cuid>, <uctx>, <usid>, ... (letters, digits, _).
_TEMPLATE_VARIABLE = re.compile(r"<([^<>]*)>")
_VARIABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PROG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")

E = TypeVar("E", VisibleIn, UrlEncoding)
T = TypeVar("T")

_PANEL_FLAGS: Final = (
    "on_central",
    "on_satellite",
    "on_travel",
    "on_sales_marketing_web",
    "on_sales_marketing_pocket",
    "show_in_menu_bar",
    "show_in_tool_bar",
    "show_in_address_bar",
    "show_in_status_bar",
    "always_reload_on_show",
    "never_reload_on_current_change",
)
# RZ's defaults for a new panel (§7.1) [S]; the rest are the type's zero values.
_FLAG_DEFAULTS: Final[Mapping[str, bool]] = {
    "on_central": True,
    "on_satellite": True,
    "on_sales_marketing_web": True,
}
_PANEL_KEYS: Final = frozenset(
    {
        "visible_to_everyone",
        "prog_id",
        "name",
        "url",
        "visible_in",
        "window_name",
        "url_encoding",
        "tooltip",
        "rank",
        "icon",
        "optional",
        *_PANEL_FLAGS,
    }
)
_BUTTON_KEYS: Final = frozenset(
    {
        "prog_id",
        "name",
        "url",
        "window_name",
        "url_encoding",
        "tooltip",
        "rank",
        "icon",
        "panel_name",
        "optional",
        "opens",
        "visible_in",
        "visible_to_everyone",
        *_PANEL_FLAGS,
    }
)
_TASK_MENU_KEYS: Final = frozenset(
    {
        "prog_id",
        "name",
        "url",
        "table_name",
        "area",
        "tooltip",
        "rank",
        "show_in_client",
        "archive_behaviour",
        "encoding",
        "optional",
    }
)
_LIST_KEYS: Final = frozenset({"name", "tooltip", "rank", "items", "optional"})
_ITEM_KEYS: Final = frozenset({"name", "tooltip", "rank"})
_TOP_KEYS: Final = frozenset({"model", "preset", "lists", "web_panels", "buttons", "task_menus"})


# ============================================================================================
# The model
# ============================================================================================


@dataclass(frozen=True)
class ListItemSpec:
    """A desired list item; keyed by ``name`` (case-insensitive) within its list (§7.4)."""

    name: str
    tooltip: str = ""
    rank: int = 0

    def fields(self) -> dict[str, Any]:
        """The ListItemEntity fields the manifest decides (PascalCase, as on the wire)."""
        return {"Name": self.name, "Tooltip": self.tooltip, "Rank": self.rank}


@dataclass(frozen=True)
class ListSpec:
    """A desired list (a user-defined list when it has to be created, §7.3), keyed by name.

    A list of that name that exists already and the application did not create (``Category``,
    another app's list) is only *used*: its items from the manifest are managed, its definition
    is left alone.
    """

    name: str
    tooltip: str = ""
    rank: int = 0
    items: tuple[ListItemSpec, ...] = ()
    # The administrator may leave it out on the installation page (items come with it).
    optional: bool = False

    def fields(self) -> dict[str, Any]:
        return {"Name": self.name, "Tooltip": self.tooltip, "Rank": self.rank}


@dataclass(frozen=True)
class WebPanelSpec:
    """A desired web panel (WebPanelEntity, §7.1), keyed by ``prog_id``.

    ``origin`` says where in the manifest it came from (``web_panels[0]``, ``buttons[1]``).
    """

    prog_id: str
    name: str
    url: str
    visible_in: VisibleIn
    window_name: str = ""
    url_encoding: UrlEncoding = UrlEncoding.None_
    tooltip: str = ""
    rank: int = 0
    icon: int = 0
    on_central: bool = True
    on_satellite: bool = True
    on_travel: bool = False
    on_sales_marketing_web: bool = True
    on_sales_marketing_pocket: bool = False
    show_in_menu_bar: bool = False
    show_in_tool_bar: bool = False
    show_in_address_bar: bool = False
    show_in_status_bar: bool = False
    always_reload_on_show: bool = False
    never_reload_on_current_change: bool = False
    optional: bool = False  # the administrator may leave it out on the installation page
    # Visible for every user group once created (SuperOffice's provisioning guide: "make sure
    # visibility of example web panels is set to Everyone"); set through the list item's
    # UserGroups, not a WebPanelEntity field.
    visible_to_everyone: bool = True
    # "buttons" for the panels a [[buttons]] entry expands to (the installation page groups
    # by it), "web_panels" otherwise.
    group: str = field(default="web_panels", compare=False)
    origin: str = field(default="", compare=False)

    def entity_fields(self) -> dict[str, Any]:
        """The :class:`~toolkit.tenant.WebPanelEntity` keyword arguments the manifest decides."""
        values = asdict(self)
        for name in ("origin", "optional", "visible_to_everyone", "group"):
            values.pop(name)
        return values

    def fields(self) -> dict[str, Any]:
        """The same, PascalCase as on the wire (for plans and diffs)."""
        return {
            "ProgId": self.prog_id,
            "Name": self.name,
            "Url": self.url,
            "VisibleIn": str(self.visible_in),
            "WindowName": self.window_name,
            "UrlEncoding": str(self.url_encoding),
            "Tooltip": self.tooltip,
            "Rank": self.rank,
            "Icon": self.icon,
            "OnCentral": self.on_central,
            "OnSatellite": self.on_satellite,
            "OnTravel": self.on_travel,
            "OnSalesMarketingWeb": self.on_sales_marketing_web,
            "OnSalesMarketingPocket": self.on_sales_marketing_pocket,
            "ShowInMenuBar": self.show_in_menu_bar,
            "ShowInToolBar": self.show_in_tool_bar,
            "ShowInAddressBar": self.show_in_address_bar,
            "ShowInStatusBar": self.show_in_status_bar,
            "AlwaysReloadOnShow": self.always_reload_on_show,
            "NeverReloadOnCurrentChange": self.never_reload_on_current_change,
        }


def clean(text: str) -> str:
    """DNO's ``Clean``: everything outside ``[0-9a-zA-Z]`` stripped (§7.2) [S]."""
    return _NOT_ALNUM.sub("", text)


@dataclass(frozen=True)
class ButtonSpec:
    """A button (§7.2). ``opens = "panel"`` (the default): a navigator button plus the browser
    panel it opens inside SuperOffice, two web panels. ``opens = "window"``: one web panel in a
    button location (``visible_in``, default ``NavigatorButton``) whose ``Url`` is the partner's
    portal and whose ``WindowName`` is ``_blank``, so the portal opens in a new browser window
    [I] (see :data:`NEW_WINDOW_NAME`); ProgId ``{prog_id}.button``.

    With ``opens = "panel"``:

    * the panel: ``VisibleIn=BrowserPanel``, ``Name`` = ``panel_name`` (default ``name``),
      ``WindowName`` = ``{Clean(window_name or name)}Window``, ``Url`` = ``url``, ProgId
      ``{prog_id}.panel``;
    * the button: ``VisibleIn=NavigatorButton``, ``Name`` = ``name`` (what the navigator
      shows), ``WindowName`` = ``{Clean(window_name or name)}ButtonWindow``, ``Url`` =
      ``soprotocol:browser.{the PANEL's WindowName}``, ProgId ``{prog_id}.button``.

    DNO's sample points the button at its *own* window name; the intent is clearly to open the
    panel's window, so we target the panel (protocol §7.2 marks the exact target [I]).
    """

    prog_id: str
    name: str
    url: str
    window_name: str = ""
    panel_name: str = ""
    url_encoding: UrlEncoding = UrlEncoding.None_
    tooltip: str = ""
    rank: int = BUTTON_DEFAULT_RANK
    icon: int = 0
    flags: tuple[tuple[str, bool], ...] = ()
    optional: bool = False  # the administrator may leave it out on the installation page
    opens: str = "panel"  # or "window" (BUTTON_OPENS)
    visible_in: VisibleIn = VisibleIn.NavigatorButton
    visible_to_everyone: bool = True
    origin: str = field(default="", compare=False)

    @property
    def panel_window_name(self) -> str:
        return f"{clean(self.window_name or self.name)}Window"

    @property
    def opens_window(self) -> bool:
        return self.opens == "window"

    def panels(self) -> tuple[WebPanelSpec, ...]:
        """(the browser panel, the navigator button), or (the new-window button,)."""
        flags = dict(self.flags)
        common: dict[str, Any] = {
            "url_encoding": self.url_encoding,
            "tooltip": self.tooltip,
            "rank": self.rank,
            "icon": self.icon,
            "visible_to_everyone": self.visible_to_everyone,
            "group": "buttons",
            "origin": self.origin,
            **flags,
        }
        if self.opens_window:
            return (
                WebPanelSpec(
                    prog_id=f"{self.prog_id}{BUTTON_SUFFIX}",
                    name=self.name,
                    url=self.url,
                    visible_in=self.visible_in,
                    window_name=NEW_WINDOW_NAME,
                    **common,
                ),
            )
        panel = WebPanelSpec(
            prog_id=f"{self.prog_id}{BUTTON_PANEL_SUFFIX}",
            name=self.panel_name or self.name,
            url=self.url,
            visible_in=VisibleIn.BrowserPanel,
            window_name=self.panel_window_name,
            **common,
        )
        button = WebPanelSpec(
            prog_id=f"{self.prog_id}{BUTTON_SUFFIX}",
            name=self.name,
            # [I] protocol §7.2: DNO targets the button's own window; we open the panel's.
            url=f"soprotocol:browser.{self.panel_window_name}",
            visible_in=self.visible_in,
            window_name=f"{clean(self.window_name or self.name)}ButtonWindow",
            **common,
        )
        return panel, button


@dataclass(frozen=True)
class TaskMenuSpec:
    """A desired task menu item (``TaskMenu``, §7.2), keyed by ``prog_id``.

    ``TaskType`` follows the URL: ``Url`` for https, ``SoProtocol`` for ``soprotocol:``
    (CRMScript items are not provisioned from manifests).
    """

    prog_id: str
    name: str
    url: str
    table_name: str = ""
    area: str = DEFAULT_TASK_MENU_AREA
    tooltip: str = ""
    rank: int = 0
    show_in_client: str = "Web"
    archive_behaviour: str = "None"
    encoding: UrlEncoding = UrlEncoding.None_
    optional: bool = False
    origin: str = field(default="", compare=False)

    @property
    def task_type(self) -> str:
        return "SoProtocol" if self.url.lower().startswith("soprotocol:") else "Url"

    def fields(self) -> dict[str, Any]:
        """The TaskMenu fields the manifest decides (PascalCase, as on the wire)."""
        return {
            "ProgId": self.prog_id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "TableName": self.table_name,
            "Area": self.area,
            "UrlOrSoprotocol": self.url,
            "TaskType": self.task_type,
            "ShowInClient": self.show_in_client,
            "ArchiveBehaviour": self.archive_behaviour,
            "Rank": self.rank,
            "Encoding": str(self.encoding),
        }


@dataclass(frozen=True)
class ApplicationIdentity:
    """The application a manifest is loaded for: ``{app}`` becomes ``id``; a ``/panel`` URL
    must name ``id`` or ``name``."""

    id: str
    name: str
    # Refuse a /panel URL that could never identify the application (storing a manifest).
    check_panel_urls: bool = True

    def named_by(self, value: str) -> bool:
        folded = value.strip().casefold()
        return folded in (self.id.casefold(), self.name.casefold())


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. ``source`` names where it came from (for messages)."""

    lists: tuple[ListSpec, ...] = ()
    web_panels: tuple[WebPanelSpec, ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()
    model: str | None = None
    source: str = field(default="<manifest>", compare=False)
    task_menus: tuple[TaskMenuSpec, ...] = ()

    def all_web_panels(self) -> tuple[WebPanelSpec, ...]:
        """The web panels, then each button's two panels."""
        expanded = [panel for button in self.buttons for panel in button.panels()]
        return (*self.web_panels, *expanded)

    @property
    def prog_ids(self) -> frozenset[str]:
        """The web panels' ProgIds (task menus have their own: :attr:`task_menu_prog_ids`)."""
        return frozenset(panel.prog_id for panel in self.all_web_panels())

    @property
    def task_menu_prog_ids(self) -> frozenset[str]:
        return frozenset(spec.prog_id for spec in self.task_menus)

    def list_named(self, name: str) -> ListSpec | None:
        folded = name.casefold()
        return next((spec for spec in self.lists if spec.name.casefold() == folded), None)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready view: lists with items, every web panel's wire fields."""
        return {
            "model": self.model,
            "lists": [
                {**spec.fields(), "Items": [item.fields() for item in spec.items]}
                for spec in self.lists
            ],
            "web_panels": [
                {**panel.fields(), **({} if panel.visible_to_everyone else {"Everyone": False})}
                for panel in self.all_web_panels()
            ],
            **({"task_menus": [s.fields() for s in self.task_menus]} if self.task_menus else {}),
        }

    @property
    def digest(self) -> str:
        """SHA-256 of :meth:`describe` (canonical JSON): equal manifests, equal digests."""
        text = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def is_empty(self) -> bool:
        return not (self.lists or self.web_panels or self.buttons or self.task_menus)

    def optional_parts(self) -> tuple[tuple[str, str, str], ...]:
        """``(key, kind, name)`` of every entry marked ``optional``: what the installation page
        offers as checkboxes. Keys are ``list:{name}``, ``web_panel:{prog_id}``,
        ``button:{prog_id}``."""
        return (
            *((f"list:{s.name}", "list", s.name) for s in self.lists if s.optional),
            *(
                (f"web_panel:{s.prog_id}", "web_panel", s.name)
                for s in self.web_panels
                if s.optional
            ),
            *((f"button:{s.prog_id}", "button", s.name) for s in self.buttons if s.optional),
            *(
                (f"task_menu:{s.prog_id}", "task_menu", s.name)
                for s in self.task_menus
                if s.optional
            ),
        )

    def choose(self, selected: Iterable[str]) -> Manifest:
        """This manifest without the optional entries whose key is not in ``selected``."""
        keep = set(selected)
        return replace(
            self,
            lists=tuple(s for s in self.lists if not s.optional or f"list:{s.name}" in keep),
            web_panels=tuple(
                s for s in self.web_panels if not s.optional or f"web_panel:{s.prog_id}" in keep
            ),
            buttons=tuple(
                s for s in self.buttons if not s.optional or f"button:{s.prog_id}" in keep
            ),
            task_menus=tuple(
                s for s in self.task_menus if not s.optional or f"task_menu:{s.prog_id}" in keep
            ),
        )


# ============================================================================================
# Loading and validation
# ============================================================================================


# A ``[[table.name]]`` header, a ``key =`` line and any table header line (``[`` first).
_ARRAY_HEADER: Final = re.compile(r"^\s*\[\[\s*(.*?)\s*\]\]")
_KEY_LINE: Final = re.compile(r"^\s*([A-Za-z_]+)\s*=")
_TABLE_LINE: Final = re.compile(r"^\s*\[")


class _Problems:
    """Collects ``(line, field, message)`` with the line found in the source (best effort)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.found: list[tuple[int | None, str, str]] = []
        # Built once on the first lookup, so locating every problem of a large manifest stays
        # linear in its size (one pass over the lines), not lines x problems.
        self._headers: dict[str, list[int]] | None = None
        self._first_key: dict[str, int] = {}
        self._section_keys: dict[int, dict[str, int]] = {}

    def add(self, path: str, message: str) -> None:
        self.found.append((self.line_of(path), path, message))

    def _index(self) -> dict[str, list[int]]:
        if self._headers is None:
            self._headers = {}
            for number, line in enumerate(self.lines):
                header = _ARRAY_HEADER.match(line)
                if header:
                    self._headers.setdefault(header.group(1), []).append(number)
                key = _KEY_LINE.match(line)
                if key:
                    self._first_key.setdefault(key.group(1), number + 1)
        return self._headers

    def _keys_from(self, start: int) -> dict[str, int]:
        """First line (1-based) of each ``key =`` from ``start`` up to the next ``[`` line."""
        keys = self._section_keys.get(start)
        if keys is None:
            keys = {}
            for number in range(start, len(self.lines)):
                line = self.lines[number]
                if number > start and _TABLE_LINE.match(line):
                    break
                key = _KEY_LINE.match(line)
                if key:
                    keys.setdefault(key.group(1), number + 1)
            self._section_keys[start] = keys
        return keys

    def line_of(self, path: str) -> int | None:
        """The 1-based line of ``path`` (``web_panels[1].visible_in``) in the TOML text.

        Walks ``[[table]]`` headers by count for each indexed segment, then looks for the
        key after it; falls back to the first ``key =`` anywhere, else to the table's header.
        """
        headers = self._index()
        segments = re.findall(r"([A-Za-z_]+)(?:\[(\d+)\])?", path)
        start = 0
        header_line: int | None = None
        prefix: list[str] = []
        for name, index in segments:
            prefix.append(name)
            if index:
                found = headers.get(".".join(prefix), [])
                position = bisect.bisect_left(found, start) + int(index)
                if position >= len(found):
                    return self._anywhere(segments[-1][0]) or header_line
                start = found[position] + 1
                header_line = found[position] + 1
            else:
                return self._keys_from(start).get(name) or header_line or self._anywhere(name)
        return header_line

    def _anywhere(self, name: str) -> int | None:
        self._index()
        return self._first_key.get(name)


def _text_value(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    problems: _Problems,
    *,
    required: bool = False,
    limit: int = MAX_NAME,
    default: str = "",
) -> str:
    value = raw.get(key)
    where = f"{path}.{key}"
    if value is None:
        if required:
            problems.add(where, "is required")
        return default
    if not isinstance(value, str):
        problems.add(where, f"must be a string, not {type(value).__name__}")
        return default
    value = value.strip()
    if required and not value:
        problems.add(where, "must not be empty")
    if len(value) > limit:
        problems.add(where, f"is longer than {limit} characters")
    character = control_character(value)
    if character is not None:
        # NUL, CR/LF, bidi overrides: pushed to every tenant, they would change how the name or
        # URL is read or sent there.
        problems.add(where, f"contains the control character {describe_character(character)}")
        return default
    return value


def _int_value(
    raw: Mapping[str, Any], key: str, path: str, problems: _Problems, default: int = 0
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(f"{path}.{key}", f"must be an integer, not {type(value).__name__}")
        return default
    if not -(2**31) <= value < 2**31:
        problems.add(f"{path}.{key}", "is out of the 32-bit integer range")
        return default
    return value


def _bool_value(raw: Mapping[str, Any], key: str, path: str, problems: _Problems) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        problems.add(f"{path}.{key}", f"must be true or false, not {value!r}")
        return False
    return value


def _flags(raw: Mapping[str, Any], path: str, problems: _Problems) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for name in _PANEL_FLAGS:
        if name not in raw:
            continue
        value = raw[name]
        if not isinstance(value, bool):
            problems.add(f"{path}.{name}", f"must be true or false, not {value!r}")
            continue
        flags[name] = value
    return flags


def _enum_value(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    problems: _Problems,
    *,
    cls: type[E],
    default: E | None,
) -> E | None:
    value = raw.get(key)
    if value is None:
        if default is None:
            problems.add(f"{path}.{key}", "is required")
        return default
    name = "VisibleIn" if cls is VisibleIn else "UrlEncoding"
    if isinstance(value, str):
        for member in cls:
            if member.value.casefold() == value.strip().casefold():
                return member
    problems.add(f"{path}.{key}", f"{value!r} is not a {name} value")
    return default


def _check_keys(
    raw: Mapping[str, Any], allowed: frozenset[str], path: str, problems: _Problems
) -> None:
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            problems.add(where, f"unknown key (expected one of {', '.join(sorted(allowed))})")


def _url_value(
    raw: Mapping[str, Any],
    path: str,
    problems: _Problems,
    public_url: str | None,
    application: ApplicationIdentity | None = None,
    *,
    limit: int = MAX_URL,
) -> str:
    url = _text_value(raw, "url", path, problems, required=True, limit=limit)
    where = f"{path}.url"
    if not url:
        return url
    if PUBLIC_URL_VARIABLE in url:
        if public_url is None:
            problems.add(where, f"uses {PUBLIC_URL_VARIABLE} but no public URL was given")
            return url
        url = url.replace(PUBLIC_URL_VARIABLE, public_url.rstrip("/"))
    if APP_VARIABLE in url:
        if application is None:
            problems.add(where, f"uses {APP_VARIABLE} but no application was given")
            return url
        url = url.replace(APP_VARIABLE, quote(application.id, safe=""))
    for variable in _TEMPLATE_VARIABLE.findall(url):
        if not _VARIABLE_NAME.fullmatch(variable):
            problems.add(where, f"<{variable}> is not a template variable such as <cuid>")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "soprotocol":
        return url
    if scheme not in ("https", "http"):
        problems.add(where, f"must be an https:// or soprotocol: URL, not {url!r}")
        return url
    host = (parts.hostname or "").lower()
    if not host:
        problems.add(where, "has no host")
        return url
    if "<" in (parts.netloc or ""):
        problems.add(where, "must not build its host from template variables")
    if is_superoffice_host(host):  # any spelling: case, a trailing dot, full-width dots
        problems.add(
            where,
            f"names the SuperOffice host {host!r}: a tenant moves between hosts; use template "
            "variables such as <cuid> / <uctx> and the partner's own host",
        )
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        problems.add(where, "plain http:// is allowed on loopback only")
    if application is not None and application.check_panel_urls:
        _check_panel_target(url, where, problems, application)
    return url


def _check_panel_target(
    url: str, where: str, problems: _Problems, application: ApplicationIdentity
) -> None:
    """A URL that opens the partner's ``/panel`` must let it know the application and the
    tenant when SuperOffice opens it: ``/panel/{app}`` (or ``app=``) and ``uctx=<uctx>``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path != PANEL_PATH and not path.startswith(f"{PANEL_PATH}/"):
        return
    rest = path[len(PANEL_PATH) :].lstrip("/")
    if "/" in rest:
        return  # /panel/{app}/... is not the panel page (e.g. /panel/logout is not used here)
    query = parse_qs(parts.query, keep_blank_values=True)
    named = [unquote(rest)] if rest else query.get(PANEL_APP_PARAMETER, [])
    if not named or not named[0].strip():
        problems.add(
            where,
            f"opens {PANEL_PATH} without naming the application, so the panel could never "
            f"tell which application it is: use {{public_url}}{PANEL_PATH}/{APP_VARIABLE}"
            f"?uctx={CONTEXT_IDENTIFIER_VARIABLE}",
        )
    elif "<" in named[0]:
        problems.add(where, "the application must be written in the URL, not a template variable")
    elif not application.named_by(named[0]):
        problems.add(
            where,
            f"names the application {named[0]!r}, not {application.name!r} ({application.id}): "
            f"use {APP_VARIABLE}",
        )
    tenants = [v for name in PANEL_TENANT_PARAMETERS for v in query.get(name, [])]
    if not any(
        v.strip().casefold() == CONTEXT_IDENTIFIER_VARIABLE or _CONTEXT_IDENTIFIER.fullmatch(v)
        for v in tenants
    ):
        problems.add(
            where,
            f"opens {PANEL_PATH} without the tenant: add uctx={CONTEXT_IDENTIFIER_VARIABLE} "
            "(SuperOffice fills in the context identifier)",
        )


def _visible_to_everyone(raw: Mapping[str, Any], path: str, problems: _Problems) -> bool:
    value = raw.get("visible_to_everyone", True)
    if not isinstance(value, bool):
        problems.add(f"{path}.visible_to_everyone", f"must be true or false, not {value!r}")
        return True
    return value


def _panel(
    raw: Any,
    path: str,
    problems: _Problems,
    public_url: str | None,
    application: ApplicationIdentity | None = None,
) -> WebPanelSpec | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "must be a table")
        return None
    _check_keys(raw, _PANEL_KEYS, path, problems)
    prog_id = _prog_id(raw, path, problems)
    visible_in = _enum_value(raw, "visible_in", path, problems, cls=VisibleIn, default=None)
    encoding = _enum_value(
        raw, "url_encoding", path, problems, cls=UrlEncoding, default=UrlEncoding.None_
    )
    spec_fields: dict[str, Any] = {**_FLAG_DEFAULTS, **_flags(raw, path, problems)}
    name = _text_value(raw, "name", path, problems, required=True)
    url = _url_value(raw, path, problems, public_url, application)
    window = _text_value(raw, "window_name", path, problems)
    tooltip = _text_value(raw, "tooltip", path, problems, limit=MAX_TEXT)
    rank = _int_value(raw, "rank", path, problems)
    icon = _int_value(raw, "icon", path, problems)
    if visible_in is None or encoding is None:
        return None
    return WebPanelSpec(
        prog_id=prog_id,
        name=name,
        url=url,
        visible_in=visible_in,
        window_name=window,
        url_encoding=encoding,
        tooltip=tooltip,
        rank=rank,
        icon=icon,
        optional=_bool_value(raw, "optional", path, problems),
        visible_to_everyone=_visible_to_everyone(raw, path, problems),
        origin=path,
        **spec_fields,
    )


def _prog_id(raw: Mapping[str, Any], path: str, problems: _Problems) -> str:
    prog_id = _text_value(raw, "prog_id", path, problems, required=True)
    if prog_id and not _PROG_ID.fullmatch(prog_id):
        problems.add(
            f"{path}.prog_id",
            f"{prog_id!r} must be letters, digits and . _ : - (a stable key such as "
            "'acme.sync.contact')",
        )
    return prog_id


def _button(
    raw: Any,
    path: str,
    problems: _Problems,
    public_url: str | None,
    application: ApplicationIdentity | None = None,
) -> ButtonSpec | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "must be a table")
        return None
    _check_keys(raw, _BUTTON_KEYS, path, problems)
    prog_id = _prog_id(raw, path, problems)
    encoding = _enum_value(
        raw, "url_encoding", path, problems, cls=UrlEncoding, default=UrlEncoding.None_
    )
    name = _text_value(raw, "name", path, problems, required=True)
    window = _text_value(raw, "window_name", path, problems)
    opens = raw.get("opens", "panel")
    if opens not in BUTTON_OPENS:
        problems.add(f"{path}.opens", f"{opens!r} is not one of {', '.join(BUTTON_OPENS)}")
        opens = "panel"
    if opens == "window" and window:
        problems.add(
            f"{path}.window_name", f"a button that opens a new window uses {NEW_WINDOW_NAME}"
        )
    if name and not clean(window or name):
        problems.add(
            f"{path}.window_name" if window else f"{path}.name",
            "needs letters or digits to make a window name from",
        )
    location = _enum_value(
        raw, "visible_in", path, problems, cls=VisibleIn, default=VisibleIn.NavigatorButton
    )
    if location is not None and location.value not in BUTTON_LOCATIONS:
        problems.add(
            f"{path}.visible_in",
            f"{location.value!r} is not a button location ({', '.join(BUTTON_LOCATIONS)})",
        )
    url = _url_value(raw, path, problems, public_url, application)
    if opens == "window" and url.lower().startswith("soprotocol:"):
        problems.add(f"{path}.url", "a button that opens a new window needs an https:// URL")
    return ButtonSpec(
        prog_id=prog_id,
        name=name,
        url=url,
        window_name=window,
        panel_name=_text_value(raw, "panel_name", path, problems),
        url_encoding=encoding or UrlEncoding.None_,
        tooltip=_text_value(raw, "tooltip", path, problems, limit=MAX_TEXT),
        rank=_int_value(raw, "rank", path, problems, BUTTON_DEFAULT_RANK),
        icon=_int_value(raw, "icon", path, problems),
        flags=tuple(sorted(_flags(raw, path, problems).items())),
        optional=_bool_value(raw, "optional", path, problems),
        opens=str(opens),
        visible_in=location or VisibleIn.NavigatorButton,
        visible_to_everyone=_visible_to_everyone(raw, path, problems),
        origin=path,
    )


_SHOW_IN_CLIENT: Final = ("None", "Web", "Mobile")  # showtaskiteminclient.md
_ARCHIVE_BEHAVIOUR: Final = ("None", "InArchives", "MultiSelectInArchives")  # archivebehaviour.md
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _choice(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    problems: _Problems,
    names: tuple[str, ...],
    *,
    default: str,
) -> str:
    value = raw.get(key, default)
    if isinstance(value, str):
        for name in names:
            if name.casefold() == value.strip().casefold():
                return name
    problems.add(f"{path}.{key}", f"{value!r} is not one of {', '.join(names)}")
    return default


def _task_menu(
    raw: Any,
    path: str,
    problems: _Problems,
    public_url: str | None,
    application: ApplicationIdentity | None = None,
) -> TaskMenuSpec | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "must be a table")
        return None
    _check_keys(raw, _TASK_MENU_KEYS, path, problems)
    table_name = _text_value(raw, "table_name", path, problems, limit=MAX_TASK_MENU_TEXT)
    if table_name and not _TABLE_NAME.fullmatch(table_name):
        problems.add(f"{path}.table_name", f"{table_name!r} is not an entity name such as contact")
    encoding = _enum_value(
        raw, "encoding", path, problems, cls=UrlEncoding, default=UrlEncoding.None_
    )
    return TaskMenuSpec(
        prog_id=_prog_id(raw, path, problems),
        name=_text_value(raw, "name", path, problems, required=True, limit=MAX_TASK_MENU_NAME),
        url=_url_value(raw, path, problems, public_url, application, limit=MAX_TASK_MENU_URL),
        table_name=table_name,
        area=_text_value(raw, "area", path, problems, limit=MAX_TASK_MENU_TEXT)
        or DEFAULT_TASK_MENU_AREA,
        tooltip=_text_value(raw, "tooltip", path, problems, limit=MAX_TASK_MENU_TOOLTIP),
        rank=_int_value(raw, "rank", path, problems),
        show_in_client=_choice(
            raw, "show_in_client", path, problems, _SHOW_IN_CLIENT, default="Web"
        ),
        archive_behaviour=_choice(
            raw, "archive_behaviour", path, problems, _ARCHIVE_BEHAVIOUR, default="None"
        ),
        encoding=encoding or UrlEncoding.None_,
        optional=_bool_value(raw, "optional", path, problems),
        origin=path,
    )


def _list(raw: Any, path: str, problems: _Problems) -> ListSpec | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "must be a table")
        return None
    _check_keys(raw, _LIST_KEYS, path, problems)
    name = _text_value(raw, "name", path, problems, required=True)
    items_raw = raw.get("items", [])
    items: list[ListItemSpec] = []
    if not isinstance(items_raw, list):
        problems.add(f"{path}.items", "must be an array of tables ([[lists.items]])")
        items_raw = []
    seen: dict[str, int] = {}
    for index, item_raw in enumerate(items_raw):
        item_path = f"{path}.items[{index}]"
        if not isinstance(item_raw, Mapping):
            problems.add(item_path, "must be a table")
            continue
        _check_keys(item_raw, _ITEM_KEYS, item_path, problems)
        item = ListItemSpec(
            name=_text_value(item_raw, "name", item_path, problems, required=True),
            tooltip=_text_value(item_raw, "tooltip", item_path, problems, limit=MAX_TEXT),
            rank=_int_value(item_raw, "rank", item_path, problems),
        )
        folded = item.name.casefold()
        if folded and folded in seen:
            problems.add(
                f"{item_path}.name",
                f"{item.name!r} is already {path}.items[{seen[folded]}] (names are the key)",
            )
            continue
        seen[folded] = index
        items.append(item)
    return ListSpec(
        name=name,
        tooltip=_text_value(raw, "tooltip", path, problems, limit=MAX_TEXT),
        rank=_int_value(raw, "rank", path, problems),
        items=tuple(items),
        optional=_bool_value(raw, "optional", path, problems),
    )


def _array(document: Mapping[str, Any], key: str, problems: _Problems) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        problems.add(key, f"must be an array of tables ([[{key}]])")
        return []
    return value


def _merge(base: Iterable[T], own: Iterable[T], key: Callable[[T], str]) -> tuple[T, ...]:
    """``base`` (a preset's objects) overridden by ``own`` objects with the same key."""
    mine = list(own)
    keys = {key(item) for item in mine}
    return (*(item for item in base if key(item) not in keys), *mine)


def _validate(
    document: Mapping[str, Any],
    problems: _Problems,
    *,
    model: str | None,
    public_url: str | None,
    source: str,
    application: ApplicationIdentity | None = None,
    check_panel_urls: bool = True,
) -> Manifest:
    _check_keys(document, _TOP_KEYS, "", problems)
    declared = document.get("model")
    if declared is not None and declared not in APPLICATION_MODELS:
        problems.add("model", f"{declared!r} is not one of {', '.join(APPLICATION_MODELS)}")
        declared = None
    if model is not None and model not in APPLICATION_MODELS:
        raise ValueError(f"model must be one of {', '.join(APPLICATION_MODELS)}")
    if declared is not None and model is not None and declared != model:
        problems.add("model", f"the manifest is for {declared!r}, the application is {model!r}")
    effective = model or declared
    if application is not None and application.check_panel_urls != check_panel_urls:
        application = replace(application, check_panel_urls=check_panel_urls)

    lists = [
        _list(raw, f"lists[{i}]", problems)
        for i, raw in enumerate(_array(document, "lists", problems))
    ]
    panels = [
        _panel(raw, f"web_panels[{i}]", problems, public_url, application)
        for i, raw in enumerate(_array(document, "web_panels", problems))
    ]
    buttons = [
        _button(raw, f"buttons[{i}]", problems, public_url, application)
        for i, raw in enumerate(_array(document, "buttons", problems))
    ]
    task_menus = [
        _task_menu(raw, f"task_menus[{i}]", problems, public_url, application)
        for i, raw in enumerate(_array(document, "task_menus", problems))
    ]
    manifest = Manifest(
        lists=tuple(spec for spec in lists if spec is not None),
        web_panels=tuple(spec for spec in panels if spec is not None),
        buttons=tuple(spec for spec in buttons if spec is not None),
        model=effective,
        source=source,
        task_menus=tuple(spec for spec in task_menus if spec is not None),
    )

    preset = document.get("preset")
    if preset is not None:
        if preset not in APPLICATION_MODELS:
            problems.add("preset", f"{preset!r} is not one of {', '.join(APPLICATION_MODELS)}")
        else:
            base = preset_manifest(preset, public_url=public_url, application=application)
            manifest = Manifest(
                lists=_merge(base.lists, manifest.lists, lambda s: s.name.casefold()),
                web_panels=_merge(base.web_panels, manifest.web_panels, lambda s: s.prog_id),
                buttons=_merge(base.buttons, manifest.buttons, lambda s: s.prog_id),
                model=effective,
                source=source,
                task_menus=_merge(base.task_menus, manifest.task_menus, lambda s: s.prog_id),
            )

    _check_unique(manifest, problems)
    if effective == "external":
        for spec in manifest.web_panels:
            problems.add(
                spec.origin or "web_panels",
                "an external application has no UI inside SuperOffice: no web panels",
            )
        for button in manifest.buttons:
            problems.add(
                button.origin or "buttons",
                "an external application has no UI inside SuperOffice: no buttons",
            )
        for task_menu in manifest.task_menus:
            problems.add(
                task_menu.origin or "task_menus",
                "an external application has no UI inside SuperOffice: no task menus",
            )
    return manifest


def _check_unique(manifest: Manifest, problems: _Problems) -> None:
    names: dict[str, int] = {}
    for index, spec in enumerate(manifest.lists):
        folded = spec.name.casefold()
        if folded and folded in names:
            problems.add(f"lists[{index}].name", f"{spec.name!r} is already lists[{names[folded]}]")
        names.setdefault(folded, index)
    prog_ids: dict[str, str] = {}
    for panel in manifest.all_web_panels():
        if not panel.prog_id:
            continue
        folded = panel.prog_id.casefold()
        if folded in prog_ids:
            problems.add(
                f"{panel.origin}.prog_id",
                f"{panel.prog_id!r} is already used by {prog_ids[folded]} (ProgIds are unique)",
            )
        else:
            prog_ids[folded] = panel.origin
    # Task menus: ProgIds unique among them; names unique (the TaskMenu table's unique index,
    # docs/en/database/tables/taskmenu.md).
    for key, label in (("prog_id", "ProgIds"), ("name", "names")):
        seen: dict[str, str] = {}
        for task_menu in manifest.task_menus:
            value = str(getattr(task_menu, key)).casefold()
            if not value:
                continue
            if value in seen:
                problems.add(
                    f"{task_menu.origin}.{key}",
                    f"{getattr(task_menu, key)!r} is already used by {seen[value]} "
                    f"(task menu {label} are unique)",
                )
            else:
                seen[value] = task_menu.origin


def load_manifest(
    source: str | Path,
    *,
    model: str | None = None,
    public_url: str | None = None,
    name: str | None = None,
    application: ApplicationIdentity | None = None,
    check_panel_urls: bool = True,
) -> Manifest:
    """Read and validate a manifest from a :class:`~pathlib.Path` or TOML text.

    ``model`` is the application's model (internal / external / hybrid): a manifest declaring
    another one is refused, and an external one may hold no web panels or buttons.
    ``public_url`` replaces ``{public_url}`` in URLs; ``application`` replaces ``{app}`` and
    turns on the ``/panel`` URL check (the application and ``<uctx>``, see the module doc)
    unless ``check_panel_urls`` is false (reading back a manifest stored before the check).
    ``name`` names the source in messages
    (default: the file's name, or ``<manifest>``). Raises :class:`~toolkit.errors.ManifestError`
    listing every problem as ``file:line: field: message``.
    """
    if isinstance(source, Path):
        label = name or source.name
        try:
            text = read_limited_text(source, limit=MAX_MANIFEST_BYTES, what="manifest")
        except InputFileError as exc:
            raise ManifestError(label, [(None, "", str(exc))]) from None
    else:
        label = name or "<manifest>"
        text = source
    _check_shape(text, label)
    try:
        document = tomllib.loads(text)
    except RecursionError:  # _check_shape bounds nesting first; this is the last guard
        raise ManifestError(label, [(None, "", "is nested too deeply")]) from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ManifestError(label, [(line, "", f"not valid TOML: {message}")]) from None
    problems = _Problems(text)
    manifest = _validate(
        document,
        problems,
        model=model,
        public_url=public_url,
        source=label,
        application=application,
        check_panel_urls=check_panel_urls,
    )
    if problems.found:
        raise ManifestError(label, sorted(problems.found, key=_by_line))
    return manifest


# A manifest is hand-written: a few kilobytes. Larger is a mistake or an attack.
MAX_MANIFEST_BYTES: Final = MAX_TEXT_FILE_BYTES
# Arrays and inline tables nested deeper than this are refused before tomllib recurses into
# them (a manifest needs two or three levels; a deep ``[[[[...`` is a RecursionError).
MAX_MANIFEST_DEPTH: Final = 32
# What opens or closes a level, or starts a string or a comment, in TOML text.
_TOML_TOKEN: Final = re.compile(r"\"\"\"|'''|[\"'#\[\]{}]")
_TOML_STRING_END: Final = {
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""', re.DOTALL),
    "'''": re.compile(r".*?'''", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
}


def _check_shape(text: str, label: str) -> None:
    """Refuse a manifest too large, or nested too deeply, before tomllib parses it (linear)."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise ManifestError(label, [(None, "", f"is larger than {MAX_MANIFEST_BYTES:,} bytes")])
    depth = 0
    position = 0
    while True:
        found = _TOML_TOKEN.search(text, position)
        if found is None:
            return
        token = found.group()
        position = found.end()
        if token == "#":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
        elif token in _TOML_STRING_END:
            closing = _TOML_STRING_END[token].match(text, position)
            if closing is None:
                return  # an unterminated string: tomllib reports it with its line
            position = closing.end()
        elif token in "[{":
            depth += 1
            if depth > MAX_MANIFEST_DEPTH:
                line = text.count("\n", 0, found.start()) + 1
                raise ManifestError(
                    label, [(line, "", f"is nested deeper than {MAX_MANIFEST_DEPTH} levels")]
                )
        else:
            depth = max(depth - 1, 0)


def _by_line(problem: tuple[int | None, str, str]) -> tuple[bool, int]:
    return (problem[0] is None, problem[0] or 0)


# ============================================================================================
# Presets
# ============================================================================================


def preset_text(model: str) -> str:
    """The TOML text of the preset for an application model (a starting point to copy)."""
    if model not in APPLICATION_MODELS:
        raise ValueError(f"model must be one of {', '.join(APPLICATION_MODELS)}")
    return (resources.files("toolkit.provisioning") / "presets" / f"{model}.toml").read_text(
        encoding="utf-8"
    )


def preset_manifest(
    model: str,
    *,
    public_url: str | None = None,
    application: ApplicationIdentity | None = None,
) -> Manifest:
    """The preset manifest for ``model``: internal = UI objects (a panel on the contact card,
    a navigator button, a button opening the portal in a new window and a task menu item),
    external = nothing inside SuperOffice, hybrid = the internal UI plus a list for background
    work. Its URLs use ``{public_url}`` and ``{app}``."""
    text = preset_text(model)
    document = tomllib.loads(text)
    document.pop("preset", None)  # presets never include presets
    problems = _Problems(text)
    label = f"preset:{model}"
    manifest = _validate(
        document,
        problems,
        model=model,
        public_url=public_url,
        source=label,
        application=application,
    )
    if problems.found:
        raise ManifestError(label, problems.found)
    return manifest
