"""Which credential created each object in a tenant (lists, list items, web panels, task menus).

SuperOffice records who created a record (its registered/registered-by fields); the reference
does not say how an object created through the API names the credential, so the emulator keeps
its own record [I]: ``TenantData.created_by`` maps ``{kind}:{id}`` to ``system_user:{client_id}``
(a ticket: the application's system user) or ``user:{username}`` (a SuperID user's Bearer
token, e.g. the administrator on the installation pages). It shows in the control plane's
``GET /__emulator__/state`` (``tenant_data.{ctx}.created_by``), so tests can check that an
installation page provisioned with the administrator's credential.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from toolkit.emulator.tenant_api import Principal
from toolkit.emulator.tenant_data import TenantData

__all__ = ["credential_of", "record_creation", "watermark"]


def credential_of(principal: Principal) -> str:
    """``system_user:{client_id}`` or ``user:{username}``."""
    if principal.user is None:
        return f"system_user:{principal.app.client_id}"
    return f"user:{principal.user.username}"


def watermark(data: TenantData) -> tuple[int, int]:
    """The next object id and the highest list id before a call: what is above is new."""
    return data.next_id, max((d.id for d in data.lists), default=0)


def _key(body: dict[str, Any]) -> tuple[str, int] | None:
    for kind, field in (("web_panel", "WebPanelId"), ("task_menu", "TaskMenuId")):
        if isinstance(body.get(field), int):
            return kind, body[field]
    if not isinstance(body.get("Id"), int):
        return None
    if "UdListDefinitionId" in body:
        return "list_item", body["Id"]
    if "ListType" in body:
        return "list", body["Id"]
    return None


def record_creation(
    data: TenantData, principal: Principal, response: Response, before: tuple[int, int]
) -> None:
    """After a successful POST: record the credential of the object it created (if any)."""
    if response.status_code != 200 or not isinstance(response.body, bytes):
        return
    try:
        body = json.loads(response.body)
    except ValueError:
        return
    found = _key(body) if isinstance(body, dict) else None
    if found is None:
        return
    kind, object_id = found
    next_id, last_list = before
    if (kind == "list" and object_id > last_list) or (kind != "list" and object_id >= next_id):
        data.created_by.setdefault(f"{kind}:{object_id}", credential_of(principal))
