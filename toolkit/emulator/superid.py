"""SuperID: the OpenID Connect side of SuperOffice Online (protocol §2 and §3).

Discovery, JWKS, authorize (login, tenant picker, consent), tokens, revoke and logout. Errors
before the redirect URI is trusted are HTML pages, never redirects (protocol §2.2).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from toolkit.emulator.errors import BadRequestError
from toolkit.emulator.pages import (
    consent_page,
    error_page,
    form_post_page,
    login_page,
    signed_out_page,
    tenant_picker_page,
)
from toolkit.emulator.signing import KeyRing
from toolkit.emulator.tokens import (
    ACCESS_TOKEN_LIFETIME,
    CODE_LIFETIME,
    PKCE_DEFAULT_METHOD,
    PKCE_METHODS,
    TOKEN_TYPE,
    id_token_claims,
    new_access_token,
    new_code,
    new_refresh_token,
    pkce_matches,
    valid_pkce_value,
)
from toolkit.emulator.wire import (
    basic_credentials,
    form_fields,
    oauth_params,
    query_params,
)
from toolkit.emulator.world import (
    AccessToken,
    App,
    AuthorizationCode,
    LoginTransaction,
    RefreshToken,
    Session,
    World,
)

logger = logging.getLogger("toolkit.emulator")

LOGIN_ROOT = "/login"
DISCOVERY_PATH = "/login/.well-known/openid-configuration"
JWKS_PATH = "/login/.well-known/jwks"
AUTHORIZE_PATH = "/login/common/oauth/authorize"
TENANT_AUTHORIZE_PATH = "/login/{ctx}/oauth/authorize"
TOKEN_PATH = "/login/common/oauth/tokens"
REVOKE_PATH = "/login/common/oauth/revoke"
LOGOUT_PATH = "/login/logout"
# The real form targets of SuperID's pages are not documented; these are the emulator's own [I].
SIGNIN_FORM_PATH = "/login/common/oauth/authorize/signin"
TENANT_FORM_PATH = "/login/common/oauth/authorize/tenant"
CONSENT_FORM_PATH = "/login/common/oauth/authorize/consent"

RESPONSE_MODES = ("query", "fragment", "form_post")
# OIDC Core §3.1.2.1 prompt values. SuperOffice's authorize parameters (SuperOfficeDocs
# docs/en/api/authentication/online/sign-in-user/auth-code-flow.md) do not list `prompt`; the
# emulator does what OIDC Core defines for "login" (always show the sign-in form) and "none"
# (no page may be shown: login_required / consent_required); "consent" and "select_account"
# (Streamlit's sign-in sends select_account) are accepted and change nothing here; a value OIDC
# Core does not define is refused [I].
PROMPT_LOGIN = "login"
PROMPT_NONE = "none"
PROMPTS = (PROMPT_LOGIN, PROMPT_NONE, "consent", "select_account")
TRANSACTION_LIFETIME = 600  # a pending sign-in lives 10 minutes, like the code it produces
SESSION_LIFETIME = 8 * 3600  # SuperID session length is undocumented [I]
SESSION_COOKIE = "SuperIdSession"  # real cookie name unknown [I]

# Messages shown by SuperOffice (protocol §2.2, §3).
INVALID_REDIRECT = "Authorization error: InvalidRedirectUrl (2)"
NO_ACCESS = "Account does not have access"
NOT_ACTIVATED = "Authorization error: Denied (4). The application is not activated for this tenant"
# Users are locked out until an administrator approves again (protocol §3); the wording
# follows the "Authorization error: Name (code)" pattern of the other messages [I].
NEEDS_REAPPROVAL = "Authorization error: NeedsReapproval (5). An administrator must approve again"
BAD_CREDENTIALS = "The username or password is incorrect."
EXPIRED_SIGNIN = "This sign-in has expired. Start again from the application."

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",  # SuperID refuses to load in iframes (protocol §2.5)
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class PageError(Exception):
    """Ends an interactive step on SuperID's error page."""

    def __init__(self, message: str, status: int = 400, title: str = "Error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title


def html_page(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status, headers=PAGE_HEADERS)


def error_page_response(message: str, status: int, title: str = "Error") -> HTMLResponse:
    request_id = uuid.uuid4().hex
    logger.info("SuperID error page %s (%s): %s", request_id, status, message)
    response = html_page(error_page(title, message, request_id), status)
    response.headers["X-Request-Id"] = request_id
    return response


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="SuperID"'
    return JSONResponse({"error": error, "error_description": description}, status, headers)


Handler = Callable[[Request], Awaitable[Response]]


def interactive(handler: Handler) -> Handler:
    """Page errors and malformed input on interactive endpoints end on the error page."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except PageError as exc:
            return error_page_response(exc.message, exc.status, exc.title)
        except BadRequestError as exc:
            return error_page_response(f"Invalid request: {exc.detail}", exc.status)

    return wrapped


def redirect_to_client(
    redirect_uri: str, response_mode: str, params: dict[str, str | None]
) -> Response:
    fields = {k: v for k, v in params.items() if v is not None}
    if response_mode == "form_post":
        return html_page(form_post_page(redirect_uri, fields))
    if response_mode == "fragment":
        return RedirectResponse(f"{redirect_uri}#{urlencode(fields)}", 302, headers=NO_STORE)
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(fields)}", 302, headers=NO_STORE)


class SuperId:
    def __init__(self, world: World, keys: KeyRing, issuer: str) -> None:
        self.world = world
        self.keys = keys
        self.issuer = issuer

    def routes(self) -> list[Route]:
        return [
            Route(DISCOVERY_PATH, self.discovery, methods=["GET"]),
            Route(JWKS_PATH, self.jwks, methods=["GET"]),
            Route(SIGNIN_FORM_PATH, interactive(self.signin), methods=["POST"]),
            Route(TENANT_FORM_PATH, interactive(self.choose_tenant), methods=["POST"]),
            Route(CONSENT_FORM_PATH, interactive(self.consent), methods=["POST"]),
            Route(TOKEN_PATH, self.tokens, methods=["POST"]),
            Route(REVOKE_PATH, self.revoke, methods=["POST"]),
            Route(LOGOUT_PATH, interactive(self.logout), methods=["GET"]),
            Route(TENANT_AUTHORIZE_PATH, interactive(self.authorize), methods=["GET"]),
        ]

    # -- discovery ----------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        base = self.issuer
        # Values of protocol §2.1. The emulator implements only response_type=code, but it
        # publishes what SuperID publishes.
        return JSONResponse(
            {
                "issuer": base,  # no /login suffix
                "authorization_endpoint": base + AUTHORIZE_PATH,
                "token_endpoint": base + TOKEN_PATH,
                "jwks_uri": base + JWKS_PATH,
                "end_session_endpoint": base + LOGOUT_PATH,  # seen only in a mock [S]
                "revocation_endpoint": base + REVOKE_PATH,  # seen only in a mock [S]
                "scopes_supported": ["openid"],
                "response_modes_supported": ["form_post", "fragment", "query"],
                "response_types_supported": [
                    "code",
                    "id_token",
                    "code id_token",
                    "token id_token",
                    "token",
                ],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "grant_types_supported": ["implicit", "authorization_code", "refresh_token"],
                "code_challenge_methods_supported": list(PKCE_METHODS),
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.keys.jwks())

    # -- authorize ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        params = query_params(request)
        path_ctx = request.path_params["ctx"]
        path_tenant: str | None = None
        if path_ctx.lower() != "common":
            tenant = self.world.find_tenant(path_ctx)
            if tenant is None:
                raise PageError(f"Unknown customer {path_ctx}", 404)
            path_tenant = tenant.ctx
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        app = self.world.find_app(client_id)
        if app is None or redirect_uri not in app.redirect_urls:
            raise PageError(INVALID_REDIRECT, 400, "Authorization error")
        state = params.get("state")
        response_mode = params.get("response_mode", "query")

        def refuse(error: str, description: str) -> Response:
            mode = response_mode if response_mode in RESPONSE_MODES else "query"
            fields = {"error": error, "error_description": description, "state": state}
            return redirect_to_client(redirect_uri, mode, fields)

        if response_mode not in RESPONSE_MODES:
            return refuse("invalid_request", "unsupported response_mode")
        response_type = params.get("response_type")
        if not response_type:
            return refuse("invalid_request", "response_type is required")
        if response_type != "code":
            return refuse("unsupported_response_type", "only response_type=code is supported")
        if "openid" not in params.get("scope", "").split():
            return refuse("invalid_scope", "scope must contain openid")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is None and method is not None:
            return refuse("invalid_request", "code_challenge_method without code_challenge")
        if challenge is not None:
            method = method or PKCE_DEFAULT_METHOD
            if method not in PKCE_METHODS:
                return refuse("invalid_request", "code_challenge_method must be S256 or plain")
            if not valid_pkce_value(challenge):
                return refuse("invalid_request", "malformed code_challenge")
        acr_tenants = [
            v[len("tenant:") :]
            for v in params.get("acr_values", "").split()
            if v.startswith("tenant:")
        ]
        if len(acr_tenants) > 1:
            return refuse("invalid_request", "more than one tenant in acr_values")
        tenant_hint = acr_tenants[0] if acr_tenants else None
        if path_tenant and tenant_hint and tenant_hint.lower() != path_tenant.lower():
            return refuse("invalid_request", "acr_values tenant differs from the authorize path")
        prompts = params.get("prompt", "").split()
        if any(p not in PROMPTS for p in prompts):
            return refuse("invalid_request", "unsupported prompt value")
        if PROMPT_NONE in prompts and len(prompts) > 1:
            return refuse("invalid_request", "prompt=none cannot be combined")
        now = self.world.now()
        txn = LoginTransaction(
            id=secrets.token_urlsafe(24),
            csrf=secrets.token_urlsafe(24),
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            response_mode=response_mode,
            state=state,
            nonce=params.get("nonce"),
            code_challenge=challenge,
            code_challenge_method=method or PKCE_DEFAULT_METHOD,
            tenant_hint=path_tenant or tenant_hint,
            login_hint=params.get("login_hint"),
            expires_at=now + TRANSACTION_LIFETIME,
            force_login=PROMPT_LOGIN in prompts,
        )
        with self.world.lock:
            self._purge(now)
            self.world.transactions[txn.id] = txn
        if PROMPT_NONE in prompts:
            return self._without_pages(request, txn, refuse)
        return self._advance(request, txn)

    def _without_pages(
        self, request: Request, txn: LoginTransaction, refuse: Callable[[str, str], Response]
    ) -> Response:
        """prompt=none: the code when no page is needed, else the OIDC Core error [I]."""
        try:
            response = self._advance(request, txn)
        except PageError:
            response = None
        with self.world.lock:
            completed = txn.id not in self.world.transactions  # _complete issued the code
        if response is not None and completed:
            return response
        with self.world.lock:
            self.world.transactions.pop(txn.id, None)
        if txn.username is None:
            return refuse("login_required", "the user is not signed in to SuperID")
        return refuse("consent_required", "an administrator must approve the application")

    def _purge(self, now: float) -> None:
        w = self.world
        w.transactions = {k: t for k, t in w.transactions.items() if t.expires_at > now}
        w.codes = {k: c for k, c in w.codes.items() if c.expires_at > now - CODE_LIFETIME}
        w.sessions = {k: s for k, s in w.sessions.items() if s.expires_at > now}

    def _hidden(self, txn: LoginTransaction) -> dict[str, str]:
        return {"txn": txn.id, "csrf": txn.csrf}

    def _app(self, txn: LoginTransaction) -> App:
        app = self.world.find_app(txn.client_id)
        if app is None:
            raise PageError(INVALID_REDIRECT, 400, "Authorization error")
        return app

    def _session_user(self, request: Request) -> str | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        with self.world.lock:
            session = self.world.sessions.get(session_id)
            if session is None or session.expires_at <= self.world.now():
                return None
            return session.username

    def _advance(self, request: Request, txn: LoginTransaction) -> Response:
        """Take the sign-in as far as it can go: login, tenant, consent, then the code."""
        app = self._app(txn)
        if txn.username is None:
            current = None if txn.force_login else self._session_user(request)
            if current and (not txn.login_hint or txn.login_hint.lower() == current.lower()):
                txn.username = current
            else:
                return html_page(
                    login_page(
                        SIGNIN_FORM_PATH, self._hidden(txn), app.name, txn.login_hint or "", ""
                    )
                )
        user = self.world.find_user(txn.username)
        if user is None:
            raise PageError(NO_ACCESS, 403)
        if txn.ctx is None:
            if txn.tenant_hint:
                membership = user.membership(txn.tenant_hint)
                if membership is None:
                    raise PageError(NO_ACCESS, 403)
                txn.ctx = membership.ctx
            elif len(user.memberships) == 1:
                txn.ctx = user.memberships[0].ctx
            elif not user.memberships:
                raise PageError(NO_ACCESS, 403)
            else:
                choices = []
                for m in user.memberships:
                    tenant = self.world.find_tenant(m.ctx)
                    choices.append((m.ctx, tenant.company_name if tenant else m.ctx))
                return html_page(tenant_picker_page(TENANT_FORM_PATH, self._hidden(txn), choices))
        if app.kind == "custom" and app.tenant != txn.ctx:
            raise PageError(NOT_ACTIVATED, 403, "Authorization error")
        authorization = self.world.active_authorization(app.client_id, txn.ctx)
        if authorization is not None and not authorization.needs_reapproval:
            return self._complete(txn)
        if authorization is not None and not self._is_admin(txn):
            raise PageError(NEEDS_REAPPROVAL, 403, "Authorization error")
        if app.kind == "custom":
            # Custom apps get explicit consent at activation, never on this page (§3).
            raise PageError(NOT_ACTIVATED, 403, "Authorization error")
        self._require_admin(txn)
        tenant = self.world.find_tenant(txn.ctx)
        return html_page(
            consent_page(
                CONSENT_FORM_PATH,
                self._hidden(txn),
                app_name=app.name,
                vendor=app.vendor,
                consent_text=app.consent_text,
                company_name=tenant.company_name if tenant else txn.ctx,
            )
        )

    def _is_admin(self, txn: LoginTransaction) -> bool:
        user = self.world.find_user(txn.username or "")
        membership = user.membership(txn.ctx or "") if user else None
        return membership is not None and membership.is_administrator

    def _require_admin(self, txn: LoginTransaction) -> None:
        # Only administrators may approve (protocol §2.2, §3).
        if not self._is_admin(txn):
            raise PageError(NO_ACCESS, 403)

    def _complete(self, txn: LoginTransaction) -> Response:
        if txn.username is None or txn.ctx is None:
            raise PageError(EXPIRED_SIGNIN, 400)
        code = AuthorizationCode(
            code=new_code(),
            client_id=txn.client_id,
            redirect_uri=txn.redirect_uri,
            username=txn.username,
            ctx=txn.ctx,
            nonce=txn.nonce,
            code_challenge=txn.code_challenge,
            code_challenge_method=txn.code_challenge_method,
            expires_at=self.world.now() + CODE_LIFETIME,
        )
        with self.world.lock:
            self.world.codes[code.code] = code
            self.world.transactions.pop(txn.id, None)
        return redirect_to_client(
            txn.redirect_uri, txn.response_mode, {"code": code.code, "state": txn.state}
        )

    async def _transaction(self, request: Request) -> tuple[LoginTransaction, dict[str, str]]:
        fields = await form_fields(request)
        with self.world.lock:
            txn = self.world.transactions.get(fields.get("txn", ""))
            if txn is None or txn.expires_at <= self.world.now():
                raise PageError(EXPIRED_SIGNIN, 400)
        if not hmac.compare_digest(fields.get("csrf", "").encode(), txn.csrf.encode()):
            raise PageError("Invalid request: the form token does not match", 400)
        return txn, fields

    async def signin(self, request: Request) -> Response:
        txn, fields = await self._transaction(request)
        username = fields.get("username", "").strip()
        password = fields.get("password", "")
        user = self.world.find_user(username) if username else None
        # Compare even for unknown users so the page says nothing about which part was wrong.
        expected = user.password if user else secrets.token_hex(16)
        if user is None or not hmac.compare_digest(password.encode(), expected.encode()):
            app = self._app(txn)
            return html_page(
                login_page(SIGNIN_FORM_PATH, self._hidden(txn), app.name, username, BAD_CREDENTIALS)
            )
        txn.username = user.username
        session = Session(
            secrets.token_urlsafe(32), user.username, self.world.now() + SESSION_LIFETIME
        )
        with self.world.lock:
            self.world.sessions[session.id] = session
        try:
            response = self._advance(request, txn)
        except PageError as exc:
            # The user did sign in: keep the session even when the next step refuses.
            response = error_page_response(exc.message, exc.status, exc.title)
        response.set_cookie(
            SESSION_COOKIE, session.id, path=LOGIN_ROOT, httponly=True, samesite="lax"
        )
        return response

    async def choose_tenant(self, request: Request) -> Response:
        txn, fields = await self._transaction(request)
        user = self.world.find_user(txn.username or "")
        if user is None:
            raise PageError(EXPIRED_SIGNIN, 400)
        membership = user.membership(fields.get("tenant", ""))
        if membership is None:
            raise PageError(NO_ACCESS, 403)
        txn.ctx = membership.ctx
        return self._advance(request, txn)

    async def consent(self, request: Request) -> Response:
        txn, fields = await self._transaction(request)
        if txn.username is None or txn.ctx is None:
            raise PageError(EXPIRED_SIGNIN, 400)
        decision = fields.get("decision")
        if decision == "deny":
            with self.world.lock:
                self.world.transactions.pop(txn.id, None)
            return redirect_to_client(
                txn.redirect_uri,
                txn.response_mode,
                {
                    "error": "access_denied",
                    "error_description": "The administrator denied access",
                    "state": txn.state,
                },
            )
        if decision != "approve":
            raise PageError("Invalid request: choose I approve or Deny", 400)
        self._require_admin(txn)
        if self._app(txn).kind == "custom":
            raise PageError(NOT_ACTIVATED, 403, "Authorization error")
        self.world.approve(txn.client_id, txn.ctx, approved_by=txn.username)
        return self._complete(txn)

    # -- tokens -------------------------------------------------------------------------------

    def _authenticate_client(
        self, request: Request, params: dict[str, str], required: bool
    ) -> App | None:
        basic = basic_credentials(request)
        posted_secret = params.get("client_secret")
        if basic is not None and posted_secret is not None:
            raise BadRequestError("invalid_request", "use one client authentication method")
        if basic is not None:
            client_id, secret = basic
            if params.get("client_id") not in (None, client_id):
                raise BadRequestError("invalid_client", "client_id does not match", 401)
        elif posted_secret is not None:
            client_id, secret = params.get("client_id", ""), posted_secret
        elif required:
            raise BadRequestError("invalid_client", "client authentication required", 401)
        else:
            return None
        app = self.world.find_app(client_id)
        if app is None or not app.check_secret(secret):
            raise BadRequestError("invalid_client", "unknown client or wrong secret", 401)
        return app

    async def tokens(self, request: Request) -> Response:
        try:
            params = await oauth_params(request)
            app = self._authenticate_client(request, params, required=True)
            if app is None:
                raise BadRequestError("invalid_client", "client authentication required", 401)
            grant_type = params.get("grant_type")
            if not grant_type:
                raise BadRequestError("invalid_request", "grant_type is required")
            if grant_type == "authorization_code":
                body = self._code_grant(app, params)
            elif grant_type == "refresh_token":
                body = self._refresh_grant(app, params)
            else:
                raise BadRequestError("unsupported_grant_type", f"{grant_type} is not supported")
        except BadRequestError as exc:
            return oauth_error(exc.error, exc.detail, exc.status)
        return JSONResponse(body, headers=NO_STORE)

    def _code_grant(self, app: App, params: dict[str, str]) -> dict[str, Any]:
        code_value = params.get("code")
        if not code_value:
            raise BadRequestError("invalid_request", "code is required")
        with self.world.lock:
            code = self.world.codes.get(code_value)
            if code is None or code.client_id != app.client_id:
                raise BadRequestError("invalid_grant", "unknown authorization code")
            if code.used:
                raise BadRequestError("invalid_grant", "authorization code already used")
            code.used = True  # any attempt spends the code, so a failed one cannot be retried
        if self.world.now() >= code.expires_at:
            raise BadRequestError("invalid_grant", "authorization code expired")
        if params.get("redirect_uri") != code.redirect_uri:
            raise BadRequestError("invalid_grant", "redirect_uri does not match")
        verifier = params.get("code_verifier")
        if code.code_challenge is not None:
            if not verifier or not pkce_matches(
                verifier, code.code_challenge, code.code_challenge_method
            ):
                raise BadRequestError("invalid_grant", "code_verifier does not match")
        elif verifier is not None:
            raise BadRequestError("invalid_grant", "code_verifier sent without code_challenge")
        return self._issue(app, code.username, code.ctx, code.nonce, with_refresh=True)

    def _refresh_grant(self, app: App, params: dict[str, str]) -> dict[str, Any]:
        token = params.get("refresh_token")
        if not token:
            raise BadRequestError("invalid_request", "refresh_token is required")
        with self.world.lock:
            record = self.world.refresh_tokens.get(token)
            if record is None or record.revoked or record.client_id != app.client_id:
                raise BadRequestError("invalid_grant", "unknown or revoked refresh token")
        # Refresh tokens are "reusable" and tied to the authorization record (protocol §2.4);
        # the documented response has no new refresh_token, so the old one stays valid.
        return self._issue(app, record.username, record.ctx, None, with_refresh=False)

    def _issue(
        self, app: App, username: str, ctx: str, nonce: str | None, with_refresh: bool
    ) -> dict[str, Any]:
        world = self.world
        authorization = world.active_authorization(app.client_id, ctx)
        if authorization is None:
            raise BadRequestError("invalid_grant", "Revoked (1): the authorization was revoked")
        if authorization.needs_reapproval:
            raise BadRequestError(
                "invalid_grant", "NeedsReapproval (5): an administrator must approve again"
            )
        user = world.find_user(username)
        tenant = world.find_tenant(ctx)
        membership = user.membership(ctx) if user else None
        if user is None or tenant is None or membership is None:
            raise BadRequestError("invalid_grant", "the user no longer has access")
        now = world.now()
        access_token = new_access_token(tenant.ctx)
        world.add_access_token(
            AccessToken(
                access_token,
                app.client_id,
                user.username,
                tenant.ctx,
                now,
                now + ACCESS_TOKEN_LIFETIME,
            )
        )
        claims = id_token_claims(
            issuer=self.issuer,
            host_urls=world.host_urls,
            app=app,
            user=user,
            membership=membership,
            tenant=tenant,
            authorization=authorization,
            nonce=nonce,
            now=now,
            iat_as_string=world.quirks.iat_as_string,
        )
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": TOKEN_TYPE,
            "expires_in": ACCESS_TOKEN_LIFETIME,
        }
        if with_refresh:
            refresh = new_refresh_token()
            world.add_refresh_token(
                RefreshToken(refresh, app.client_id, user.username, tenant.ctx, now)
            )
            body["refresh_token"] = refresh
        body["id_token"] = self.keys.sign(claims)
        return body

    async def revoke(self, request: Request) -> Response:
        try:
            params = await oauth_params(request)
            app = self._authenticate_client(request, params, required=False)
            token = params.get("token")
            if not token:
                raise BadRequestError("invalid_request", "token is required")
        except BadRequestError as exc:
            return oauth_error(exc.error, exc.detail, exc.status)
        # token_type_hint is only a hint (RFC 7009); NODE sends "JWT" for a refresh token.
        self.world.revoke_token(token, app.client_id if app else None)
        return Response(status_code=200, headers=NO_STORE)

    # -- logout -------------------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        params = query_params(request)
        # RZ sends redirect_uri; OIDC RP-initiated logout names it post_logout_redirect_uri.
        target = params.get("post_logout_redirect_uri") or params.get("redirect_uri")
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            with self.world.lock:
                self.world.sessions.pop(session_id, None)
        if target is None:
            response: Response = html_page(signed_out_page())
        else:
            with self.world.lock:
                registered = any(target in a.post_logout_urls for a in self.world.apps.values())
            if not registered:
                response = error_page_response(INVALID_REDIRECT, 400, "Authorization error")
            else:
                state = params.get("state")
                if state is not None:
                    separator = "&" if "?" in target else "?"
                    target = f"{target}{separator}{urlencode({'state': state})}"
                response = RedirectResponse(target, 302, headers=NO_STORE)
        response.delete_cookie(SESSION_COOKIE, path=LOGIN_ROOT, httponly=True, samesite="lax")
        return response
