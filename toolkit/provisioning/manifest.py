"""Provisioning manifests: the lists, list items, web panels and buttons an application wants in
every tenant it is installed in (protocol §7), as TOML, validated into frozen dataclasses.

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
    url = "{public_url}/panel?ctx=<cuid>&contact=<cuid>&uctx=<uctx>"
    visible_in = "ContactCard"                    # a VisibleIn name (§7.1)
    window_name = "AcmeSyncContact"

    [[buttons]]                   # a navigator button + the browser panel it opens
    prog_id = "acme.sync.main"    # the two panels get "acme.sync.main.panel" / ".button"
    name = "Acme Sync"
    url = "{public_url}/panel?uctx=<uctx>"

Rules:

* URLs are ``https://`` (``http://`` on loopback only) or ``soprotocol:``; they carry SuperOffice
  template variables (``<cuid>``, ``<uctx>``, ...) instead of tenant data, and never a
  hard-coded SuperOffice host (``*.superoffice.com``): a tenant moves between hosts (§1, §6).
  ``{public_url}`` is replaced by the partner's public URL when one is given to the loader.
* ``visible_in`` / ``url_encoding`` take the enum *names* (open question 14: their numbers come
  from a sample only).
* ``optional = true`` on a list, web panel or button lets the tenant administrator leave it out
  on the installation page (:meth:`Manifest.optional_parts`, :meth:`Manifest.choose`).
* An **external** application has no UI inside SuperOffice: its manifest may hold lists (what
  background work needs) but no web panels and no buttons.
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
from urllib.parse import urlsplit

from toolkit.config import is_superoffice_host
from toolkit.errors import InputFileError, ManifestError
from toolkit.files import MAX_TEXT_FILE_BYTES, read_limited_text
from toolkit.tenant.webapi import UrlEncoding, VisibleIn
from toolkit.text import control_character, describe_character

__all__ = [
    "APPLICATION_MODELS",
    "BUTTON_PANEL_SUFFIX",
    "BUTTON_SUFFIX",
    "ButtonSpec",
    "ListItemSpec",
    "ListSpec",
    "Manifest",
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
        *_PANEL_FLAGS,
    }
)
_LIST_KEYS: Final = frozenset({"name", "tooltip", "rank", "items", "optional"})
_ITEM_KEYS: Final = frozenset({"name", "tooltip", "rank"})
_TOP_KEYS: Final = frozenset({"model", "preset", "lists", "web_panels", "buttons"})


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
    origin: str = field(default="", compare=False)

    def entity_fields(self) -> dict[str, Any]:
        """The :class:`~toolkit.tenant.WebPanelEntity` keyword arguments the manifest decides."""
        values = asdict(self)
        values.pop("origin")
        values.pop("optional")
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
    """A navigator button plus the browser panel it opens (§7.2): two web panels.

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
    origin: str = field(default="", compare=False)

    @property
    def panel_window_name(self) -> str:
        return f"{clean(self.window_name or self.name)}Window"

    def panels(self) -> tuple[WebPanelSpec, WebPanelSpec]:
        """(the browser panel, the navigator button)."""
        flags = dict(self.flags)
        common: dict[str, Any] = {
            "url_encoding": self.url_encoding,
            "tooltip": self.tooltip,
            "rank": self.rank,
            "icon": self.icon,
            "origin": self.origin,
            **flags,
        }
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
            visible_in=VisibleIn.NavigatorButton,
            window_name=f"{clean(self.window_name or self.name)}ButtonWindow",
            **common,
        )
        return panel, button


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. ``source`` names where it came from (for messages)."""

    lists: tuple[ListSpec, ...] = ()
    web_panels: tuple[WebPanelSpec, ...] = ()
    buttons: tuple[ButtonSpec, ...] = ()
    model: str | None = None
    source: str = field(default="<manifest>", compare=False)

    def all_web_panels(self) -> tuple[WebPanelSpec, ...]:
        """The web panels, then each button's two panels."""
        expanded = [panel for button in self.buttons for panel in button.panels()]
        return (*self.web_panels, *expanded)

    @property
    def prog_ids(self) -> frozenset[str]:
        return frozenset(panel.prog_id for panel in self.all_web_panels())

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
            "web_panels": [panel.fields() for panel in self.all_web_panels()],
        }

    @property
    def digest(self) -> str:
        """SHA-256 of :meth:`describe` (canonical JSON): equal manifests, equal digests."""
        text = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def is_empty(self) -> bool:
        return not (self.lists or self.web_panels or self.buttons)

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
) -> str:
    url = _text_value(raw, "url", path, problems, required=True, limit=MAX_URL)
    where = f"{path}.url"
    if not url:
        return url
    if PUBLIC_URL_VARIABLE in url:
        if public_url is None:
            problems.add(where, f"uses {PUBLIC_URL_VARIABLE} but no public URL was given")
            return url
        url = url.replace(PUBLIC_URL_VARIABLE, public_url.rstrip("/"))
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
    return url


