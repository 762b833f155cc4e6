"""Tenant access: where a tenant lives, whether it runs, and calls to its web services.

* :mod:`toolkit.tenant.status`: the state API (``TenantState``, ``TenantStatus``,
  ``TenantStatusClient``), cached until ``ValidUntil``;
* :mod:`toolkit.tenant.webapi`: the REST client (``WebApiClient``) with the system user
  (``SystemUserCredential``) or a signed-in user (``UserCredential``), routed by the state API,
  421-aware, with typed ``ApiError`` and the list / web panel helpers (§7);
* :mod:`toolkit.tenant.soap`: the SOAP credential helper (``SoapClient``).

:class:`TenantAccess` puts them together from the store for the front ends (the workspace holds
one as ``Workspace.tenants``)::

    api = ws.tenants.system_user_api("Acme Sync", "Cust12345")
    api.app_web_panels()
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from toolkit.auth.jwks import JwksCache
from toolkit.auth.tickets import TicketManager, environment_of, system_user_exchange
from toolkit.config import Environment
from toolkit.errors import NotFoundError, UnexpectedResponseError
from toolkit.http import RetryPolicy
from toolkit.naming import check_context_identifier, resolve_application, resolve_installation
from toolkit.store.records import Application, Authorization, TenantStateRecord
from toolkit.store.repository import Repository
from toolkit.tenant.soap import SoapClient
from toolkit.tenant.status import (
    DEFAULT_STATUS_RETRY,
    RUNNING_STATES,
    RecordedStatus,
    TenantState,
    TenantStatus,
    TenantStatusClient,
    recorded_status,
)
from toolkit.tenant.webapi import (
    DEFAULT_API_RETRY,
    ApiRequest,
    Credential,
    ListEntity,
    ListItemEntity,
    SystemUserCredential,
    UrlEncoding,
    UserCredential,
    VisibleIn,
    WebApiClient,
    WebPanelEntity,
)

__all__ = [
    "RUNNING_STATES",
    "ApiRequest",
    "Credential",
    "ListEntity",
    "ListItemEntity",
    "SoapClient",
    "SystemUserCredential",
    "TenantAccess",
    "TenantState",
    "TenantStatus",
    "TenantStatusClient",
    "UrlEncoding",
    "UserCredential",
    "VisibleIn",
    "WebApiClient",
    "WebPanelEntity",
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TenantAccess:
    """State clients, the ticket manager and tenant API clients, built from the store.

    One :class:`TenantStatusClient` per environment (so its cache is shared by every client of
    that environment) and one :class:`~toolkit.auth.tickets.TicketManager` (built on first use,
    with SuperID's key set per environment fetched through ``http``). Thread-safe.
    """

    def __init__(
        self,
        repository: Repository,
        http: httpx.Client,
        *,
        now: Callable[[], datetime] | None = None,
        ticket_manager: TicketManager | None = None,
        status_retry: RetryPolicy | None = DEFAULT_STATUS_RETRY,
        api_retry: RetryPolicy | None = DEFAULT_API_RETRY,
    ) -> None:
        self.repository = repository
        self.http = http
        self._now = now or _utc_now
        self._tickets = ticket_manager
        self._status_retry = status_retry
        self._api_retry = api_retry
        self._lock = threading.Lock()
        self._status_clients: dict[str, TenantStatusClient] = {}
        self._key_sets: dict[str, JwksCache] = {}
        self._environments: dict[str, Environment] = {}

    def __repr__(self) -> str:
        return f"TenantAccess(environments={sorted(self._status_clients)})"

    @property
    def tickets(self) -> TicketManager:
        """The system user ticket manager (memory, then store, then one exchange)."""
        with self._lock:
            if self._tickets is None:
                exchange = system_user_exchange(http=self.http, keys=self._keys, now=self._now)
                self._tickets = TicketManager(self.repository, exchange=exchange, now=self._now)
            return self._tickets

    def status_client(self, environment: Environment) -> TenantStatusClient:
        """The (cached) state API client of ``environment``."""
        key = f"{environment.name} {environment.base_url}"
        with self._lock:
            client = self._status_clients.get(key)
            if client is None:
                client = TenantStatusClient(
                    self.http, environment, now=self._now, retry=self._status_retry
                )
                self._status_clients[key] = client
            return client

    def status(
        self,
        application: str,
        context_identifier: str,
        *,
        refresh: bool = False,
        recorded: TenantStateRecord | None = None,
    ) -> TenantStatus:
        """The tenant's state, in the environment the application (name or id) is registered
        in. A malformed tenant raises :class:`~toolkit.errors.InvalidContextIdentifierError`
        before the state API is asked.

        ``recorded`` is the tenant's last known state in the store (what any worker of the
        fleet last recorded): when it was observed after this process's cached answer, it is
        used instead, or the state API is asked afresh once its ValidUntil is past
        (:meth:`TenantStatusClient.status`)."""
        context_identifier = check_context_identifier(context_identifier)
        known = None if recorded is None else _recorded(recorded)
        return self.status_client(self._environment(application)).status(
            context_identifier, refresh=refresh, recorded=known
        )

    def _environment(self, application: str) -> Environment:
        """The environment of the application (name or id), read from the store once: an
        application's environment is set when it is registered and never changes, and the
        store forgets no application (a state check per unit of work read it each time, two
        statements; issue 14). An unknown application is not remembered: it raises each time."""
        with self._lock:
            environment = self._environments.get(application)
        if environment is None:
            environment = environment_of(resolve_application(self.repository, application))
            with self._lock:
                self._environments[application] = environment
        return environment

    def system_user_api(self, application: str, context_identifier: str) -> WebApiClient:
        """A REST client for the application's system user in the tenant.

        ``application`` is its name or id; the tenant matches in any case. Raises, before any
        network call, :class:`~toolkit.errors.InvalidContextIdentifierError` for a malformed
        tenant, :class:`~toolkit.errors.UnknownApplicationError` for an unknown application and
        :class:`~toolkit.errors.NotInstalledError` when it is not installed (active) there.
        """
        app, authorization, state_api = self._installation(application, context_identifier)
        context_identifier = authorization.context_identifier  # as stored
        credential = SystemUserCredential(
            self.tickets, app.id, context_identifier, app.client_secret.reveal()
        )
        return WebApiClient(
            self.http,
            state_api,
            context_identifier,
            credential,
            retry=self._api_retry,
        )

    def user_api(
        self, environment: Environment, context_identifier: str, credential: UserCredential
    ) -> WebApiClient:
        """A REST client for a signed-in user (normal user context)."""
        return WebApiClient(
            self.http,
            self.status_client(environment),
            context_identifier,
            credential,
            retry=self._api_retry,
        )

    def system_user_soap(self, application: str, context_identifier: str) -> SoapClient:
        """A SOAP client for the system user, on the tenant's current host (state API); the
        same names and errors as :meth:`system_user_api`."""
        app, authorization, state_api = self._installation(application, context_identifier)
        context_identifier = authorization.context_identifier  # as stored
        status = state_api.require_running(context_identifier)
        if status.netserver_url is None:
            raise UnexpectedResponseError(
                f"state API: running tenant {context_identifier!r} has no Endpoint"
            )
        tickets = self.tickets
        return SoapClient(
            self.http,
            status.netserver_url,
            application_token=app.client_secret.reveal(),
            ticket=lambda: tickets.ticket(app.id, context_identifier).ticket,
            retry=self._api_retry,
        )

    def _installation(
        self, application: str, context_identifier: str
    ) -> tuple[Application, Authorization, TenantStatusClient]:
        """:func:`~toolkit.naming.resolve_installation` in one store statement (the application
        and its authorization read together), not five in two transactions: a tenant client is
        built for each unit of work (issue 14). When the read finds no active installation,
        ``resolve_installation`` looks again and raises its own error.

        With it comes the state API client of the application's environment, told the tenant's
        last known state in the store: a state another worker or process recorded after this
        process cached its own answer (a "check now", a confirmed notification) is the one a
        direct call acts on, as a fleet's tenant job does (an answer this process got later
        stands; with nothing cached, the state API is asked as before)."""
        tenant = check_context_identifier(context_identifier)
        name = application.strip() if isinstance(application, str) else ""
        view = None
        if name:
            with contextlib.suppress(NotFoundError):  # resolve_installation says which
                view = self.repository.installation_view(name, tenant)
        if view is not None and view.authorization.status == "active":
            app, authorization = view.application, view.authorization
        else:
            app, authorization = resolve_installation(
                self.repository, application, context_identifier
            )
        state_api = self.status_client(environment_of(app))
        if view is not None and view.state is not None:
            state_api.consider(_recorded(view.state))
        return app, authorization, state_api

    def _keys(self, environment: Environment) -> JwksCache:
        with self._lock:
            key = environment.base_url
            cache = self._key_sets.get(key)
            if cache is None:
                cache = JwksCache(environment.jwks_url, self.http, now=self._now)
                self._key_sets[key] = cache
            return cache


def _recorded(record: TenantStateRecord) -> RecordedStatus:
    return recorded_status(
        record.context_identifier,
        state=record.state,
        endpoint=record.endpoint,
        api=record.api,
        version=record.version,
        valid_until=record.valid_until,
        observed_at=record.observed_at,
    )
