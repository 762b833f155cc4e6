"""``/panel``: the normal user context a SuperOffice web panel opens (protocol §2.2, §5).

``GET /panel?app=NAME&ctx=CustNNNNN`` (``uctx`` is accepted for ``ctx``, as SuperOffice's samples
use it), or the short per-application path ``GET /panel/{app}?uctx=CustNNNNN`` (``{app}`` is the
application's id, or its name) that provisioned web panels use: SuperOffice fills ``<uctx>`` in
with the context identifier when it opens the panel (SuperOfficeDocs
``common/includes/variable/generated/system-variables.md``). Without a session for that
application × tenant the user is sent to SuperID's tenant
path (a 303; inside a frame, ``Sec-Fetch-Dest: iframe``, a page whose "Sign in" link opens a new
window, because SuperID's pages refuse frames). With one, the page shows who the user is and a
form for their own options. ``POST /panel`` saves the options (CSRF token required);
``GET|POST /panel/logout`` signs out (POST, with the CSRF token) and offers SuperID's logout.

The session cookie is HttpOnly, ``SameSite=Lax``, ``Secure`` unless the request is plain http on
loopback, path ``/panel``, and holds only an opaque random id (the tokens stay in the store).
Every protocol rule lives in :class:`~toolkit.user_context.UserContexts`.
"""

from __future__ import annotations

import contextlib
import logging
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from toolkit.auth.oidc import validate_context_identifier
from toolkit.browser_sessions import SessionSignIn
from toolkit.config import is_loopback_host
from toolkit.errors import (
    ApiError,
    ApiForbiddenError,
    ApiUnauthorizedError,
    ConfigurationError,
    CsrfError,
    InvalidGrantError,
    NotFoundError,
    OptionValidationError,
    SessionExpiredError,
    SessionMismatchError,
    SignInError,
    TenantError,
    ToolkitError,
    TransportError,
)
from toolkit.text import unstorable_character
from toolkit.user_context import OPTION_SPECS, PANEL_PATH, PanelSession
from toolkit.web.install import FORM_CONTENT_TYPE, MAX_CALLBACK_BODY, MAX_QUERY_VALUE
from toolkit.web.pages import error_page, page, panel_page, sign_in_page, signed_out_page

if TYPE_CHECKING:
    from toolkit.workspace import Workspace

__all__ = ["LOGOUT_PATH", "PanelEndpoints", "set_session_cookie"]

logger = logging.getLogger("toolkit.web")

LOGOUT_PATH = f"{PANEL_PATH}/logout"
# What a browser says when it loads a page into a frame (Fetch Metadata).
FRAMED_DESTINATIONS = frozenset({"iframe", "frame"})
# The panel's form holds a CSRF token and a few short options.
MAX_PANEL_FORM = MAX_CALLBACK_BODY


