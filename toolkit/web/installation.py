"""``/installation`` and ``/uninstall``: the administrator's installation pages (protocol §7).

* ``GET /installation?app=NAME&ctx=CustNNNNN``: the installation page of the tenant (the
  callback shows it first): application, tenant, company, the tenant's state, the plan of the
  application's manifest in plain words, optional parts as checkboxes and a **Provision**
  button, then the live progress and a summary. Without an administrator session: a 303 to
  SuperID (sign in, then back here).
* ``POST /installation``: start provisioning with the administrator's credential (CSRF token
  required); 303 back to the page.
* ``GET /installation/status?app=NAME&ctx=CustNNNNN``: the progress as JSON (the page polls it).
* ``GET /uninstall?app=NAME[&ctx=CustNNNNN]``: the uninstall page: what the application owns in
  the tenant and a **Remove** button (``POST /uninstall``). Without a session: SuperID first.
  This is the URL for the App Store listing's *Uninstall URL* (protocol §3).

The administrator session cookie is HttpOnly, ``SameSite=Lax``, ``Secure`` unless plain http on
loopback, and holds an opaque id only; the tokens stay sealed in the store. Every rule lives in
:class:`~toolkit.installation_pages.InstallationPages`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from toolkit.auth.oidc import validate_context_identifier
from toolkit.browser_sessions import page_path
from toolkit.errors import (
    ConfigurationError,
    CsrfError,
    NotFoundError,
    ProvisioningBusyError,
    SessionError,
    SignInError,
    TenantNotRunningError,
    ToolkitError,
    TransportError,
)
from toolkit.installation_pages import (
    INSTALLATION_PATH,
    AdministratorSession,
    AdministratorSignIn,
    Progress,
)
from toolkit.web.install import _BadRequest, _read_form, _single
from toolkit.web.installation_html import installation_page, refusal_page
from toolkit.web.panel import set_session_cookie

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["STATUS_PATH", "InstallationEndpoints", "set_admin_cookie"]

logger = logging.getLogger("toolkit.web")

STATUS_PATH = f"{INSTALLATION_PATH}/status"
# The pages' forms hold a CSRF token and a few optional-part keys.
MAX_OPTIONAL_PARTS = 100


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def set_admin_cookie(
    response: Response, request: Request, sign_in: AdministratorSignIn, max_age: int
) -> None:
    """The administrator session cookie: opaque id, HttpOnly, SameSite=Lax, Secure (unless
    loopback), for both /installation and /uninstall (so path "/"): the panel's cookie rules."""
    set_session_cookie(response, request, sign_in, max_age, path="/")


