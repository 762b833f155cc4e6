"""The tenant web API (REST) client: one tenant, one credential, routed by the state API.

Protocol §5 (calling tenant web services) and §7 (lists, list items, web panels):

* **Routing.** The base URL is the state API's ``Api`` (:mod:`toolkit.tenant.status`), never the
  ``webapi_url`` claim of a ticket or id_token, which names the host at sign-in time and goes
  stale when the tenant moves (§1, §6). The tenant must be running before any call
  (:class:`~toolkit.errors.TenantNotRunningError` otherwise, without a call); a
  ``421 Misdirected Request`` ("Wrong subdomain used to access tenant") invalidates the cached
  status, re-resolves and retries **once**; a second 421 raises
  :class:`~toolkit.errors.MisdirectedRequestError`.
* **Credentials.** :class:`SystemUserCredential` sends ``Authorization: SOTicket 7T:...`` plus the
  mandatory ``SO-AppToken: {client secret}`` and lets the
  :class:`~toolkit.auth.tickets.TicketManager` renew the ticket once after a 401.
  :class:`UserCredential` sends ``Authorization: Bearer 8A:...`` and refreshes the access token
  once after a 401 **or 403**: how SuperOffice signals an expired access token is an open
  question (6: best practice says 403, a tutorial 401) [I]. When the user acts for an
  application (a token from that application's SuperID client, :meth:`UserCredential.from_tokens`)
  it sends ``SO-AppToken`` too: without it SuperOffice cannot tell which application the call
  is for, so ``GetAppWebPanels`` and the other ``GetApp...`` agents do not work and what it
  creates belongs to no application (§7).
* **Reliability.** Every request goes through :func:`toolkit.http.send_request` with a
  :class:`~toolkit.http.RetryPolicy`: idempotent requests are retried on connect errors, 429
  (``Retry-After``) and 502/503/504; POSTs (creates, agents) are never repeated blindly, except
  the two read-only agents marked ``safe_to_repeat``.
* **Errors.** A non-2xx answer raises :class:`~toolkit.errors.ApiError` (401/403/404/409 have
  subclasses) with SuperOffice's ``ErrorType``, ``ErrorMessage``, ``ErrorSource`` (§5).

Request building (:class:`ApiRequest` and the ``*_request`` functions) and parsing
(:func:`parse_api_error`, the entities' ``from_wire``) are pure, so an async twin only needs
an executor. JSON stays PascalCase as on the wire; the entity dataclasses map it field by field
(§7.1, §7.3, §7.4). ``VisibleIn`` / ``UrlEncoding`` are sent as names; their numbers come from a
sample's enum copy (open question 14) and are kept only as :attr:`VisibleIn.number`.

The package's modules, one job each (everything is importable from here, as before):
:mod:`~toolkit.tenant.webapi.wire` (constants, :class:`ApiRequest`, JSON field readers),
:mod:`~toolkit.tenant.webapi.lists` (lists and list items),
:mod:`~toolkit.tenant.webapi.web_panels` (web panels and the app agents),
:mod:`~toolkit.tenant.webapi.exchange` (send options, answers, refusals),
:mod:`~toolkit.tenant.webapi.credentials` (system user and user credentials) and
:mod:`~toolkit.tenant.webapi.client` (:class:`WebApiClient`).
"""

from __future__ import annotations

from toolkit.tenant.webapi.client import WebApiClient
from toolkit.tenant.webapi.credentials import Credential, SystemUserCredential, UserCredential
from toolkit.tenant.webapi.credentials import SendWithHeaders as SendWithHeaders
from toolkit.tenant.webapi.credentials import check_credential_tenant as check_credential_tenant
from toolkit.tenant.webapi.credentials import system_user_headers as system_user_headers
from toolkit.tenant.webapi.exchange import log_misdirected as log_misdirected
from toolkit.tenant.webapi.exchange import parse_api_error
from toolkit.tenant.webapi.exchange import parse_json as parse_json
from toolkit.tenant.webapi.exchange import refused as refused
from toolkit.tenant.webapi.exchange import send_options as send_options
from toolkit.tenant.webapi.lists import ListEntity, ListItemEntity
from toolkit.tenant.webapi.lists import create_list_item_request as create_list_item_request
from toolkit.tenant.webapi.lists import create_list_request as create_list_request
from toolkit.tenant.webapi.lists import delete_list_item_request as delete_list_item_request
from toolkit.tenant.webapi.lists import delete_list_request as delete_list_request
from toolkit.tenant.webapi.lists import list_item_request as list_item_request
from toolkit.tenant.webapi.lists import list_items_request as list_items_request
from toolkit.tenant.webapi.lists import list_request as list_request
from toolkit.tenant.webapi.lists import lists_request as lists_request
from toolkit.tenant.webapi.lists import save_list_items_request as save_list_items_request
from toolkit.tenant.webapi.lists import update_list_item_request as update_list_item_request
from toolkit.tenant.webapi.web_panels import UrlEncoding, VisibleIn, WebPanelEntity
from toolkit.tenant.webapi.web_panels import app_web_panels_request as app_web_panels_request
from toolkit.tenant.webapi.web_panels import create_web_panel_request as create_web_panel_request
from toolkit.tenant.webapi.web_panels import default_web_panel_request as default_web_panel_request
from toolkit.tenant.webapi.web_panels import (
    delete_app_web_panels_request as delete_app_web_panels_request,
)
from toolkit.tenant.webapi.web_panels import (
    delete_web_panel_permanently_request as delete_web_panel_permanently_request,
)
from toolkit.tenant.webapi.web_panels import delete_web_panel_request as delete_web_panel_request
from toolkit.tenant.webapi.web_panels import save_web_panel_request as save_web_panel_request
from toolkit.tenant.webapi.web_panels import update_web_panel_request as update_web_panel_request
from toolkit.tenant.webapi.web_panels import web_panel_request as web_panel_request
from toolkit.tenant.webapi.web_panels import web_panels_request as web_panels_request
from toolkit.tenant.webapi.wire import (
    APP_TOKEN_HEADER,
    DEFAULT_API_RETRY,
    MISDIRECTED_STATUS,
    WEB_PANEL_LIST,
    ApiRequest,
    ListRef,
)

# ``X as X``: importable from here as before, though not in __all__ (the async client's).
from toolkit.tenant.webapi.wire import MAX_JSON_BYTES as MAX_JSON_BYTES
from toolkit.tenant.webapi.wire import USER_REFRESH_STATUSES as USER_REFRESH_STATUSES
from toolkit.tenant.webapi.wire import api_version_request as api_version_request
from toolkit.tenant.webapi.wire import array_of as array_of
from toolkit.tenant.webapi.wire import current_principal_request as current_principal_request
from toolkit.tenant.webapi.wire import object_of as object_of

__all__ = [
    "APP_TOKEN_HEADER",
    "DEFAULT_API_RETRY",
    "MISDIRECTED_STATUS",
    "WEB_PANEL_LIST",
    "ApiRequest",
    "Credential",
    "ListEntity",
    "ListItemEntity",
    "ListRef",
    "SystemUserCredential",
    "UrlEncoding",
    "UserCredential",
    "VisibleIn",
    "WebApiClient",
    "WebPanelEntity",
    "parse_api_error",
]
