"""Client-side request counting: an httpx transport wrapper that counts requests by kind.

Kinds are read from the request path (protocol paths, case-insensitive):

* ``exchange``: ``/Login/api/PartnerSystemUser/Authenticate`` (or the SOAP service);
* ``jwks``: ``/login/.well-known/jwks``;
* ``discovery``: ``/login/.well-known/openid-configuration``;
* ``state``: ``/api/state/{ctx}``;
* ``rest``: ``/{ctx}/api/...`` on a tenant host;
* ``other``: anything else (SuperID pages, the token endpoint, ...).

The emulator's control plane (``/__emulator__/``) is the benchmark's own plumbing and is never
counted. The wrapper can also hand token-endpoint answers to a callback (case 4 keeps the
install callbacks' id_tokens that way).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable

import httpx

KINDS = ("exchange", "jwks", "discovery", "state", "rest", "other")

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "exchange",
        re.compile(
            r"^/login/(api/partnersystemuser/authenticate|services/partnersystemuserservice\.svc)",
            re.IGNORECASE,
        ),
    ),
    ("jwks", re.compile(r"^/login/\.well-known/jwks/?$", re.IGNORECASE)),
    ("discovery", re.compile(r"^/login/\.well-known/openid-configuration/?$", re.IGNORECASE)),
    ("state", re.compile(r"^/api/state/[^/]+/?$", re.IGNORECASE)),
    ("rest", re.compile(r"^/cust[0-9]+/api(/|$)", re.IGNORECASE)),
)
_CONTROL = "/__emulator__"
_TOKEN_PATH = re.compile(r"^/login/common/oauth/tokens/?$", re.IGNORECASE)


def kind_of(path: str) -> str | None:
    """The kind of a request path; None for the emulator's control plane (not counted)."""
    if path.startswith(_CONTROL):
        return None
    for kind, pattern in _RULES:
        if pattern.match(path):
            return kind
    return "other"


class RequestCounter:
    """Thread-safe counts by kind; :meth:`snapshot` and :meth:`since` give deltas."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {kind: self._counts.get(kind, 0) for kind in KINDS}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        now = self.snapshot()
        return {kind: now[kind] - before.get(kind, 0) for kind in KINDS}


class CountingTransport(httpx.BaseTransport):
    """Counts every request that goes through ``inner`` by kind, then forwards it.

    ``on_token_response`` receives the body of each token-endpoint answer (read eagerly; the
    answers are small).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        counter: RequestCounter,
        *,
        on_token_response: Callable[[bytes], None] | None = None,
    ) -> None:
        self.inner = inner
        self.counter = counter
        self.on_token_response = on_token_response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = kind_of(path)
        if kind is not None:
            self.counter.add(kind)
        response = self.inner.handle_request(request)
        if self.on_token_response is not None and _TOKEN_PATH.match(path):
            body = response.read()
            self.on_token_response(body)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    """:class:`CountingTransport` for ``httpx.AsyncClient`` (the async API's case)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, counter: RequestCounter) -> None:
        self.inner = inner
        self.counter = counter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = kind_of(request.url.path)
        if kind is not None:
            self.counter.add(kind)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
