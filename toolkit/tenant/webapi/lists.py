"""Lists and list items (§7.3, §7.4): their entities and requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkit.tenant.webapi.wire import (
    ApiRequest,
    ListRef,
    entity_body,
    flag_field,
    integer_field,
    item_segment,
    list_segment,
    object_of,
    text_field,
    with_extras,
)

__all__ = [
    "ListEntity",
    "ListItemEntity",
    "create_list_item_request",
    "create_list_request",
    "delete_list_item_request",
    "delete_list_request",
    "list_item_request",
    "list_items_request",
    "list_request",
    "lists_request",
    "save_list_items_request",
    "update_list_item_request",
]


@dataclass(frozen=True, kw_only=True)
class ListEntity:
    """A list definition (``ListEntity``, §7.3). ``list_type`` e.g. ``category``, ``udlist``."""

    id: int = 0
    name: str = ""
    tooltip: str = ""
    deleted: bool = False
    rank: int = 0
    is_custom_list: bool = False
    is_mdo_list: bool = False
    use_groups_and_headings: bool = False
    list_type: str = ""
    in_use_by_user_defined_fields: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "Deleted": self.deleted,
            "Rank": self.rank,
            "IsCustomList": self.is_custom_list,
            "IsMDOList": self.is_mdo_list,
            "UseGroupsAndHeadings": self.use_groups_and_headings,
            "ListType": self.list_type,
            "InUseByUserDefinedFields": self.in_use_by_user_defined_fields,
        }

    @classmethod
    def from_wire(cls, document: Any) -> ListEntity:
        """Also reads ``ListEntityWithLinks`` (its ``_Links`` are dropped)."""
        d = object_of(document, "ListEntity")
        return cls(
            id=integer_field(d, "Id"),
            name=text_field(d, "Name"),
            tooltip=text_field(d, "Tooltip"),
            deleted=flag_field(d, "Deleted"),
            rank=integer_field(d, "Rank"),
            is_custom_list=flag_field(d, "IsCustomList"),
            is_mdo_list=flag_field(d, "IsMDOList"),
            use_groups_and_headings=flag_field(d, "UseGroupsAndHeadings"),
            list_type=text_field(d, "ListType"),
            in_use_by_user_defined_fields=flag_field(d, "InUseByUserDefinedFields"),
        )


@dataclass(frozen=True, kw_only=True)
class ListItemEntity:
    """A list item (``ListItemEntity``, §7.4); ``table_right`` / ``field_properties`` as above."""

    id: int = 0
    name: str = ""
    tooltip: str = ""
    deleted: bool = False
    ud_list_definition_id: int = 0
    rank: int = 0
    table_right: Any = field(default=None, compare=False)
    field_properties: Any = field(default=None, compare=False)

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "Id": self.id,
            "Name": self.name,
            "Tooltip": self.tooltip,
            "Deleted": self.deleted,
            "UdListDefinitionId": self.ud_list_definition_id,
            "Rank": self.rank,
        }
        return with_extras(wire, self.table_right, self.field_properties)

    @classmethod
    def from_wire(cls, document: Any) -> ListItemEntity:
        d = object_of(document, "ListItemEntity")
        return cls(
            id=integer_field(d, "Id"),
            name=text_field(d, "Name"),
            tooltip=text_field(d, "Tooltip"),
            deleted=flag_field(d, "Deleted"),
            ud_list_definition_id=integer_field(d, "UdListDefinitionId"),
            rank=integer_field(d, "Rank"),
            table_right=d.get("TableRight"),
            field_properties=d.get("FieldProperties"),
        )


def lists_request() -> ApiRequest:
    return ApiRequest("GET", "v1/List")


def list_request(list_ref: ListRef) -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{list_segment(list_ref)}")


def create_list_request(entity: ListEntity | Mapping[str, Any]) -> ApiRequest:
    return ApiRequest("POST", "v1/List", entity_body(entity))


def delete_list_request(list_ref: ListRef) -> ApiRequest:
    return ApiRequest("DELETE", f"v1/List/{list_segment(list_ref)}")


def list_items_request(list_ref: ListRef) -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{list_segment(list_ref)}/Items")


def save_list_items_request(
    list_ref: ListRef, entities: Sequence[ListItemEntity | Mapping[str, Any]]
) -> ApiRequest:
    """``PUT v1/List/{list}/Items`` with an array of items: "save all" the list's items (§7.4,
    SD:ref-item ``v1ListItemEntity_SaveAllFromListDefinition``); the answer is the saved items.

    The reference does not say what becomes of items the array leaves out [I], nor that an
    item with ``Id`` 0 is created [I] (as the other Save methods do). Provisioning sends it
    only for a list it has just created, which holds no other item. Never repeated by the
    retry policy (``creates``): a repeat could create the new items twice."""
    body = [entity_body(entity) for entity in entities]
    return ApiRequest("PUT", f"v1/List/{list_segment(list_ref)}/Items", body, creates=True)


def list_item_request(list_ref: ListRef, item_id: int) -> ApiRequest:
    return ApiRequest("GET", f"v1/List/{list_segment(list_ref)}/Items/{item_segment(item_id)}")


def create_list_item_request(
    list_ref: ListRef, entity: ListItemEntity | Mapping[str, Any]
) -> ApiRequest:
    return ApiRequest("POST", f"v1/List/{list_segment(list_ref)}/Items", entity_body(entity))


def update_list_item_request(
    list_ref: ListRef, item_id: int, entity: ListItemEntity | Mapping[str, Any]
) -> ApiRequest:
    path = f"v1/List/{list_segment(list_ref)}/Items/{item_segment(item_id)}"
    return ApiRequest("PUT", path, entity_body(entity))


def delete_list_item_request(list_ref: ListRef, item_id: int) -> ApiRequest:
    return ApiRequest("DELETE", f"v1/List/{list_segment(list_ref)}/Items/{item_segment(item_id)}")