class InstallationEndpoints:
    """The installation and uninstall pages, bound to one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.pages = workspace.installation_pages

    # The pages' paths as the browser sees them (a mount prefix included: PartnerPaths).
    @property
    def installation_path(self) -> str:
        return self.workspace.paths.full(self.workspace.paths.installation)

    @property
    def uninstall_path(self) -> str:
        return self.workspace.paths.full(self.workspace.paths.uninstall)

    @property
    def status_path(self) -> str:
        return self.workspace.paths.full(self.workspace.paths.installation_status)

    # -- helpers -------------------------------------------------------------------------------

    def _refuse(self, request: Request, status: int, title: str, message: str) -> Response:
        return refusal_page(title, message, status, _request_id(request))

    def _target(self, request: Request, *, tenant_required: bool = True) -> tuple[str, str | None]:
        application = _single(request, "app")
        tenant = _single(request, "ctx") or _single(request, "tenant")
        if not application or (tenant_required and not tenant):
            raise _BadRequest(400, "Bad request", "Open this page as ?app=NAME&ctx=CustNNNNN.")
        if tenant is not None:
            try:
                tenant = validate_context_identifier(tenant.strip())
            except SignInError:
                raise _BadRequest(
                    400, "Bad request", "The tenant is not a context identifier."
                ) from None
        return application, tenant

    async def _session(
        self, request: Request, application: str, tenant: str
    ) -> AdministratorSession | None:
        name = await run_in_threadpool(self.pages.cookie_name, application, tenant)
        try:
            return await run_in_threadpool(
                self.pages.session, request.cookies.get(name), application, tenant
            )
        except SessionError:
            return None

    async def _sign_in(
        self, request: Request, application: str, tenant: str | None, path: str
    ) -> Response:
        """303 to SuperID; the sign-in comes back to ``path`` for this tenant."""
        return_to = path if tenant is None else page_path(path, application, tenant)
        if tenant is None:
            return_to = f"{path}?app={application}"
        try:
            url = await run_in_threadpool(
                self.workspace.installations.begin, application, tenant=tenant, return_to=return_to
            )
        except NotFoundError:
            return self._refuse(
                request, 404, "Unknown application", "This application is not registered here."
            )
        except ConfigurationError:
            return self._refuse(
                request, 400, "Cannot sign in", "This page cannot be used for that tenant."
            )
        except ToolkitError as exc:
            logger.error("request %s: sign-in failed: %s", _request_id(request), type(exc).__name__)
            return self._refuse(
                request,
                502,
                "SuperID unavailable",
                "SuperID could not be reached or answered wrongly.",
            )
        return RedirectResponse(url, status_code=303)

    def _sign_in_again(self, application: str, tenant: str, path: str) -> str:
        """A link that starts a new sign-in and comes back here (the page's own URL)."""
        return page_path(path, application, tenant) + "&signin=1"

    async def _render(
        self,
        request: Request,
        session: AdministratorSession,
        operation: str,
        *,
        outcome: str | None = None,
        provisioning: str | None = None,
        status: int = 200,
    ) -> Response:
        app = session.application.name
        tenant = session.context_identifier
        path = self.uninstall_path if operation == "uninstall" else self.installation_path
        try:
            view = await run_in_threadpool(self.pages.view, session, operation)
        except TenantNotRunningError as exc:
            return self._refuse(
                request,
                503,
                "Tenant not running",
                f"The tenant is {getattr(exc.state, 'name', exc.state)}: nothing can change now.",
            )
        except TransportError:
            return self._refuse(
                request,
                502,
                "SuperOffice unavailable",
                "SuperOffice could not be reached. Try again shortly.",
            )
        except ToolkitError as exc:
            # Anything else SuperOffice answered (a refused call, a manifest gone bad): named in
            # general terms, logged with the request id.
            logger.warning(
                "request %s: installation page failed: %s", _request_id(request), type(exc).__name__
            )
            return self._refuse(
                request,
                502,
                "Cannot read the tenant",
                "SuperOffice did not answer as expected. Try again shortly.",
            )
        if provisioning is None and operation == "apply":
            provisioning = _provisioning_words(view.progress)
        elif provisioning is not None and provisioning.startswith("queued") and not view.progress:
            # SOTK_PROVISION_AFTER_INSTALL queued the system user's run: show and follow it.
            queued = Progress(operation="apply", state="queued", actor="system user")
            view = replace(view, progress=queued)
        response = installation_page(
            view,
            csrf_token=session.csrf_token,
            action=page_path(path, app, tenant),
            status_url=page_path(self.status_path, app, tenant),
            sign_in_url=self._sign_in_again(app, tenant, path),
            outcome=outcome,
            provisioning=provisioning,
        )
        response.status_code = status
        return response

    # -- pages ---------------------------------------------------------------------------------

    async def installation(self, request: Request) -> Response:
        return await self._page(request, "apply", self.installation_path)

    async def uninstall(self, request: Request) -> Response:
        return await self._page(request, "uninstall", self.uninstall_path)

    async def _page(self, request: Request, operation: str, path: str) -> Response:
        try:
            application, tenant = self._target(request, tenant_required=operation == "apply")
        except _BadRequest as exc:
            return self._refuse(request, exc.status, exc.title, exc.message)
        if tenant is None:  # the App Store's Uninstall URL may name no tenant: SuperID tells
            return await self._sign_in(request, application, None, path)
        try:
            session = await self._session(request, application, tenant)
        except NotFoundError:
            return self._refuse(
                request, 404, "Unknown application", "This application is not registered here."
            )
        if session is None or request.query_params.get("signin") == "1":
            return await self._sign_in(request, application, tenant, path)
        return await self._render(request, session, operation)

    async def start_apply(self, request: Request) -> Response:
        """``POST /installation``: provision."""
        return await self._start(request, "apply", self.installation_path)

    async def start_uninstall(self, request: Request) -> Response:
        """``POST /uninstall``: remove what the application created."""
        return await self._start(request, "uninstall", self.uninstall_path)

    async def _start(self, request: Request, operation: str, path: str) -> Response:
        try:
            application, tenant = self._target(request)
            assert tenant is not None  # noqa: S101 - required above
            pairs = await _read_form(request)
        except _BadRequest as exc:
            return self._refuse(request, exc.status, exc.title, exc.message)
        try:
            session = await self._session(request, application, tenant)
        except NotFoundError:
            return self._refuse(
                request, 404, "Unknown application", "This application is not registered here."
            )
        if session is None:
            return self._refuse(
                request,
                401,
                "Signed out",
                "Your session has ended. Open the page again to sign in.",
            )
        csrf = [value for name, value in pairs if name == "csrf"]
        optional = [value for name, value in pairs if name == "optional"]
        if len(csrf) != 1 or len(optional) > MAX_OPTIONAL_PARTS:
            return self._refuse(request, 400, "Bad request", "The form cannot be read.")
        try:
            await run_in_threadpool(
                lambda: self.pages.start(
                    session, operation=operation, csrf_token=csrf[0], selected=optional
                )
            )
        except CsrfError:
            return self._refuse(
                request,
                403,
                "Form expired",
                "This form is not from your session. Open the page again.",
            )
        except ProvisioningBusyError:
            return self._refuse(
                request,
                409,
                "Already running",
                "A run for this tenant is already going. Open the page again to follow it.",
            )
        except ConfigurationError as exc:
            return self._refuse(request, 400, "Cannot start", str(exc)[:200])
        return RedirectResponse(page_path(path, application, tenant), status_code=303)

    async def status(self, request: Request) -> Response:
        try:
            application, tenant = self._target(request)
            assert tenant is not None  # noqa: S101 - required above
            session = await self._session(request, application, tenant)
        except (_BadRequest, NotFoundError):
            return JSONResponse({"error": "bad_request"}, status_code=400)
        if session is None:
            return JSONResponse({"error": "signed_out"}, status_code=401)
        progress = await run_in_threadpool(self.pages.progress, session.application.id, tenant)
        if progress is None:
            # No run yet: one may be queued (after install, as the system user), so a page
            # that shows "queued" keeps polling until it starts.
            return JSONResponse({"state": "none", "finished": False, "done": 0, "total": 0})
        return JSONResponse(progress.to_json())

    # -- after the callback -------------------------------------------------------------------

    async def after_install(
        self,
        request: Request,
        sign_in: AdministratorSignIn,
        *,
        outcome: str,
        provisioning: str,
        redirect: bool,
    ) -> Response:
        """The callback's answer for an administrator: the installation page (or a 303 to where
        the sign-in was started from), with the session cookie."""
        if redirect:
            response: Response = RedirectResponse(sign_in.return_to, status_code=303)
        else:
            session = await run_in_threadpool(
                self.pages.session,
                sign_in.session_id,
                sign_in.application.id,
                sign_in.context_identifier,
            )
            response = await self._render(
                request, session, "apply", outcome=outcome, provisioning=provisioning
            )
        set_admin_cookie(response, request, sign_in, int(self.pages.session_ttl.total_seconds()))
        return response


def _provisioning_words(progress: Progress | None) -> str:
    if progress is None:
        return "not yet"
    if progress.state == "running":
        return f"running ({progress.done} of {progress.total} step(s))"
    return f"{progress.state} ({progress.total} step(s))"
