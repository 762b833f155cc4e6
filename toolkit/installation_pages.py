"""The installation pages' logic: the tenant administrator provisions with their own credentials.

SuperOffice's provisioning guide (protocol §7, "Whose credentials provision";
SuperOfficeDocs ``docs/en/developer-portal/provisioning/index.md``): after approving, the
administrator "is then forwarded to the application's installation pages, and the application
begins to use the administrative credentials it received from SuperID". So:

* :meth:`InstallationPages.open_session` turns a completed install (an *administrator's*
  sign-in, ``is_administrator`` true) into an **administrator session**: an opaque random id for
  an HttpOnly cookie; the code flow's access and refresh tokens sealed in the store's user
  sessions, never in a page or a URL. Administrator session ids carry
  :data:`ADMIN_SESSION_PREFIX`; a panel session id (``token_urlsafe``) never contains a dot, so
  a panel session can never pass for an administrator's.
* :meth:`InstallationPages.view` reads the tenant's state and plans the application's manifest
  *with the administrator's credential* (``Authorization: Bearer`` + ``SO-AppToken``: the
  ``GetApp...`` agents need the application token, protocol §7), grouped in plain words.
* :meth:`InstallationPages.start` runs the apply (or the uninstall: SuperOffice's revoke guide,
  ``docs/en/developer-portal/provisioning/revoke.md``) in a background thread with that
  credential; :meth:`InstallationPages.progress` reports it (the stored run's steps, so a run
  started elsewhere, e.g. ``SOTK_PROVISION_AFTER_INSTALL`` as the system user, shows too).
* An access token that is refused mid-run (and cannot be refreshed) ends the run with
  ``needs_sign_in``: the administrator signs in again and a new plan holds only the rest (the
  apply is resumable, :mod:`toolkit.provisioning.apply`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from toolkit.auth.oidc import TokenResponse
from toolkit.auth.transactions import utc_now
from toolkit.browser_sessions import (
    BrowserSession,
    SessionSignIn,
    find_session,
    hashed_cookie_name,
    open_session,
    page_path,
)
from toolkit.browser_sessions import check_csrf as _check_csrf
from toolkit.errors import (
    ApiForbiddenError,
    ApiUnauthorizedError,
    ConfigurationError,
    InvalidGrantError,
    NotAdministratorError,
    NotFoundError,
    PlanConflictError,
    ProvisioningBusyError,
    SessionExpiredError,
    TenantNotRunningError,
    ToolkitError,
)
from toolkit.installation import Installations, InstallResult, application_environment
from toolkit.provisioning.apply import ProvisioningEvent
from toolkit.provisioning.manifest import (
    BUTTON_PANEL_SUFFIX,
    BUTTON_SUFFIX,
    NEW_WINDOW_NAME,
    Manifest,
)
from toolkit.provisioning.plan import Action, Kind, Plan, ProvisioningApi, Step
from toolkit.provisioning.service import Provisioning
from toolkit.store import Application, Repository, UserSession  # noqa: F401 (the inherited session fields name it: pdoc resolves them here)
from toolkit.tenant import TenantAccess, UserCredential

__all__ = [
    "ADMIN_SESSION_PREFIX",
    "ADMIN_SESSION_TTL",
    "INSTALLATION_PATH",
    "UNINSTALL_PATH",
    "AdministratorSession",
    "AdministratorSignIn",
    "InstallationPages",
    "InstallationView",
    "PlanGroup",
    "Progress",
    "admin_cookie_name",
]

logger = logging.getLogger("toolkit.installation_pages")

INSTALLATION_PATH: Final = "/installation"
UNINSTALL_PATH: Final = "/uninstall"
# Marks an administrator session id; token_urlsafe (panel sessions) never produces a dot.
ADMIN_SESSION_PREFIX: Final = "adm."
# An installation visit: long enough to read the plan and provision, short for a cookie that
# carries an administrator's rights. [I: SuperOffice states no rule]
ADMIN_SESSION_TTL: Final = timedelta(hours=1)
ADMIN_COOKIE_PREFIX: Final = "sotk_admin_"
# Who the audit trail and the runs name for the administrator's work.
ADMIN_ACTOR_PREFIX: Final = "administrator:"
OPERATIONS: Final = ("apply", "uninstall")

_ACTION_WORDS: Final = {
    Action.CREATE: "Create",
    Action.UPDATE: "Update",
    Action.DELETE: "Remove",
    Action.ADOPT: "Take over (created earlier by this application)",
    Action.UNCHANGED: "Already there",
}
# Where SuperOffice shows a web panel of each VisibleIn (plain words for the summary) [I].
_WHERE: Final = {
    "ContactCard": "on the company card, as a web panel tab",
    "PersonCard": "on the contact card, as a web panel tab",
    "ProjectCard": "on the project card, as a web panel tab",
    "SaleCard": "on the sale card, as a web panel tab",
    "NavigatorButton": "in the navigator (the main menu on the left)",
    "ButtonPanelTask": "in the main button bar",
    "ToolboxMenu": "in the toolbox menu",
    "TopPanelNewMenu": "in the top panel's New menu",
    "BrowserPanel": "in its own browser panel, opened by its button",
}


def admin_cookie_name(application_id: str, context_identifier: str) -> str:
    """The cookie holding the administrator session of one application x tenant (a hash, so
    it shows neither)."""
    return hashed_cookie_name(ADMIN_COOKIE_PREFIX, "admin", application_id, context_identifier)


@dataclass(frozen=True, repr=False)
class AdministratorSignIn(SessionSignIn):
    """A new administrator session (see :class:`SessionSignIn`)."""


@dataclass(frozen=True, repr=False)
class AdministratorSession(BrowserSession):
    """A live administrator session for one application x tenant."""

    @property
    def actor(self) -> str:
        return f"{ADMIN_ACTOR_PREFIX}{self.record.user}"


@dataclass(frozen=True)
class PlanEntry:
    action: str  # the Action value
    words: str  # "Create web panel “Acme” (on the company card, as a web panel tab)"


@dataclass(frozen=True)
class PlanGroup:
    """One group of the plan in plain words: lists and items, web panels, buttons, ..."""

    title: str
    entries: tuple[PlanEntry, ...]


@dataclass(frozen=True)
class OptionalPart:
    key: str
    kind: str
    name: str


@dataclass
class Progress:
    """Where a run of one application x tenant stands (JSON-ready through :meth:`to_json`).

    ``state``: ``queued`` (the system user's run after install waits for a worker),
    ``planning``, ``running``, ``succeeded``, ``partial``, ``failed``,
    ``needs_sign_in`` (the access token was refused: sign in again, the next run resumes),
    ``busy`` (another apply holds the tenant), ``not_running`` (the tenant's state forbids it).
    """

    operation: str
    state: str
    actor: str = ""
    total: int = 0
    done: int = 0
    run_id: str | None = None
    message: str = ""
    summary: dict[str, int] = field(default_factory=dict)
    where: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state not in ("queued", "planning", "running")

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "state": self.state,
            "finished": self.finished,
            "actor": self.actor,
            "total": self.total,
            "done": self.done,
            "run_id": self.run_id,
            "message": self.message,
            "summary": dict(self.summary),
            "where": list(self.where),
        }


@dataclass(frozen=True)
class InstallationView:
    """What an installation (or uninstall) page shows."""

    application: Application
    context_identifier: str
    company_name: str | None
    approved_by: str | None
    has_system_user_token: bool
    tenant_state: str
    running: bool
    operation: str
    has_manifest: bool
    groups: tuple[PlanGroup, ...] = ()
    optional_parts: tuple[OptionalPart, ...] = ()
    conflicts: tuple[str, ...] = ()
    progress: Progress | None = None
    pending: int = 0
    problem: str = ""


@dataclass
class _Job:
    progress: Progress
    done: threading.Event = field(default_factory=threading.Event)


def _cause_chain(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _needs_sign_in(error: BaseException) -> bool:
    """The administrator's token was refused and could not be renewed (protocol §2.4, open
    question 6: 401 or 403), or the refresh itself was refused."""
    return any(
        isinstance(e, ApiUnauthorizedError | ApiForbiddenError | InvalidGrantError)
        for e in _cause_chain(error)
    )


def _not_running(error: BaseException) -> TenantNotRunningError | None:
    for e in _cause_chain(error):
        if isinstance(e, TenantNotRunningError):
            return e
    return None


class InstallationPages:
    """Administrator sessions, the plan in plain words, runs with the administrator's token."""

    def __init__(
        self,
        repository: Repository,
        installations: Installations,
        tenants: TenantAccess,
        provisioning: Provisioning,
        *,
        now: Callable[[], datetime] | None = None,
        session_ttl: timedelta = ADMIN_SESSION_TTL,
        wrap_api: Callable[[ProvisioningApi], ProvisioningApi] | None = None,
    ) -> None:
        if session_ttl <= timedelta(0):
            raise ConfigurationError("session_ttl must be positive")
        self._repository = repository
        self._installations = installations
        self._tenants = tenants
        self._provisioning = provisioning
        self._now = now or utc_now
        self._session_ttl = session_ttl
        # Tests wrap the administrator's client to inject faults (a token refused mid-run).
        self.wrap_api = wrap_api
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._lock = threading.Lock()
        # The pages' paths as the browser sees them (a mount prefix included: Workspace.use_paths).
        self.installation_path: str = INSTALLATION_PATH
        self.uninstall_path: str = UNINSTALL_PATH
        # Called in the run's thread when an apply or uninstall of these pages ends.
        self.finished_listeners: list[Callable[[Application, str, Progress], None]] = []

    def __repr__(self) -> str:
        return "InstallationPages()"

    @property
    def session_ttl(self) -> timedelta:
        return self._session_ttl

    # -- sessions ------------------------------------------------------------------------------

    def open_session(
        self, result: InstallResult, *, return_to: str | None = None
    ) -> AdministratorSignIn:
        """An administrator session from a completed install (the code flow's tokens).

        Raises :class:`~toolkit.errors.NotAdministratorError` when the sign-in is not an
        administrator's (``is_administrator`` claim missing or false: fail closed); nothing is
        stored then.
        """
        claims = result.claims
        ctx = result.authorization.context_identifier
        if claims.is_administrator is not True:
            raise NotAdministratorError(
                f"only an administrator of {ctx} can use the installation pages",
                context_identifier=ctx,
            )
        tokens = result.tokens
        if tokens is None or not tokens.access_token:
            raise ConfigurationError("the install gave no access token to provision with")
        if (
            return_to is not None
            and return_to.startswith(self.uninstall_path)
            and "ctx=" not in return_to
        ):
            # The App Store's Uninstall URL names no tenant; SuperID's sign-in did.
            return_to = page_path(self.uninstall_path, result.application.name, ctx)
        session_id, record = open_session(
            self._repository,
            result.application,
            ctx,
            claims,
            tokens,
            ttl=self._session_ttl,
            prefix=ADMIN_SESSION_PREFIX,
        )
        logger.info("administrator session opened for %s in %s", result.application.name, ctx)
        return AdministratorSignIn(
            session_id=session_id,
            cookie_name=admin_cookie_name(result.application.id, ctx),
            application=result.application,
            context_identifier=ctx,
            user=claims.subject,
            return_to=return_to or page_path(self.installation_path, result.application.name, ctx),
            expires_at=record.expires_at,
        )

    def cookie_name(self, application: str, context_identifier: str) -> str:
        app = self._repository.get_application(application)
        return admin_cookie_name(app.id, context_identifier)

    def session(
        self, session_id: str | None, application: str, context_identifier: str
    ) -> AdministratorSession:
        """The live administrator session for ``application`` in the tenant.

        Raises :class:`~toolkit.errors.SessionExpiredError` (none, unknown, ended, expired or
        not an administrator session) or :class:`~toolkit.errors.SessionMismatchError`.
        """
        app = self._repository.get_application(application)
        if not session_id or not session_id.startswith(ADMIN_SESSION_PREFIX):
            raise SessionExpiredError("not signed in as an administrator")
        record = find_session(self._repository, session_id, app, context_identifier)
        return AdministratorSession(session_id=session_id, application=app, record=record)

    @staticmethod
    def check_csrf(session: AdministratorSession, csrf_token: str | None) -> None:
        """:class:`~toolkit.errors.CsrfError` unless ``csrf_token`` is the session's."""
        _check_csrf(session, csrf_token)

    def sign_in_url(self, application: str, context_identifier: str, *, return_to: str) -> str:
        """SuperID's authorize URL that signs the administrator in again and comes back to
        ``return_to`` (an install of an approved application: SuperID asks no consent)."""
        return self._installations.begin(
            application, tenant=context_identifier, return_to=return_to
        )

    # -- the administrator's credential ------------------------------------------------------

    def administrator_api(self, session: AdministratorSession) -> ProvisioningApi:
        """The tenant REST client as the administrator: ``Bearer`` + ``SO-AppToken`` (§5, §7),
        refreshed once after 401/403 with the session's refresh token (kept in the session)."""
        app = session.application
        record = session.record
        state = {"refresh_token": record.refresh_token.reveal() if record.refresh_token else None}
        superid = self._installations.client_for(app)

        def refresh() -> TokenResponse:
            token = state["refresh_token"]
            if not token:
                raise InvalidGrantError("invalid_grant", "the session holds no refresh token")
            renewed = superid.refresh(token)
            state["refresh_token"] = renewed.refresh_token or token
            return renewed

        def keep(renewed: str | TokenResponse) -> None:
            if isinstance(renewed, str):  # pragma: no cover - refresh() gives TokenResponse
                return
            self._repository.update_user_session_tokens(
                session.session_id,
                access_token=renewed.access_token,
                refresh_token=renewed.refresh_token or state["refresh_token"],
                access_expires_at=renewed.expires_at,
            )

        credential = UserCredential(
            record.access_token.reveal(),
            refresh=refresh if state["refresh_token"] else None,
            on_refresh=keep,
            application_token=app.client_secret.reveal(),
            context_identifier=record.context_identifier,
        )
        api: ProvisioningApi = self._tenants.user_api(
            application_environment(app), record.context_identifier, credential
        )
        if self.wrap_api is not None:
            api = self.wrap_api(api)
        return api

    def _service(self, api: ProvisioningApi) -> Provisioning:
        """The workspace's provisioning, with the administrator's client for every call."""
        base = self._provisioning
        return Provisioning(
            base.repository,
            base.tenants,
            public_url=base.public_url,
            api=lambda _app, _ctx: api,
            lock_ttl=base.lock_ttl,
            list_cache=base.list_cache,
        )

    # -- views ---------------------------------------------------------------------------------

    def view(self, session: AdministratorSession, operation: str = "apply") -> InstallationView:
        """The page's content: the record, the tenant's state, and the plan (``apply``) or
        what the application owns (``uninstall``), read with the administrator's token."""
        if operation not in OPERATIONS:
            raise ConfigurationError("operation is apply or uninstall")
        app = session.application
        ctx = session.context_identifier
        try:
            record: Any = self._repository.get_authorization(app.id, ctx)
        except NotFoundError:
            record = None
        status = self._tenants.status(app.id, ctx)
        base = InstallationView(
            application=app,
            context_identifier=ctx,
            company_name=record.company_name if record else None,
            approved_by=record.approved_by if record else None,
            has_system_user_token=bool(record and record.has_system_user_token),
            tenant_state=status.state.name,
            running=status.is_running,
            operation=operation,
            has_manifest=False,
            progress=self.progress(app.id, ctx),
        )
        manifest = self._provisioning.manifest_for(app.id)
        if not status.is_running:
            return replace(base, has_manifest=manifest is not None)
        if operation == "apply" and manifest is None:
            return base
        api = self.administrator_api(session)
        service = self._service(api)
        try:
            if operation == "apply":
                assert manifest is not None  # noqa: S101 - checked above
                plan = service.plan(app.id, ctx, manifest)
            else:
                plan = service.plan_uninstall(app.id, ctx, manifest)
        except ToolkitError as exc:
            if _needs_sign_in(exc):
                return replace(base, has_manifest=True, problem="needs_sign_in")
            raise
        optional = tuple(
            OptionalPart(key, kind, name)
            for key, kind, name in (manifest.optional_parts() if manifest else ())
        )
        return replace(
            base,
            has_manifest=manifest is not None,
            groups=describe_plan(plan, manifest),
            optional_parts=optional if operation == "apply" else (),
            conflicts=plan.conflicts,
            pending=len(plan.pending),
        )

    # -- runs ----------------------------------------------------------------------------------

    def start(
        self,
        session: AdministratorSession,
        *,
        operation: str,
        csrf_token: str | None,
        selected: Iterable[str] = (),
    ) -> Progress:
        """Start an apply (the manifest without the optional parts left unchecked) or an
        uninstall with the administrator's credential, in a background thread.

        Raises :class:`~toolkit.errors.CsrfError`, :class:`~toolkit.errors.ConfigurationError`
        (no manifest, an unknown optional part) and
        :class:`~toolkit.errors.ProvisioningBusyError` when a run of this session's tenant is
        already going here.
        """
        self.check_csrf(session, csrf_token)
        if operation not in OPERATIONS:
            raise ConfigurationError("operation is apply or uninstall")
        app = session.application
        ctx = session.context_identifier
        manifest = self._provisioning.manifest_for(app.id)
        chosen: Manifest | None = manifest
        if operation == "apply":
            if manifest is None:
                raise ConfigurationError(f"application {app.name!r} has no manifest")
            keys = {key for key, _, _ in manifest.optional_parts()}
            picked = set(selected)
            unknown = picked - keys
            if unknown:
                raise ConfigurationError(f"unknown optional part {sorted(unknown)[0][:60]!r}")
            chosen = manifest.choose(picked)
        job_key = (app.id, ctx.casefold())
        with self._lock:
            current = self._jobs.get(job_key)
            if current is not None and not current.done.is_set():
                raise ProvisioningBusyError(f"a run for {ctx} is already going")
            job = _Job(Progress(operation=operation, state="planning", actor=session.actor))
            self._jobs[job_key] = job
        self._repository.record_audit(
            session.actor,
            f"installation_page.{operation}_started",
            application=app.name,
            context_identifier=ctx,
            summary={"optional": sorted(set(selected))} if operation == "apply" else {},
        )
        api = self.administrator_api(session)
        thread = threading.Thread(
            target=self._run,
            args=(job,),
            kwargs={
                "api": api,
                "app": app,
                "ctx": ctx,
                "operation": operation,
                "manifest": chosen,
                "actor": session.actor,
            },
            name=f"sotk-install-{ctx}",
            daemon=True,
        )
        thread.start()
        return job.progress

    def _run(
        self,
        job: _Job,
        *,
        api: ProvisioningApi,
        app: Application,
        ctx: str,
        operation: str,
        manifest: Manifest | None,
        actor: str,
    ) -> None:
        progress = job.progress
        service = self._service(api)

        def on_event(event: ProvisioningEvent) -> None:
            with self._lock:
                progress.run_id = event.run_id
                progress.total = event.total
                if event.kind == "run_started":
                    progress.state = "running"
                elif event.kind in ("step_finished", "step_failed"):
                    progress.done = (event.position or 0) + 1

        try:
            if operation == "apply":
                run = service.apply(app.id, ctx, actor=actor, manifest=manifest, on_event=on_event)
            else:
                run = service.uninstall(app.id, ctx, manifest, actor=actor, on_event=on_event)
            with self._lock:
                progress.state = run.outcome
                progress.run_id = run.id
                progress.total = run.steps_total
                progress.done = run.steps_total
                stored = self._repository.get_provisioning_run(run.id)
                progress.summary = _summary(stored.steps)
                if operation == "apply" and manifest is not None:
                    progress.where = where_to_find(manifest)
        except ToolkitError as exc:
            with self._lock:
                if _needs_sign_in(exc):
                    progress.state = "needs_sign_in"
                    progress.message = "Your sign-in has expired. Sign in again to continue."
                elif (not_running := _not_running(exc)) is not None:
                    progress.state = "not_running"
                    state = getattr(not_running.state, "name", not_running.state)
                    progress.message = f"The tenant is {state}; try again later."
                elif isinstance(exc, ProvisioningBusyError):
                    progress.state = "busy"
                    progress.message = "Another run is changing this tenant; try again shortly."
                elif isinstance(exc, PlanConflictError):
                    progress.state = "failed"
                    progress.message = "Another application already uses one of its web panels."
                else:
                    progress.state = "failed"
                    progress.message = f"The run failed ({type(exc).__name__})."
            logger.warning("installation-page %s of %s in %s: %s", operation, app.name, ctx, exc)
            self._repository.record_audit(
                actor,
                f"installation_page.{operation}_stopped",
                application=app.name,
                context_identifier=ctx,
                summary={"state": progress.state, "error": type(exc).__name__},
            )
        except Exception:  # pragma: no cover - never leave a page polling forever
            logger.exception("installation-page run crashed")
            with self._lock:
                progress.state = "failed"
                progress.message = "The run failed on our side."
        finally:
            job.done.set()
            with self._lock:
                finished = replace(progress, summary=dict(progress.summary))
            for listener in list(self.finished_listeners):
                try:  # a listener (the mounted endpoints' hooks) never breaks the run
                    listener(app, ctx, finished)
                except Exception:
                    logger.exception("a finished-run listener failed")

    def progress(self, application: str, context_identifier: str) -> Progress | None:
        """The run of this process for the tenant, else the latest stored run (e.g. one started
        after install as the system user); None if there was none."""
        app = self._repository.get_application(application)
        with self._lock:
            job = self._jobs.get((app.id, context_identifier.casefold()))
            if job is not None:
                return replace(job.progress, summary=dict(job.progress.summary))
        runs = self._repository.list_provisioning_runs(app.id, context_identifier, limit=1)
        if not runs:
            return None
        run = self._repository.get_provisioning_run(runs[0].id)
        done = sum(1 for step in run.steps if step.outcome in ("done", "adopted", "failed"))
        state = run.outcome
        return Progress(
            operation=run.operation,
            state=state,
            actor=run.actor,
            total=run.steps_total,
            done=run.steps_total if state != "running" else done,
            run_id=run.id,
            message=run.error or "",
            summary=_summary(run.steps) if state != "running" else {},
        )

    def wait(self, application: str, context_identifier: str, timeout: float) -> Progress | None:
        """Block until this process's run for the tenant ends (for notebooks and tests)."""
        app = self._repository.get_application(application)
        with self._lock:
            job = self._jobs.get((app.id, context_identifier.casefold()))
        if job is not None:
            job.done.wait(timeout)
        return self.progress(application, context_identifier)


def _summary(steps: Iterable[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.outcome] = counts.get(step.outcome, 0) + 1
    return counts


def _button_prog_ids(manifest: Manifest | None) -> frozenset[str]:
    if manifest is None:
        return frozenset()
    return frozenset(
        f"{button.prog_id}{suffix}"
        for button in manifest.buttons
        for suffix in (BUTTON_PANEL_SUFFIX, BUTTON_SUFFIX)
    )


def _words(step: Step, buttons: frozenset[str]) -> tuple[str, str]:
    """(group title, plain words) of one step."""
    action = _ACTION_WORDS.get(step.action, str(step.action))
    if step.kind is Kind.LIST:
        return "Lists and list items", f"{action} list “{step.name}”"
    if step.kind is Kind.LIST_ITEM:
        return "Lists and list items", f"{action} item “{step.name}” in list “{step.list_name}”"
    if step.kind is Kind.APP_WEB_PANELS:
        prog_ids = ", ".join(str(p) for p in step.desired.get("ProgIds", ()))
        return "Web panels and buttons", f"{action} {step.name}: {prog_ids}"
    if step.kind is Kind.WEB_PANEL:
        visible_in = str(step.desired.get("VisibleIn", ""))
        where = _WHERE.get(visible_in, f"shown as {visible_in}" if visible_in else "")
        title = "Buttons" if step.key in buttons else "Web panels"
        if step.desired.get("WindowName") == NEW_WINDOW_NAME:
            where = f"{where}, opening the application in a new window".lstrip(", ")
        suffix = f" ({where})" if where else ""
        return title, f"{action} {title[:-1].lower()} “{step.name}”{suffix}"
    if step.kind is Kind.APP_TASK_MENUS:
        prog_ids = ", ".join(str(p) for p in step.desired.get("ProgIds", ()))
        return "Task menus", f"{action} {step.name}: {prog_ids}"
    if step.kind is Kind.TASK_MENU:
        table = str(step.desired.get("TableName", ""))
        suffix = f" (in the task menu of {table} records)" if table else ""
        return "Task menus", f"{action} task menu item “{step.name}”{suffix}"
    # Kinds this page does not know by name: grouped by their kind.
    title = str(step.kind).replace("_", " ").capitalize() + "s"
    return title, f"{action} {str(step.kind).replace('_', ' ')} “{step.name}”"


def describe_plan(plan: Plan, manifest: Manifest | None) -> tuple[PlanGroup, ...]:
    """The plan's steps grouped in plain words, in the order the groups first appear."""
    buttons = _button_prog_ids(manifest)
    groups: dict[str, list[PlanEntry]] = {}
    for step in plan.steps:
        title, words = _words(step, buttons)
        groups.setdefault(title, []).append(PlanEntry(str(step.action), words))
    return tuple(PlanGroup(title, tuple(entries)) for title, entries in groups.items())


def where_to_find(manifest: Manifest) -> tuple[str, ...]:
    """Where the administrator finds what was provisioned, in SuperOffice's words [I]."""
    lines: list[str] = []
    for spec in manifest.lists:
        lines.append(f"List “{spec.name}”: Settings and maintenance → Lists.")
    for panel in manifest.web_panels:
        where = _WHERE.get(str(panel.visible_in), f"where SuperOffice shows {panel.visible_in}")
        lines.append(f"Web panel “{panel.name}”: {where}.")
    for button in manifest.buttons:
        lines.append(f"Button “{button.name}”: {_WHERE['NavigatorButton']}.")
    return tuple(lines)
