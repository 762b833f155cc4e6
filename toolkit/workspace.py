"""The one composition root every front end uses: CLI, partner endpoints, dashboard, notebooks.

:meth:`Workspace.open` builds, once and in this order: settings → store (migrations applied, key
ring loaded and proven to fit the store: a wrong key refuses to start with
:class:`~toolkit.errors.SecretKeyError`) → the toolkit's httpx client → services
(:class:`~toolkit.applications.Applications`, :class:`~toolkit.installation.Installations`,
:class:`~toolkit.tenant.TenantAccess`: tenant state, tickets, tenant REST and SOAP clients;
:class:`~toolkit.tenant_events.TenantEvents`: state-change webhooks and the tenants' last known
state; :class:`~toolkit.user_context.UserContexts`: the normal user context behind ``/panel``).
Front ends hold no protocol logic; they call these services.

::

    with Workspace.open() as ws:
        ws.applications.list()
        url = ws.install_url("Acme Sync", tenant="Cust12345")
        panels = ws.tenants.system_user_api("Acme Sync", "Cust12345").app_web_panels()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import httpx

from toolkit.applications import Applications
from toolkit.auth.tokens import ValidationPolicy
from toolkit.config import Settings
from toolkit.http import HttpTimeouts, create_client
from toolkit.installation import Installations
from toolkit.installation_pages import InstallationPages
from toolkit.naming import check_context_identifier, is_installed
from toolkit.partner_paths import DEFAULT_PARTNER_PATHS, PartnerPaths
from toolkit.provisioning.manifest import CONTEXT_IDENTIFIER_VARIABLE
from toolkit.provisioning.service import Provisioning
from toolkit.store import Repository, open_store
from toolkit.store.repository import utc_now
from toolkit.tenant import TenantAccess
from toolkit.tenant_events import TenantEvents
from toolkit.user_context import UserContexts

if TYPE_CHECKING:
    from toolkit.jobs.client import Jobs

__all__ = ["INSTALL_PATH", "Workspace"]

logger = logging.getLogger("toolkit.workspace")

# The partner endpoint that starts an install at the root (PartnerPaths.install by default).
INSTALL_PATH = DEFAULT_PARTNER_PATHS.install


class Workspace:
    """Settings, store, http client and services, built once; close it when done.

    Build it with :meth:`open`. ``http`` given to :meth:`open` stays the caller's (it is not
    closed by :meth:`close`); the one :meth:`open` creates is closed with the store.
    """

    settings: Settings
    repository: Repository
    http: httpx.Client
    applications: Applications
    installations: Installations
    tenants: TenantAccess
    provisioning: Provisioning
    tenant_events: TenantEvents
    user_contexts: UserContexts
    installation_pages: InstallationPages
    paths: PartnerPaths

    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        http: httpx.Client,
        *,
        owns_http: bool,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.http = http
        self._owns_http = owns_http
        self._closed = False
        self._jobs: Jobs | None = None
        self.applications = Applications(repository, http)
        policy = ValidationPolicy.from_settings(settings)
        self.installations = Installations(repository, http, policy=policy, now=now)
        self.tenants = TenantAccess(repository, http, now=now)
        # Manifests, plans, applies and runs; {public_url} in manifests is the partner's URL.
        self.provisioning = Provisioning(
            repository,
            self.tenants,
            public_url=settings.public_url,
            now=now,
            lock_ttl=timedelta(seconds=settings.provisioning_lock_seconds),
            list_cache=timedelta(seconds=settings.provisioning_list_cache_seconds),
        )
        tenants = self.tenants
        self.tenant_events = TenantEvents(
            repository,
            http,
            policy=policy,
            now=now,
            # A notification is confirmed with the state API, through the tenants' shared cache.
            status_client=tenants.status_client,
        )
        self.user_contexts = UserContexts(
            repository, http, self.installations, tenants, policy=policy, now=now
        )
        # The administrator's installation and uninstall pages (their own credentials).
        self.installation_pages = InstallationPages(
            repository, self.installations, tenants, self.provisioning, now=now
        )
        # Where the partner endpoints are (SOTK_PARTNER_PREFIX); a mounted app's paths replace
        # these when it is bound (toolkit.web.integration).
        self.use_paths(PartnerPaths(prefix=settings.partner_prefix))

    def use_paths(self, paths: PartnerPaths) -> None:
        """Where the partner endpoints are mounted (``toolkit.web.integration`` calls this when
        it is bound): every URL and local path the workspace and its services hand out follows
        ``paths`` from now on."""
        self.paths = paths
        self.user_contexts.panel_path = paths.full(paths.panel)
        self.installation_pages.installation_path = paths.full(paths.installation)
        self.installation_pages.uninstall_path = paths.full(paths.uninstall)

    def _url(self, path: str) -> str:
        return f"{self.settings.public_url}{self.paths.full(path)}"

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        http: httpx.Client | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> Workspace:
        """Open the workspace. Raises :class:`~toolkit.errors.SecretKeyError` for a missing or
        wrong key, :class:`~toolkit.errors.ConfigurationError` for unusable settings, and
        pydantic's ``ValidationError`` when ``settings`` is None and the environment is bad."""
        settings = settings if settings is not None else Settings()
        secret_keys = settings.secret_keys.get_secret_value() if settings.secret_keys else None
        repository = open_store(
            settings.database_url, settings.home, secret_keys, now=now or utc_now
        )
        owns_http = http is None
        try:
            client = (
                http
                if http is not None
                else create_client(timeout=HttpTimeouts.from_settings(settings))
            )
            workspace = cls(settings, repository, client, owns_http=owns_http, now=now)
        except BaseException:
            repository.close()
            raise
        logger.debug("workspace opened (home=%s)", settings.home)
        return workspace

    def install_url(self, application: str, *, tenant: str | None = None) -> str:
        """The partner endpoint URL that installs ``application`` (optionally into ``tenant``).

        ``f"{settings.public_url}{prefix}/install?app=...(&tenant=...)"`` (:attr:`paths`); an
        unknown application
        raises :class:`~toolkit.errors.UnknownApplicationError`, a malformed tenant
        :class:`~toolkit.errors.InvalidContextIdentifierError` (a ConfigurationError).
        """
        app = self.applications.get(application)
        params = {"app": app.name}
        if tenant is not None:
            params["tenant"] = check_context_identifier(tenant)
        return f"{self._url(self.paths.install)}?{urlencode(params)}"

    def callback_url(self) -> str:
        """Where the partner endpoints receive SuperID's callback:
        ``{settings.public_url}{prefix}/callback`` (:attr:`paths`); an application installed
        through them must have registered exactly this redirect URI (``sotk doctor`` checks)."""
        return self._url(self.paths.callback)

    def is_installed(self, application: str, context_identifier: str) -> bool:
        """Whether ``application`` (name or id) is installed in the tenant: an administrator
        approved it and the approval still holds (an ``active`` record; the tenant matches in
        any case). Asks the store only. An unknown application raises
        :class:`~toolkit.errors.UnknownApplicationError`, a malformed tenant
        :class:`~toolkit.errors.InvalidContextIdentifierError`."""
        return is_installed(self.repository, application, context_identifier)

    def state_change_url(self, application: str) -> str:
        """The URL to register as ``application``'s "Customer state change" URL (Developer
        Portal, or the emulator's registration):
        ``{settings.public_url}{prefix}/state-change/{client_id}`` (:attr:`paths`).

        Each application has its own, so a notification names its application by where it
        arrives (the token's audience is undocumented: open question 16). An unknown application
        raises :class:`~toolkit.errors.UnknownApplicationError`.
        """
        app = self.applications.get(application)
        return f"{self._url(self.paths.state_change)}/{quote(app.client_id, safe='')}"

    def panel_url(self, application: str) -> str:
        """The web panel URL to provision for ``application``:
        ``{public_url}{prefix}/panel/{id}?uctx=<uctx>`` (SuperOffice fills ``<uctx>`` in)."""
        app = self.applications.get(application)
        panel = self._url(self.paths.panel)
        return f"{panel}/{quote(app.id, safe='')}?uctx={CONTEXT_IDENTIFIER_VARIABLE}"

    def uninstall_url(self, application: str) -> str:
        """The uninstall page of ``application`` (the App Store listing's Uninstall URL)."""
        app = self.applications.get(application)
        return f"{self._url(self.paths.uninstall)}?{urlencode({'app': app.name})}"

    def check_database(self) -> None:
        """Raise if the store cannot be read (a cheap read through the repository)."""
        self.repository.list_audit(limit=1)

    @property
    def jobs(self) -> Jobs:
        """Background jobs (enqueue, list, follow, cancel, retry) in this store's database;
        made on first use (the job engine's client loads only then)."""
        if self._jobs is None:
            from toolkit.jobs.client import Jobs

            self._jobs = Jobs(self.repository)
        return self._jobs

    def close(self) -> None:
        """Close the http client (if the workspace made it) and the store's connections."""
        if self._closed:
            return
        self._closed = True
        if self._jobs is not None:
            self._jobs.close()
        try:
            if self._owns_http:
                self.http.close()
        finally:
            self.repository.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        home, public_url = str(self.settings.home), self.settings.public_url
        return f"Workspace(home={home!r}, public_url={public_url!r})"
