"""The tenant REST API's wire: constants, the request shape and the readers of PascalCase JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import quote

from toolkit.errors import UnexpectedResponseError
from toolkit.http import RetryPolicy

__all__ = [
    "APP_TOKEN_HEADER",
    "DEFAULT_API_RETRY",
    "MAX_JSON_BYTES",
    "MISDIRECTED_STATUS",
    "USER_REFRESH_STATUSES",
    "WEB_PANEL_LIST",
    "ApiRequest",
    "ListRef",
    "WireEntity",
    "api_version_request",
    "array_of",
    "current_principal_request",
    "entity_body",
    "enum_from_wire",
    "flag_field",
    "integer_field",
    "item_segment",
    "list_segment",
    "object_of",
    "text_field",
    "with_extras",
]

# Mandatory with SOTicket online (§5, SUT Constants). [C]
APP_TOKEN_HEADER: Final = "SO-AppToken"
# "Wrong subdomain used to access tenant" (§1). [C]
MISDIRECTED_STATUS: Final = 421
# The web panel list's name in REST paths: /v1/List/WebPanel/Items (§7.1). [C]
WEB_PANEL_LIST: Final = "WebPanel"
# Tenant REST calls use the toolkit's default retry policy (connect errors, 429, 502-504 on
# idempotent requests, 30 s budget).
DEFAULT_API_RETRY: Final = RetryPolicy()
# Statuses after which a user's access token is refreshed once (open question 6) [I].
USER_REFRESH_STATUSES: Final = frozenset({401, 403})
# A tenant answer larger than this is not a list of panels or items; refuse to parse it.
MAX_JSON_BYTES: Final = 16 * 1024 * 1024

ListRef = int | str
"""A list by id (negative = table number, e.g. -64 = category) or by name (``Category``)."""


@dataclass(frozen=True)
class ApiRequest:
    """One tenant REST request, relative to the tenant's ``Api`` root (``v1/List``; ``""`` is
    the root itself). ``body`` is sent as JSON; ``safe_to_repeat`` lets the retry policy repeat
    a POST that only reads (an agent method); ``creates`` keeps it from repeating a PUT that
    may create objects (a "save all" of list items), which an answer lost on the way back
    would otherwise create twice."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str] | None = None
    safe_to_repeat: bool = False
    creates: bool = False

    def url(self, api_root: str) -> str:
        root = api_root.rstrip("/")
        return f"{root}/{self.path.lstrip('/')}" if self.path else root


def list_segment(value: ListRef) -> str:
    if isinstance(value, bool):
        raise TypeError("a list reference is an id or a name, not a bool")
    if isinstance(value, int):
        return str(value)
    text = value.strip()
    if not text:
        raise ValueError("a list name must not be empty")
    return quote(text, safe="")


def item_segment(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an item id is an int")
    return str(value)


class WireEntity(Protocol):
    """An entity dataclass: it knows its PascalCase wire form."""

    def to_wire(self) -> dict[str, Any]: ...


def entity_body(entity: WireEntity | Mapping[str, Any]) -> Any:
    if isinstance(entity, Mapping):
        return dict(entity)
    return entity.to_wire()


def api_version_request() -> ApiRequest:
    """``GET {Api}``: the version document (§6, SD:version)."""
    return ApiRequest("GET", "")


def current_principal_request() -> ApiRequest:
    return ApiRequest("GET", "v1/User/currentPrincipal")


E = TypeVar("E", bound=StrEnum)


def enum_from_wire(cls: type[E], value: Any, numbers: Mapping[E, int], default: E) -> E | str:
    """A member for a name (case-insensitive) or a number; an unknown name is kept as text, so
    a value added by SuperOffice later survives a read-modify-write unchanged."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        for member, number in numbers.items():
            if number == value:
                return member
        return str(value)
    if isinstance(value, str):
        folded = value.casefold()
        for member in cls:
            if member.value.casefold() == folded:
                return member
        return value
    raise UnexpectedResponseError(f"{cls.__name__} is neither a name nor a number")


def text_field(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UnexpectedResponseError(f"{name} is not a string")
    return value


def integer_field(document: Mapping[str, Any], name: str) -> int:
    value = document.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnexpectedResponseError(f"{name} is not an integer")
    return value


def flag_field(document: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise UnexpectedResponseError(f"{name} is not a boolean")
    return value


def with_extras(wire: dict[str, Any], table_right: Any, field_properties: Any) -> dict[str, Any]:
    if table_right is not None:
        wire["TableRight"] = table_right
    if field_properties is not None:
        wire["FieldProperties"] = field_properties
    return wire


def array_of(document: Any, what: str) -> Sequence[Any]:
    """``document`` if it is a JSON array, else UnexpectedResponseError."""
    if not isinstance(document, list):
        raise UnexpectedResponseError(f"tenant API: {what} is not a JSON array")
    return document


def object_of(document: Any, what: str) -> Mapping[str, Any]:
    """``document`` if it is a JSON object, else UnexpectedResponseError."""
    if not isinstance(document, Mapping):
        raise UnexpectedResponseError(f"{what} is not a JSON object")
    return document
