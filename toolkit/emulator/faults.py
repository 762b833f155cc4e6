"""Fault injection: latency with jitter, 429 with Retry-After, 5xx, dropped connections and
stalls, matched by host name, tenant and/or path prefix, repeatable through a seed.

An ASGI middleware in front of every emulated host (login and tenant hosts), never in front of
the control plane. Latency is an `asyncio.sleep`, so thousands of delayed requests block no
thread. Nothing here exists at SuperOffice, which documents no throttling (open question 12).

A rule (JSON, all but `kind` optional):
    kind          "latency" | "status" | "drop" | "stall"
    host          "sod" (the login host), "sod2", "sod3", ...
    ctx           context identifier (tenant paths and the state API), case-insensitive
    path_prefix   case-insensitive prefix of the request path
    method        HTTP method
    latency_ms, jitter_ms     latency: delay = latency_ms +/- uniform(jitter_ms), at least 0
    status        status: 429, 500, 502, 503 or 504
    retry_after   status: seconds (int) sent as `Retry-After`
    retry_after_format        "seconds" (default) or "http-date" (wall clock now + seconds)
    stall_ms      stall: hold the request this long (at most MAX_STALL_MS), or until the client
                  gives up; a request still there afterwards is served normally
    count         fire at most this many times (default: unlimited)
    probability   chance to fire per matching request (default 1.0), drawn from the seeded RNG
Latency rules add up; the first matching status/drop/stall rule ends the scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import formatdate
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolkit.emulator.errors import WorldError

KINDS = ("latency", "status", "drop", "stall")
STATUSES = (429, 500, 502, 503, 504)
MAX_STALL_MS = 120_000  # bounded: a forgotten stall rule cannot hold a request forever
MAX_LATENCY_MS = 60_000
STALL_POLL = 0.05  # seconds between checks for a client that gave up or a stopping emulator
HOST_SCOPE_KEY = "sotk.emulator.host"
CONTROL_PREFIX = "/__emulator__"
_CTX_IN_PATH = re.compile(r"/(?:api/state/)?(cust[0-9]+)(?:/|$)", re.IGNORECASE)

Renderer = Callable[[str, int, str], Response]


@dataclass
class FaultRule:
    kind: str
    host: str | None = None
    ctx: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    retry_after_format: str = "seconds"
    stall_ms: float = 0.0
    count: int | None = None
    probability: float = 1.0
    fired: int = 0

    def matches(self, host: str, ctx: str | None, path: str, method: str) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.host is not None and self.host.lower() != host.lower():
            return False
        if self.ctx is not None and (ctx is None or ctx.lower() != self.ctx.lower()):
            return False
        if self.path_prefix is not None and not path.lower().startswith(self.path_prefix.lower()):
            return False
        return self.method is None or self.method.upper() == method.upper()


def _number(raw: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise WorldError("invalid_fault", f"{key} must be a number from {low} to {high}")
    return float(value)


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise WorldError("invalid_fault", f"{key} must be a non-empty string")
    return value


def rule_from_json(raw: Any) -> FaultRule:
    if not isinstance(raw, dict):
        raise WorldError("invalid_fault", "each rule must be an object")
    known = set(FaultRule.__dataclass_fields__) - {"fired"}
    unknown = set(raw) - known
    if unknown:
        raise WorldError("invalid_fault", f"unknown fields: {', '.join(sorted(unknown))}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise WorldError("invalid_fault", f"kind must be one of {', '.join(KINDS)}")
    rule = FaultRule(
        kind=kind,
        host=_text(raw, "host"),
        ctx=_text(raw, "ctx"),
        path_prefix=_text(raw, "path_prefix"),
        method=_text(raw, "method"),
        latency_ms=_number(raw, "latency_ms", 0, 0, MAX_LATENCY_MS),
        jitter_ms=_number(raw, "jitter_ms", 0, 0, MAX_LATENCY_MS),
        stall_ms=_number(raw, "stall_ms", 0, 0, MAX_STALL_MS),
        probability=_number(raw, "probability", 1.0, 0.0, 1.0),
    )
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise WorldError("invalid_fault", "count must be a whole number >= 0 or null")
    rule.count = count
    if kind == "status":
        status = raw.get("status")
        if status not in STATUSES:
            raise WorldError("invalid_fault", f"status must be one of {STATUSES}")
        rule.status = status
    elif "status" in raw:
        raise WorldError("invalid_fault", "status belongs to kind status")
    retry_after = raw.get("retry_after")
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
            raise WorldError("invalid_fault", "retry_after must be whole seconds >= 0")
        rule.retry_after = retry_after
    fmt = raw.get("retry_after_format", "seconds")
    if fmt not in ("seconds", "http-date"):
        raise WorldError("invalid_fault", "retry_after_format must be seconds or http-date")
    rule.retry_after_format = fmt
    if kind == "stall" and rule.stall_ms <= 0:
        raise WorldError("invalid_fault", "a stall needs stall_ms > 0")
    return rule


def retry_after_value(rule: FaultRule) -> str | None:
    if rule.retry_after is None:
        return None
    if rule.retry_after_format == "http-date":
        # Wall clock, not the emulator clock: the client compares with its own clock.
        return formatdate(time.time() + rule.retry_after, usegmt=True)
    return str(rule.retry_after)


@dataclass
class Decision:
    delay: float = 0.0
    rule: FaultRule | None = None  # the terminal rule (status, drop, stall), if any


class Faults:
    """The rule set and its seeded RNG; shared by the middleware and the control plane."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._seed: int | None = None
        self._random = random.Random()
        self.stopping = threading.Event()

    def set(self, rules: list[FaultRule], seed: int | None) -> None:
        with self._lock:
            self._rules = rules
            self._seed = seed
            self._random = random.Random(seed)

    def clear(self) -> None:
        self.set([], None)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self._seed, "rules": [asdict(r) for r in self._rules]}

    def decide(self, host: str, ctx: str | None, path: str, method: str) -> Decision:
        decision = Decision()
        with self._lock:
            for rule in self._rules:
                if not rule.matches(host, ctx, path, method):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.kind == "latency":
                    jitter = self._random.uniform(-rule.jitter_ms, rule.jitter_ms)
                    decision.delay += max(0.0, rule.latency_ms + jitter) / 1000
                    continue
                decision.rule = rule
                break
        return decision


