"""Headless sign-in: drives the emulator's real SuperID HTML forms over HTTP.

It submits the same login, tenant picker and consent forms a browser would, and stops at the
hand-over to the partner (a redirect or a form_post page) without following it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

MAX_STEPS = 10  # authorize, login, tenant, consent and a few session redirects at most
DRIVER_TIMEOUT = 10.0


class EmulatorDriverError(Exception):
    """The sign-in ended on a SuperID error page (or a page the driver cannot continue)."""

    def __init__(self, message: str, status_code: int | None = None, request_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id


@dataclass(frozen=True)
class SignInResult:
    redirect_url: str | None  # None for form_post
    params: dict[str, str]  # code/state, or error/error_description/state
    response_mode: str  # "query", "fragment" or "form_post"
    form_action: str | None = None  # the form_post target (the partner's redirect_uri)


@dataclass
class _Form:
    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)  # radio values named "tenant"


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.kind = ""
        self.forms: list[_Form] = []
        self.texts: dict[str, str] = {}
        self._capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.kind = a.get("data-superid-page", "")
        elif tag == "form":
            self.forms.append(_Form(action=a.get("action", "")))
        elif tag == "input" and self.forms and a.get("name"):
            form = self.forms[-1]
            if a.get("type") == "radio":
                form.choices.append(a.get("value", ""))
            else:
                form.fields[a["name"]] = a.get("value", "")
        if a.get("id") in ("error-message", "request-id"):
            self._capture = a["id"]
            self.texts[a["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "span"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self.texts[self._capture] += data


@cache
def _ssl_context() -> ssl.SSLContext:
    # One context for every sign-in: building it per client costs ~40 ms of CA loading.
    return ssl.create_default_context()


def _parse(response: httpx.Response) -> _PageParser:
    parser = _PageParser()
    if response.headers.get("content-type", "").startswith("text/html"):
        parser.feed(response.text)
    return parser


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _from_redirect(location: str) -> SignInResult:
    parts = urlsplit(location)
    if parts.fragment:
        return SignInResult(location, dict(parse_qsl(parts.fragment)), "fragment")
    return SignInResult(location, dict(parse_qsl(parts.query)), "query")


def sign_in(  # noqa: PLR0917 (the documented positional API)
    authorize_url: str,
    username: str = "admin@cust12345.test",
    password: str = "superid-demo",
    tenant: str | None = None,
    approve: bool = True,
    client: httpx.Client | None = None,
) -> SignInResult:
    """Sign in through SuperID's pages. Pass `client` to keep its SuperID session cookie."""
    http = client or httpx.Client(timeout=DRIVER_TIMEOUT, verify=_ssl_context())
    try:
        return _drive(
            http,
            authorize_url=authorize_url,
            username=username,
            password=password,
            tenant=tenant,
            approve=approve,
        )
    finally:
        if client is None:
            http.close()


def _drive(
    http: httpx.Client,
    *,
    authorize_url: str,
    username: str,
    password: str,
    tenant: str | None,
    approve: bool,
) -> SignInResult:
    origin = _origin(authorize_url)
    response = http.get(authorize_url, follow_redirects=False)
    signed_in = False
    for _ in range(MAX_STEPS):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if _origin(location) == origin and urlsplit(location).path.startswith("/login/"):
                response = http.get(location, follow_redirects=False)
                continue
            return _from_redirect(location)
        page = _parse(response)
        if page.kind == "error" or not page.forms:
            message = page.texts.get("error-message") or f"HTTP {response.status_code}"
            raise EmulatorDriverError(
                message.strip(), response.status_code, page.texts.get("request-id", "").strip()
            )
        form = page.forms[0]
        action = urljoin(str(response.url), form.action)
        data = {k: v for k, v in form.fields.items() if k in ("txn", "csrf")}
        if page.kind == "form_post":
            return SignInResult(None, dict(form.fields), "form_post", action)
        if page.kind == "login":
            if signed_in or page.texts.get("error-message"):
                message = page.texts.get("error-message") or "sign-in refused"
                raise EmulatorDriverError(message.strip(), response.status_code)
            data.update(username=username, password=password)
            signed_in = True
        elif page.kind == "tenant":
            chosen = [c for c in form.choices if tenant and c.lower() == tenant.lower()]
            if not chosen:
                offered = ", ".join(form.choices)
                raise EmulatorDriverError(
                    f"SuperID asks for a tenant (offered: {offered}); pass tenant= one of them",
                    response.status_code,
                )
            data["tenant"] = chosen[0]
        elif page.kind == "consent":
            data["decision"] = "approve" if approve else "deny"
        else:
            raise EmulatorDriverError(
                f"unexpected SuperID page {page.kind!r}", response.status_code
            )
        response = http.post(action, data=data, follow_redirects=False)
    raise EmulatorDriverError("the sign-in did not finish", response.status_code)
