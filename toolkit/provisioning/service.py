"""The provisioning service the workspace holds as ``ws.provisioning``.

::

    ws.provisioning.set_manifest("Acme Sync", Path("manifest.toml"), actor="ops")
    plan = ws.provisioning.plan("Acme Sync", "Cust12345")
    run = ws.provisioning.apply("Acme Sync", "Cust12345", plan, actor="ops")
    ws.provisioning.uninstall("Acme Sync", "Cust12345", actor="ops")

An application's manifest is kept in the store (``applications.manifest``, TOML text, validated
before it is stored), so every front end and every process sees the same one; ``{public_url}``
in it is the workspace's ``public_url`` and ``{app}`` the application's id (its ``/panel``
path). A manifest whose ``/panel`` URL could never identify the application is refused when it
is stored. The calls run as the application's system user.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from toolkit.errors import ConfigurationError, InputFileError, ManifestError
from toolkit.files import MAX_TEXT_FILE_BYTES, read_limited_text
from toolkit.naming import check_context_identifier
from toolkit.provisioning.apply import LOCK_TTL, EventCallback, apply_manifest, apply_plan
from toolkit.provisioning.manifest import ApplicationIdentity, Manifest, load_manifest
from toolkit.provisioning.plan import LIST_CACHE, Plan, ProvisioningApi, make_plan
from toolkit.store import Application, ProvisioningRun, Repository
from toolkit.tenant import TenantAccess

__all__ = ["Provisioning"]

logger = logging.getLogger("toolkit.provisioning")

ApiFactory = Callable[[Application, str], ProvisioningApi]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _identity(application: Application) -> ApplicationIdentity:
    return ApplicationIdentity(id=application.id, name=application.name)


@functools.lru_cache(maxsize=64)
def _stored_manifest(
    text: str, model: str | None, public_url: str | None, application: ApplicationIdentity
) -> Manifest:
    """A stored manifest, validated once per text and application: a fleet plans every tenant
    with the same one, and parsing and validating it for each was about a tenth of a plan's
    client CPU (issue 14). A Manifest is immutable; an invalid text raises, and is not kept."""
    return load_manifest(
        text,
        model=model,
        public_url=public_url,
        name=f"{application.name}: manifest",
        application=application,
        check_panel_urls=False,  # checked when stored; an older one still loads
    )


class Provisioning:
    """Manifests, plans, applies, uninstalls and runs, for every application and tenant.

    ``api`` builds the tenant client for (application, tenant) (default: the system user's
    :class:`~toolkit.tenant.WebApiClient` from ``tenants``); tests wrap it to inject faults.
    """

    def __init__(
        self,
        repository: Repository,
        tenants: TenantAccess,
        *,
        public_url: str | None = None,
        api: ApiFactory | None = None,
        now: Callable[[], datetime] | None = None,
        lock_ttl: timedelta = LOCK_TTL,
        list_cache: timedelta = LIST_CACHE,
    ) -> None:
        self.repository = repository
        self.tenants = tenants
        self.public_url = public_url
        self._api = api
        self._now = now or _utc_now
        self.lock_ttl = lock_ttl
        # How old the store's copy of a tenant's list definitions a plan may use is
        # (SOTK_PROVISIONING_LIST_CACHE_SECONDS; toolkit.provisioning.plan.read_snapshot).
        self.list_cache = list_cache

    def __repr__(self) -> str:
        return f"Provisioning(public_url={self.public_url!r})"

    def api(self, application: Application, context_identifier: str) -> ProvisioningApi:
        if self._api is not None:
            return self._api(application, context_identifier)
        return self.tenants.system_user_api(application.id, context_identifier)

    # -- manifests ----------------------------------------------------------------------------

    def load(self, source: str | Path, application: str | None = None) -> Manifest:
        """Validate a manifest (path or TOML text), for ``application`` if given (its model,
        ``{app}``, its ``/panel`` URLs)."""
        model = identity = None
        if application is not None:
            app = self.repository.get_application(application)
            model, identity = app.model, _identity(app)
        return load_manifest(source, model=model, public_url=self.public_url, application=identity)

    def manifest_for(self, application: str) -> Manifest | None:
        """The application's stored manifest, validated for its model; None when it has none."""
        return self._stored(self.repository.get_application(application))

    def _stored(self, app: Application) -> Manifest | None:
        text = self.repository.get_application_manifest(app.id)
        if text is None:
            return None
        return _stored_manifest(text, app.model, self.public_url, _identity(app))

    def set_manifest(
        self, application: str, source: str | Path | None, *, actor: str
    ) -> Manifest | None:
        """Validate and store the application's manifest (None removes it). An invalid one
        raises :class:`~toolkit.errors.ManifestError` and changes nothing."""
        app = self.repository.get_application(application)
        if source is None:
            self.repository.set_application_manifest(app.id, None, actor=actor)
            return None
        if isinstance(source, Path):
            try:  # a regular file within the manifest size cap (never /dev/zero or a FIFO)
                text = read_limited_text(source, limit=MAX_TEXT_FILE_BYTES, what="manifest")
            except InputFileError as exc:
                raise ManifestError(source.name, [(None, "", str(exc))]) from None
            label = source.name
        else:
            text, label = source, "<manifest>"
        manifest = load_manifest(
            text,
            model=app.model,
            public_url=self.public_url,
            name=label,
            application=_identity(app),
        )
        self.repository.set_application_manifest(app.id, text, actor=actor)
        return manifest

    def _manifest(self, application: Application, manifest: Manifest | None) -> Manifest:
        if manifest is not None:
            if manifest.model is not None and manifest.model != application.model:
                raise ConfigurationError(
                    f"the manifest is for {manifest.model!r} applications; "
                    f"{application.name!r} is {application.model!r}"
                )
            return manifest
        stored = self._stored(application)
        if stored is None:
            raise ConfigurationError(
                f"application {application.name!r} has no manifest; set one first"
            )
        return stored

    # -- plan, apply, uninstall ---------------------------------------------------------------

    def plan(
        self,
        application: str,
        context_identifier: str,
        manifest: Manifest | None = None,
        *,
        fresh: bool = False,
    ) -> Plan:
        """Read the tenant and diff it against the manifest (default: the stored one).

        The list definitions come from the store's copy while it is younger than
        :attr:`list_cache`; ``fresh`` reads them from the tenant all the same (after an
        administrator changed one of the application's lists, say)."""
        context_identifier = check_context_identifier(context_identifier)
        app = self.repository.get_application(application)
        chosen = self._manifest(app, manifest)
        api = self.api(app, context_identifier)
        return make_plan(
            api,
            self.repository,
            app,
            context_identifier,
            chosen,
            now=self._now(),
            list_cache=self.list_cache,
            fresh=fresh,
        )

    def apply(
        self,
        application: str,
        context_identifier: str,
        plan: Plan | None = None,
        *,
        actor: str,
        manifest: Manifest | None = None,
        on_event: EventCallback | None = None,
        lock_wait: float = 0.0,
        lock_owner: str | None = None,
    ) -> ProvisioningRun:
        """Apply ``plan`` (None: plan now, then apply). See :func:`~toolkit.provisioning.apply.
        apply_plan` for the lock (``lock_owner``), the staleness check and what is recorded."""
        context_identifier = check_context_identifier(context_identifier)
        app = self.repository.get_application(application)
        api = self.api(app, context_identifier)
        if plan is None:
            # Planned under the apply's lock: one read of the tenant serves the plan and the
            # run's read-backs.
            return apply_manifest(
                api,
                self.repository,
                app,
                context_identifier,
                self._manifest(app, manifest),
                actor=actor,
                on_event=on_event,
                lock_ttl=self.lock_ttl,
                lock_wait=lock_wait,
                owner=lock_owner,
                now=self._now(),
                list_cache=self.list_cache,
            )
        if plan.context_identifier.casefold() != context_identifier.casefold():
            raise ConfigurationError(
                f"the plan is for {plan.context_identifier!r}, not {context_identifier!r}"
            )
        return apply_plan(
            api,
            self.repository,
            app,
            plan,
            actor=actor,
            on_event=on_event,
            lock_ttl=self.lock_ttl,
            lock_wait=lock_wait,
            manifest=manifest,
            owner=lock_owner,
            list_cache=self.list_cache,
        )

    def plan_uninstall(
        self, application: str, context_identifier: str, manifest: Manifest | None = None
    ) -> Plan:
        """What :meth:`uninstall` would delete: the app's panels, lists and items it created."""
        context_identifier = check_context_identifier(context_identifier)
        app = self.repository.get_application(application)
        chosen = manifest or self.manifest_for(app.id) or Manifest(model=app.model)
        api = self.api(app, context_identifier)
        return make_plan(
            api,
            self.repository,
            app,
            context_identifier,
            chosen,
            operation="uninstall",
            now=self._now(),
        )

    def uninstall(
        self,
        application: str,
        context_identifier: str,
        manifest: Manifest | None = None,
        *,
        actor: str,
        on_event: EventCallback | None = None,
        lock_wait: float = 0.0,
        lock_owner: str | None = None,
    ) -> ProvisioningRun:
        """Remove what the application owns in the tenant, nothing else: its web panels
        (``DeleteAppWebPanels``, which only ever touches the caller's panels), then the list
        items and lists it created (the store's ownership records). Other applications' and
        the administrator's objects stay."""
        context_identifier = check_context_identifier(context_identifier)
        app = self.repository.get_application(application)
        plan = self.plan_uninstall(app.id, context_identifier, manifest)
        return apply_plan(
            self.api(app, context_identifier),
            self.repository,
            app,
            plan,
            actor=actor,
            on_event=on_event,
            lock_ttl=self.lock_ttl,
            lock_wait=lock_wait,
            owner=lock_owner,
            list_cache=self.list_cache,
        )

    def provision_after_install(
        self,
        application: str,
        context_identifier: str,
        *,
        actor: str,
        on_event: EventCallback | None = None,
    ) -> ProvisioningRun | None:
        """What ``/callback`` calls after an install: apply the application's manifest when it
        has one (None otherwise). Waits briefly for a concurrent apply (a double callback)."""
        app = self.repository.get_application(application)
        manifest = self.manifest_for(app.id)
        if manifest is None:
            return None
        return self.apply(
            app.id,
            context_identifier,
            actor=actor,
            manifest=manifest,
            on_event=on_event,
            lock_wait=self.lock_ttl.total_seconds(),
        )

    # -- runs ---------------------------------------------------------------------------------

    def runs(
        self,
        application: str | None = None,
        context_identifier: str | None = None,
        *,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[ProvisioningRun]:
        """Stored runs, newest first (without steps; :meth:`run` has them); the tenant in any
        case."""
        if context_identifier is not None:
            context_identifier = check_context_identifier(context_identifier)
        return self.repository.list_provisioning_runs(
            application, context_identifier, outcome=outcome, limit=limit
        )

    def run(self, run_id: str) -> ProvisioningRun:
        """One stored run with its steps."""
        return self.repository.get_provisioning_run(run_id)
