"""ASGI middleware of the partner endpoints: security headers, request ids, a last-resort guard.

:class:`ProtectMiddleware` wraps every request: it gives it a request id (``X-Request-Id``,
also ``request.state.request_id``), adds the security headers to every response, and turns any
unhandled exception into a plain 500 page naming only the request id (the exception is logged
with that id; the page never shows a message or a stack trace).

A response may bring its own ``Content-Security-Policy`` with a ``frame-ancestors`` directive
(the ``/panel`` pages, which SuperOffice shows in a web panel): it is kept, and no
``X-Frame-Options`` is added; every other HTML page is never framed.
"""

from __future__ import annotations

import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolkit.text import unstorable_character
from toolkit.web.pages import error_page

__all__ = ["HTML_HEADERS", "SECURITY_HEADERS", "ProtectMiddleware"]

logger = logging.getLogger("toolkit.web")

# Every response: nothing is cached (result pages name tenants and approvers; callbacks carry
# codes) and no URL leaks to another site through the Referer header.
SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# HTML pages in addition: never framed (clickjacking), no scripts, no forms, no remote content.
HTML_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
        "form-action 'none'; base-uri 'none'"
    ),
}


class ProtectMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def protected_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                own_policy = None
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-security-policy":
                        own_policy = value.decode("latin-1")
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower().decode("latin-1") not in _REPLACED
                ]
                content_type = b""
                for name, value in headers:
                    if name.lower() == b"content-type":
                        content_type = value
                added = dict(SECURITY_HEADERS)
                if own_policy is not None and "frame-ancestors" in own_policy:
                    # A page that states its own policy, frame-ancestors included (the panel,
                    # which SuperOffice frames): that policy instead of DENY.
                    added["Content-Security-Policy"] = own_policy
                elif content_type.startswith(b"text/html"):
                    added.update(HTML_HEADERS)
                added["X-Request-Id"] = request_id
                headers.extend(
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in added.items()
                )
                message = {**message, "headers": headers}
            await send(message)

        if _unstorable_target(scope):
            # NUL in the path or query (%00) never names anything of ours and no store can
            # hold it: refused here, once, before any handler looks it up.
            response = error_page(
                "Bad request", "The address holds a character that is not allowed.", 400, request_id
            )
            await response(scope, receive, protected_send)
            return
        try:
            await self.app(scope, receive, protected_send)
        except Exception:
            logger.exception("unhandled error in request %s (%s)", request_id, scope.get("path"))
            if started:
                return
            response = error_page(
                "Technical error",
                "Something went wrong on our side. Quote the request ID if you contact us.",
                500,
                request_id,
            )
            await response(scope, receive, protected_send)


_REPLACED = frozenset(name.lower() for name in (*SECURITY_HEADERS, *HTML_HEADERS, "X-Request-Id"))


def _unstorable_target(scope: Scope) -> bool:
    """Whether the request's path or query decodes to NUL (``%00``) or holds it raw."""
    query = bytes(scope.get("query_string", b"")).lower()
    path = str(scope.get("path", ""))
    return b"%00" in query or b"\x00" in query or unstorable_character(path) is not None