def _panel(raw: Any, path: str, problems: _Problems, public_url: str | None) -> WebPanelSpec | None:
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
    url = _url_value(raw, path, problems, public_url)
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


def _button(raw: Any, path: str, problems: _Problems, public_url: str | None) -> ButtonSpec | None:
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
    if name and not clean(window or name):
        problems.add(
            f"{path}.window_name" if window else f"{path}.name",
            "needs letters or digits to make a window name from",
        )
    return ButtonSpec(
        prog_id=prog_id,
        name=name,
        url=_url_value(raw, path, problems, public_url),
        window_name=window,
        panel_name=_text_value(raw, "panel_name", path, problems),
        url_encoding=encoding or UrlEncoding.None_,
        tooltip=_text_value(raw, "tooltip", path, problems, limit=MAX_TEXT),
        rank=_int_value(raw, "rank", path, problems, BUTTON_DEFAULT_RANK),
        icon=_int_value(raw, "icon", path, problems),
        flags=tuple(sorted(_flags(raw, path, problems).items())),
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

    lists = [
        _list(raw, f"lists[{i}]", problems)
        for i, raw in enumerate(_array(document, "lists", problems))
    ]
    panels = [
        _panel(raw, f"web_panels[{i}]", problems, public_url)
        for i, raw in enumerate(_array(document, "web_panels", problems))
    ]
    buttons = [
        _button(raw, f"buttons[{i}]", problems, public_url)
        for i, raw in enumerate(_array(document, "buttons", problems))
    ]
    manifest = Manifest(
        lists=tuple(spec for spec in lists if spec is not None),
        web_panels=tuple(spec for spec in panels if spec is not None),
        buttons=tuple(spec for spec in buttons if spec is not None),
        model=effective,
        source=source,
    )

    preset = document.get("preset")
    if preset is not None:
        if preset not in APPLICATION_MODELS:
            problems.add("preset", f"{preset!r} is not one of {', '.join(APPLICATION_MODELS)}")
        else:
            base = preset_manifest(preset, public_url=public_url)
            manifest = Manifest(
                lists=_merge(base.lists, manifest.lists, lambda s: s.name.casefold()),
                web_panels=_merge(base.web_panels, manifest.web_panels, lambda s: s.prog_id),
                buttons=_merge(base.buttons, manifest.buttons, lambda s: s.prog_id),
                model=effective,
                source=source,
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


def load_manifest(
    source: str | Path,
    *,
    model: str | None = None,
    public_url: str | None = None,
    name: str | None = None,
) -> Manifest:
    """Read and validate a manifest from a :class:`~pathlib.Path` or TOML text.

    ``model`` is the application's model (internal / external / hybrid): a manifest declaring
    another one is refused, and an external one may hold no web panels or buttons.
    ``public_url`` replaces ``{public_url}`` in URLs. ``name`` names the source in messages
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
    manifest = _validate(document, problems, model=model, public_url=public_url, source=label)
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


def preset_manifest(model: str, *, public_url: str | None = None) -> Manifest:
    """The preset manifest for ``model``: internal = UI objects (a panel on the contact card
    and a navigator button), external = nothing inside SuperOffice, hybrid = the internal UI
    plus a list for background work. Its URLs use ``{public_url}``."""
    text = preset_text(model)
    document = tomllib.loads(text)
    document.pop("preset", None)  # presets never include presets
    problems = _Problems(text)
    label = f"preset:{model}"
    manifest = _validate(document, problems, model=model, public_url=public_url, source=label)
    if problems.found:
        raise ManifestError(label, problems.found)
    return manifest