class _Bad(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _is_framed(request: Request) -> bool:
    return request.headers.get("sec-fetch-dest", "").lower() in FRAMED_DESTINATIONS


def _secure_cookie(request: Request) -> bool:
    """Secure, unless this is plain http on loopback (development, the emulator)."""
    return not (request.url.scheme == "http" and is_loopback_host(request.url.hostname or ""))


def set_session_cookie(
    response: Response,
    request: Request,
    sign_in: SessionSignIn,
    max_age: int,
    path: str = PANEL_PATH,
) -> None:
    """The panel session cookie: opaque id, HttpOnly, SameSite=Lax, Secure (unless loopback).

    ``SameSite=Lax`` keeps the cookie off cross-site subrequests; note that a browser then does
    not send it to a panel framed by another site either, so inside SuperOffice the panel works
    in the window the sign-in opens [I: SuperOffice documents no cookie rule for web panels].
    """
    response.set_cookie(
        sign_in.cookie_name,
        sign_in.session_id,
        max_age=max(1, max_age),
        path=path,
        secure=_secure_cookie(request),
        httponly=True,
        samesite="lax",
    )


def _clear_cookie(response: Response, request: Request, name: str, path: str = PANEL_PATH) -> None:
    response.delete_cookie(
        name, path=path, httponly=True, samesite="lax", secure=_secure_cookie(request)
    )


class PanelEndpoints:
    """The ``/panel`` handlers (and the user half of ``/callback``), bound to one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.users = workspace.user_contexts

    @property
    def panel_path(self) -> str:
        """``/panel`` as the browser sees it (a mount prefix included: PartnerPaths)."""
        return self.workspace.paths.full(self.workspace.paths.panel)

    # -- helpers ---------------------------------------------------------------------------

    def _single(self, request: Request, name: str) -> str | None:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise _Bad(400, "Bad request", f"The parameter {name} is given more than once.")
        if not values:
            return None
        if len(values[0]) > MAX_QUERY_VALUE:
            raise _Bad(400, "Bad request", f"The parameter {name} is too long.")
        return values[0]

    def _target(self, request: Request) -> tuple[str, str]:
        application = self._single(request, "app")
        in_path = request.path_params.get("app")
        if in_path is not None:
            if len(in_path) > MAX_QUERY_VALUE:
                raise _Bad(400, "Bad request", "The application is too long.")
            if application and application.casefold() != in_path.casefold():
                raise _Bad(400, "Bad request", "The path and app= name different applications.")
            application = in_path
        ctx = self._single(request, "ctx")
        uctx = self._single(request, "uctx")
        if ctx and uctx and ctx.casefold() != uctx.casefold():
            raise _Bad(400, "Bad request", "The parameters ctx and uctx name different tenants.")
        tenant = ctx or uctx
        if not application or not tenant:
            raise _Bad(
                400,
                "Bad request",
                "Open the panel as /panel/APP?uctx=CustNNNNN (or /panel?app=APP&ctx=CustNNNNN).",
            )
        if "<" in tenant:
            # A template variable SuperOffice did not fill in: the panel was opened by hand.
            raise _Bad(
                400,
                "Bad request",
                "The tenant is a template variable that was not filled in; open the panel "
                "from SuperOffice.",
            )
        try:
            tenant = validate_context_identifier(tenant.strip())
        except SignInError:
            raise _Bad(400, "Bad request", "The tenant is not a context identifier.") from None
        return application, tenant

    def _policy(self, application: str) -> str:
        ancestors = " ".join(self.users.frame_ancestors(application))
        return (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            f"base-uri 'none'; frame-ancestors {ancestors}"
        )

    def _framable(self, response: Response, application: str | None) -> Response:
        """Let SuperOffice frame the panel's pages (CSP frame-ancestors) [I]."""
        if application is not None:
            # An unknown application: the default policy (never framed) stays.
            with contextlib.suppress(ToolkitError):
                response.headers["Content-Security-Policy"] = self._policy(application)
        return response

    def _error(
        self, request: Request, status: int, title: str, message: str, app: str | None = None
    ) -> Response:
        return self._framable(error_page(title, message, status, _request_id(request)), app)

    def _paths(self, application: str, tenant: str) -> tuple[str, str]:
        query = urlencode({"app": application, "ctx": tenant})
        return f"{self.panel_path}?{query}", f"{self.panel_path}/logout?{query}"

    async def _sign_in(
        self,
        request: Request,
        application: str,
        tenant: str,
        *,
        message: str | None = None,
        status: int = 200,
        clear_cookie: str | None = None,
    ) -> Response:
        try:
            url = await run_in_threadpool(self.users.begin, application, tenant)
        except NotFoundError:
            return self._error(
                request, 404, "Unknown application", "This application is not registered here."
            )
        except ConfigurationError:
            return self._error(
                request,
                400,
                "Cannot sign in",
                "This panel cannot be used for that tenant.",
                application,
            )
        except ToolkitError as exc:
            logger.error(
                "request %s: panel sign-in failed: %s", _request_id(request), type(exc).__name__
            )
            return self._error(
                request,
                502,
                "SuperID unavailable",
                "SuperID could not be reached or answered wrongly.",
                application,
            )
        framed = _is_framed(request)
        if framed or message is not None:
            title = "Session expired" if status == 401 else "Sign in"
            response: Response = sign_in_page(
                url, framed=framed, title=title, message=message, status=status
            )
        else:
            response = RedirectResponse(url, status_code=303)
        if clear_cookie:
            _clear_cookie(response, request, clear_cookie, self.panel_path)
        return self._framable(response, application)

    async def _session(
        self, request: Request, application: str, tenant: str
    ) -> tuple[PanelSession | None, str]:
        cookie_name = await run_in_threadpool(self.users.cookie_name, application, tenant)
        session_id = request.cookies.get(cookie_name)
        if not session_id:
            return None, cookie_name
        session = await run_in_threadpool(self.users.session, session_id, application, tenant)
        return session, cookie_name

    async def _read_form(self, request: Request) -> dict[str, str]:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != FORM_CONTENT_TYPE:
            raise _Bad(
                415, "Unsupported media type", f"The panel accepts {FORM_CONTENT_TYPE} only."
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PANEL_FORM:
                raise _Bad(413, "Request too large", "The form is too large.")
            chunks.append(chunk)
        try:
            pairs = parse_qsl(
                b"".join(chunks).decode("utf-8"), keep_blank_values=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise _Bad(400, "Bad request", "The form cannot be read.") from None
        if any(unstorable_character(name + value) for name, value in pairs):
            raise _Bad(400, "Bad request", "The form holds a NUL character.")
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise _Bad(400, "Bad request", "A form field is given more than once.")
            form[name] = value
        return form

    # -- GET /panel ------------------------------------------------------------------------

    async def panel(self, request: Request) -> Response:
        try:
            application, tenant = self._target(request)
        except _Bad as exc:
            return self._error(request, exc.status, exc.title, exc.message)
        try:
            session, cookie_name = await self._session(request, application, tenant)
        except NotFoundError:
            return self._error(
                request, 404, "Unknown application", "This application is not registered here."
            )
        except SessionExpiredError:
            return await self._sign_in(
                request,
                application,
                tenant,
                message="Your session has expired. Sign in again to continue.",
                status=401,
                clear_cookie=await run_in_threadpool(self.users.cookie_name, application, tenant),
            )
        except SessionMismatchError:
            return self._error(
                request,
                403,
                "Wrong tenant",
                "You are signed in to another tenant than this panel's.",
                application,
            )
        if session is None:
            return await self._sign_in(request, application, tenant)
        if request.method == "POST":
            return await self._save(request, session, application, tenant)
        return await self._show(request, session, application, tenant, cookie_name)

    async def _show(
        self,
        request: Request,
        session: PanelSession,
        application: str,
        tenant: str,
        cookie_name: str,
        *,
        saved: bool = False,
    ) -> Response:
        try:
            principal = await run_in_threadpool(self.users.principal, session)
        except (ApiUnauthorizedError, ApiForbiddenError, InvalidGrantError):
            # Even a refreshed access token is refused: the sign-in no longer holds.
            await run_in_threadpool(
                self.workspace.repository.delete_user_session, session.session_id
            )
            return await self._sign_in(
                request,
                application,
                tenant,
                message="Your session has expired. Sign in again to continue.",
                status=401,
                clear_cookie=cookie_name,
            )
        except (ApiError, TenantError, TransportError) as exc:
            logger.warning(
                "request %s: panel principal failed: %s", _request_id(request), type(exc).__name__
            )
            return self._error(
                request,
                502,
                "SuperOffice unavailable",
                "SuperOffice could not tell who you are right now.",
                application,
            )
        options = await run_in_threadpool(self.users.options, session)
        action, logout_action = self._paths(application, tenant)
        response = panel_page(
            application=session.application.name,
            tenant=session.context_identifier,
            user=session.user,
            principal=principal,
            options=options,
            option_labels={key: spec.label or key for key, spec in OPTION_SPECS.items()},
            csrf_token=session.csrf_token,
            action=action,
            logout_action=logout_action,
            saved=saved or request.query_params.get("saved") == "1",
        )
        return self._framable(response, application)

    # -- POST /panel -----------------------------------------------------------------------

    async def _save(
        self, request: Request, session: PanelSession, application: str, tenant: str
    ) -> Response:
        try:
            form = await self._read_form(request)
        except _Bad as exc:
            return self._error(request, exc.status, exc.title, exc.message, application)
        csrf = form.pop("csrf", None)
        try:
            await run_in_threadpool(self.users.save_options, session, form, csrf)
        except CsrfError:
            return self._error(
                request,
                403,
                "Form expired",
                "This form is not from your current session; reload the panel and try again.",
                application,
            )
        except OptionValidationError as exc:
            return self._error(request, 400, "Option not saved", str(exc), application)
        action, _ = self._paths(application, tenant)
        return self._framable(RedirectResponse(f"{action}&saved=1", status_code=303), application)

    # -- /panel/logout ---------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        try:
            application, tenant = self._target(request)
        except _Bad as exc:
            return self._error(request, exc.status, exc.title, exc.message)
        try:
            session, cookie_name = await self._session(request, application, tenant)
        except NotFoundError:
            return self._error(
                request, 404, "Unknown application", "This application is not registered here."
            )
        except (SessionExpiredError, SessionMismatchError):
            session, cookie_name = (
                None,
                await run_in_threadpool(self.users.cookie_name, application, tenant),
            )
        if session is not None and request.method == "GET":
            _, logout_action = self._paths(application, tenant)
            csrf = escape(session.csrf_token, quote=True)
            body = (
                "<p>Sign out of this panel?</p>"
                f'<form method="post" action="{escape(logout_action, quote=True)}">'
                f'<input type="hidden" name="csrf" value="{csrf}">'
                '<button type="submit" id="sign-out">Sign out</button></form>'
            )
            return self._framable(page("Sign out", body), application)
        if session is not None:
            try:
                form = await self._read_form(request)
                await run_in_threadpool(self.users.end, session, form.get("csrf"))
            except _Bad as exc:
                return self._error(request, exc.status, exc.title, exc.message, application)
            except CsrfError:
                return self._error(
                    request,
                    403,
                    "Form expired",
                    "This form is not from your current session; reload the panel and try again.",
                    application,
                )
        try:
            logout_url: str | None = await run_in_threadpool(self.users.logout_url, application)
        except ToolkitError:
            logout_url = None
        response = signed_out_page(logout_url)
        _clear_cookie(response, request, cookie_name, self.panel_path)
        return self._framable(response, application)

    # -- the user half of /callback --------------------------------------------------------

    async def complete(self, request: Request, params: list[tuple[str, str]]) -> Response:
        """Finish a user sign-in (raises like :meth:`UserContexts.complete`)."""
        sign_in = await run_in_threadpool(self.users.complete, params)
        response = RedirectResponse(sign_in.return_to, status_code=303)
        max_age = int(self.users.session_ttl.total_seconds())
        set_session_cookie(response, request, sign_in, max_age, self.panel_path)
        return response
