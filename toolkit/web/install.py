"""``/install`` and ``/callback``: the admin's approval of an application (protocol §2.2, §2.3, §3).

``GET /install?app=NAME[&tenant=CustNNNNN]`` answers 303 to SuperID's authorize URL (the flow is
started server-side by :meth:`~toolkit.installation.Installations.begin`, with
``response_mode=form_post``). ``GET|POST /callback`` takes SuperID's answer (query or form_post;
a POST must be ``application/x-www-form-urlencoded`` and at most :data:`MAX_CALLBACK_BODY`
bytes), completes the install and shows a plain result page; a callback of a normal user's
sign-in (``/panel``) is handed to the panel endpoints instead, by the pending sign-in's
purpose. Errors are plain pages that name what went wrong in general terms and a request id,
never a secret or a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from toolkit.browser_sessions import page_path
from toolkit.errors import (
    AuthorizationDeniedError,
    ConfigurationError,
    DiscoveryError,
    KeySetError,
    NotAdministratorError,
    NotFoundError,
    NotInstalledError,
    OAuthError,
    SignInError,
    SigningKeyNotFoundError,
    StateMismatchError,
    TenantMismatchError,
    TokenValidationError,
    ToolkitError,
    TransportError,
    UnstorableTextError,
    http_status_of,
    public_message_of,
)
from toolkit.text import unstorable_character
from toolkit.web.hooks import EndpointError, Hooks, Installed
from toolkit.web.installation_html import already_installed_page
from toolkit.web.pages import error_page, result_page

if TYPE_CHECKING:
    from toolkit.installation import InstallResult
    from toolkit.web.installation import InstallationEndpoints
    from toolkit.workspace import Workspace

__all__ = ["FORM_CONTENT_TYPE", "MAX_CALLBACK_BODY", "InstallEndpoints", "UserCallback"]

logger = logging.getLogger("toolkit.web")

# A form_post callback holds state + code (or error + description): well under 1 KiB at SuperID.
# 16 KiB leaves room for long error descriptions and stops junk before it is parsed.
MAX_CALLBACK_BODY = 16 * 1024
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# The install endpoint's own query is tiny; a longer one is not from our links.
MAX_QUERY_VALUE = 256

AGAIN = "Start the installation again from the application."
# /install itself (toolkit.web.app names the route); the "already installed" page links here.
INSTALL_PATH = "/install"
# Who the audit log names for work the partner endpoints do.
CALLBACK_ACTOR = "partner-endpoint"


class _BadRequest(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise _BadRequest(400, "Bad request", f"The parameter {name} is given more than once.")
    if not values:
        return None
    if len(values[0]) > MAX_QUERY_VALUE:
        raise _BadRequest(400, "Bad request", f"The parameter {name} is too long.")
    return values[0]


async def _read_form(request: Request) -> list[tuple[str, str]]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise _BadRequest(
            415, "Unsupported media type", f"The callback accepts {FORM_CONTENT_TYPE} only."
        )
    too_large = _BadRequest(413, "Request too large", "The callback body is too large.")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _BadRequest(400, "Bad request", "The Content-Length header is malformed.")
        if int(declared) > MAX_CALLBACK_BODY:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CALLBACK_BODY:
            raise too_large
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest(400, "Bad request", "The callback body is not a form.") from None
    if any(unstorable_character(name + value) for name, value in pairs):
        raise _BadRequest(400, "Bad request", "The callback body holds a NUL character.")
    return pairs


def _describe(error: Exception) -> tuple[int, str, str]:
    """Status, title and a plain, secret-free message for an install failure."""
    if isinstance(error, StateMismatchError):
        return 400, "Sign-in not recognised", f"This sign-in is unknown, expired or used. {AGAIN}"
    if isinstance(error, AuthorizationDeniedError):
        return 400, "Installation not approved", f"SuperID answered: {error.error[:64]}. {AGAIN}"
    if isinstance(error, NotAdministratorError):
        return (
            403,
            "Administrator required",
            "Only a tenant administrator can install this application.",
        )
    if isinstance(error, TenantMismatchError):
        return 403, "Wrong tenant", f"SuperID signed in to another tenant than asked for. {AGAIN}"
    if isinstance(error, TokenValidationError | SigningKeyNotFoundError):
        reason = getattr(error, "reason", "invalid")
        return 400, "Security token rejected", f"The security token is not valid ({reason})."
    if isinstance(error, OAuthError):
        code = error.error[:64]
        return 400, "Sign-in failed", f"SuperID did not accept the code ({code}). {AGAIN}"
    if isinstance(error, SignInError):
        return 400, "Sign-in failed", f"The callback is not usable. {AGAIN}"
    if isinstance(error, NotInstalledError):
        return error.http_status, "Not installed", error.public_message
    if isinstance(error, NotFoundError):
        return 404, "Unknown application", "This application is not registered here."
    if isinstance(error, ConfigurationError):
        # A malformed tenant is the request's fault (400), a redirect URI the application has
        # not registered the partner's setup (500): the class says which.
        return error.http_status, "Cannot install", error.public_message
    if isinstance(error, UnstorableTextError):
        return 400, "Bad request", "The request holds text that cannot be used."
    if isinstance(error, TransportError | DiscoveryError | KeySetError):
        return 502, "SuperID unavailable", "SuperID could not be reached or answered wrongly."
    # Anything else: the status and safe sentence its class carries (toolkit.errors).
    status = http_status_of(error)
    return (
        status,
        "Technical error" if status >= 500 else "Request refused",
        public_message_of(error),
    )


# Finishes a callback that belongs to a normal user's sign-in (purpose "user", see /panel).
UserCallback = Callable[[Request, list[tuple[str, str]]], Awaitable[Response]]


class InstallEndpoints:
    """The handlers, bound to one workspace.

    ``user_callback`` takes the callbacks of *user* sign-ins (the pending sign-in's purpose
    decides, :meth:`~toolkit.user_context.UserContexts.handles`); they never create an
    authorization record.
    """

    def __init__(
        self,
        workspace: Workspace,
        user_callback: UserCallback | None = None,
        installation: InstallationEndpoints | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.workspace = workspace
        self.user_callback = user_callback
        # The administrator's installation pages, shown after an install (else a result page).
        self.installation = installation
        # The partner's on_installed / on_error (toolkit.web.hooks), when mounted with them.
        self.hooks = hooks

    async def _failed(self, request: Request, endpoint: str, error: Exception) -> Response:
        """The error page for ``error``, reported to the ``on_error`` hook first."""
        response = self._error(request, error)
        if self.hooks is not None:
            await self.hooks.error(
                EndpointError(
                    endpoint, request.url.path, response.status_code, error, _request_id(request)
                )
            )
        return response

    def _error(self, request: Request, error: Exception) -> Response:
        status, title, message = _describe(error)
        request_id = _request_id(request)
        if status >= 500:
            logger.error(
                "request %s: %s failed: %s: %s",
                request_id,
                request.url.path,
                type(error).__name__,
                error,
            )
        else:
            logger.info(
                "request %s: %s refused (%s): %s",
                request_id,
                request.url.path,
                type(error).__name__,
                error,
            )
        return error_page(title, message, status, request_id)

    async def install(self, request: Request) -> Response:
        try:
            application = _single(request, "app")
            tenant = _single(request, "tenant")
        except _BadRequest as exc:
            return error_page(exc.title, exc.message, exc.status, _request_id(request))
        if not application:
            return error_page(
                "Bad request", "Say which application: /install?app=NAME", 400, _request_id(request)
            )
        try:
            if tenant and request.query_params.get("confirm") != "1":
                shown = await run_in_threadpool(self._already_installed, application, tenant)
                if shown is not None:
                    return shown
            # A fresh SuperID sign-in every time: a session of someone else in this browser
            # (the operator's, on the dashboard) must never approve a tenant by accident [I].
            url = await run_in_threadpool(
                lambda: self.workspace.installations.begin(
                    application, tenant=tenant, prompt="login"
                )
            )
        except ToolkitError as exc:
            return await self._failed(request, "install", exc)
        return RedirectResponse(url, status_code=303)

    def _already_installed(self, application: str, tenant: str) -> Response | None:
        """Before re-approving a tenant with an active record: a page that says so, nothing
        changed; its link continues with ``confirm=1``."""
        try:
            app = self.workspace.repository.get_application(application)
            record = self.workspace.repository.get_authorization(app.id, tenant.strip())
        except NotFoundError:
            return None
        if record.status != "active":
            return None
        paths = self.workspace.paths
        query = urlencode({"app": app.name, "tenant": record.context_identifier, "confirm": "1"})
        return already_installed_page(
            application=app.name,
            tenant=record.context_identifier,
            approved_by=record.approved_by,
            approved_at=record.approved_at.strftime("%Y-%m-%d %H:%M UTC")
            if record.approved_at
            else None,
            continue_url=f"{paths.full(paths.install)}?{query}",
            installation_url=page_path(
                paths.full(paths.installation), app.name, record.context_identifier
            ),
        )

    async def callback(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                params: list[tuple[str, str]] = await _read_form(request)
            else:
                params = list(request.query_params.multi_items())
        except _BadRequest as exc:
            return error_page(exc.title, exc.message, exc.status, _request_id(request))
        try:
            if self.user_callback is not None and await run_in_threadpool(
                self.workspace.user_contexts.handles, params
            ):
                return await self.user_callback(request, params)
            result = await run_in_threadpool(self.workspace.installations.complete, params)
        except ToolkitError as exc:
            return await self._failed(request, "callback", exc)
        record = result.authorization
        if self.hooks is not None:
            await self.hooks.installed(
                Installed(
                    application=result.application.name,
                    context_identifier=record.context_identifier,
                    outcome=result.outcome.value,
                    result=result,
                )
            )
        provisioning = await run_in_threadpool(self._provision, result)
        if result.claims.is_administrator is not True:
            # A user's sign-in refreshed the record (installation.py) but may not provision.
            return error_page(
                "Administrator required",
                f"You are not an administrator of {record.context_identifier}. The application"
                " stays installed; an administrator can open its installation page.",
                403,
                _request_id(request),
            )
        if self.installation is not None:
            sign_in = await run_in_threadpool(
                self.workspace.installation_pages.open_session, result, return_to=result.return_to
            )
            return await self.installation.after_install(
                request,
                sign_in,
                outcome=result.outcome.value,
                provisioning=provisioning,
                redirect=result.return_to is not None,
            )
        return result_page(
            application=result.application.name,
            tenant=record.context_identifier,
            company_name=record.company_name,
            approved_by=record.approved_by,
            has_system_user_token=record.has_system_user_token,
            outcome=result.outcome.value,
            provisioning=provisioning,
            return_to=result.return_to,
        )

    def _provision(self, result: InstallResult) -> str:
        """Apply the application's manifest to the new tenant (when configured and present).

        The install stands whatever happens here: a failed apply is reported on the page and
        in the audit log, and resumes on the next apply.
        """
        if not self.workspace.settings.provision_after_install:
            return "off"
        if not result.authorization.has_system_user_token:
            # No system user to provision as: the administrator does it on the installation
            # page with their own credential (protocol §7).
            return "not yet"
        from toolkit.jobs.install import enqueue_install_provisioning

        try:
            if self.workspace.provisioning.manifest_for(result.application.id) is None:
                return "no manifest"
            # A job for the workers: this request returns at once (toolkit.jobs.install).
            job_id = enqueue_install_provisioning(
                self.workspace.jobs, result.application, result.authorization, actor=CALLBACK_ACTOR
            )
        except ToolkitError as exc:
            logger.warning(
                "provisioning after install could not be queued for %s: %s",
                result.authorization.context_identifier,
                type(exc).__name__,
            )
            return f"failed ({type(exc).__name__}); run it again from the dashboard or CLI"
        return f"queued (job {job_id})"