def ctx_of_path(path: str) -> str | None:
    match = _CTX_IN_PATH.match(path)
    return match.group(1) if match else None


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults, render: Renderer) -> None:
        self.app = app
        self.faults = faults
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        host = scope.get(HOST_SCOPE_KEY, "")
        decision = self.faults.decide(host, ctx_of_path(path), path, scope.get("method", "GET"))
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        rule = decision.rule
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "status":
            status = rule.status or 503
            response = self.render(path, status, "Fault injected by the emulator")
            value = retry_after_value(rule)
            if value is not None:
                response.headers["Retry-After"] = value
            await response(scope, receive, send)
        elif rule.kind == "drop":
            await _drop(scope, receive, send)
        else:
            await self._stall(rule.stall_ms / 1000, scope, receive, send)

    async def _stall(self, seconds: float, scope: Scope, receive: Receive, send: Send) -> None:
        buffered: list[Message] = []
        while True:  # read the body now, so waiting for a disconnect does not lose it
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            buffered.append(message)
            if not message.get("more_body", False):
                break
        gone = asyncio.Event()

        async def watch() -> None:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()

        watcher = asyncio.ensure_future(watch())
        deadline = time.monotonic() + seconds
        try:
            while not gone.is_set() and not self.faults.stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), min(STALL_POLL, remaining))
        finally:
            watcher.cancel()
        if gone.is_set() or self.faults.stopping.is_set():
            return

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        await self.app(scope, replay, send)


async def _drop(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the connection without a response. uvicorn hands the app its cycle's bound
    `receive`; its transport is aborted. Without one, a truncated response is sent instead
    (the client still sees a broken connection)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        await asyncio.sleep(0)  # let uvicorn see the lost connection before the app returns
        await asyncio.sleep(0)
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
    )
    await send({"type": "http.response.body", "body": b"", "more_body": True})
    raise ConnectionAbortedError("fault injection: connection dropped")
