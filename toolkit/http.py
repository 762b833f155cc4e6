"""The one httpx client factory, plus the redaction every log line and error message goes through.

Every HTTP call the toolkit makes uses a client from :func:`create_client`: explicit
connect/read/write/pool timeouts, a toolkit ``User-Agent``, no automatic redirects (a redirect
could carry a code or token to another host), and DEBUG logging on ``toolkit.http`` with
credentials masked.

The request helpers (:func:`send_request`, :func:`get_json`, :func:`raise_for_transport`) turn
httpx failures into :class:`~toolkit.errors.TransportError` with a redacted URL, the status code
and the httpx cause chained. :func:`send_request` takes an optional :class:`RetryPolicy`
(DESIGN.md "HTTP reliability"): capped exponential backoff with full jitter for connect errors,
429 (honouring ``Retry-After``, capped) and 502/503/504, on idempotent requests only (GET, HEAD,
OPTIONS, PUT, DELETE); a connect error may be retried for any method (nothing was sent); a POST
that failed after it was sent raises :class:`~toolkit.errors.RequestOutcomeUnknownError` and is
never repeated; a total time budget bounds the whole. Without a policy it sends exactly once.
SuperOffice documents no rate limits or 429 behaviour (protocol §5, open question 12), so the
429 handling follows RFC 9110 / RFC 6585 [I].

Library code installs no logging handlers. Front ends that do should add :class:`RedactingFilter`
to them, so that records from other libraries (httpx logs full URLs, codes included) are masked.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx

from toolkit.claims import REDACTED
from toolkit.errors import (
    RequestOutcomeUnknownError,
    RetryBudgetExceededError,
    RetryExhaustedError,
    TransportError,
    UnexpectedResponseError,
)

if TYPE_CHECKING:
    from toolkit.config import Settings

logger = logging.getLogger("toolkit.http")

# SuperOffice hosts answer within a few seconds; a TCP/TLS handshake that takes longer than this
# means the host is unreachable, and failing fast lets the caller (or a later retry) move on.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
# Long enough for a slow tenant REST call, short enough that a stalled response cannot hang a
# notebook cell or a fleet worker for minutes.
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
# Request bodies are small (forms, JSON); a write that stalls this long is a dead connection.
DEFAULT_WRITE_TIMEOUT_SECONDS = 10.0
# Waiting for a free pooled connection beyond this means the pool is saturated: fail, do not queue.
DEFAULT_POOL_TIMEOUT_SECONDS = 5.0

DISTRIBUTION_NAME = "superoffice-toolkit"

# Headers whose values are credentials (DESIGN.md: secrets never appear in logs).
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "so-apptoken", "cookie", "set-cookie"}
)
# Headers whose value starts with an auth scheme word that is safe and useful to keep.
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})
# Query / fragment / form parameter names whose values are credentials or one-time values.
SENSITIVE_PARAMETERS = frozenset(
    {
        "code",
        "state",
        "nonce",
        "token",
        "refresh_token",
        "access_token",
        "id_token",
        "client_secret",
        "code_verifier",
        "ticket",
        "password",
    }
)
# Further names that mark a secret value in free text (JSON bodies, form dumps, exception text).
_SENSITIVE_TEXT_NAMES = SENSITIVE_PARAMETERS | {
    "applicationtoken",
    "application_token",
    "so-apptoken",
    "system_token",
    "system_user_token",
    "systemtoken",
    "signedsystemtoken",
    "system_user_ticket",
    "client_assertion",
    "private_key",
    "secret",
}


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"superoffice-toolkit/{_version()} (+python-httpx)"


@dataclass(frozen=True)
class HttpTimeouts:
    """Explicit timeouts, in seconds, for each phase of an HTTP exchange."""

    connect: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    read: float = DEFAULT_READ_TIMEOUT_SECONDS
    write: float = DEFAULT_WRITE_TIMEOUT_SECONDS
    pool: float = DEFAULT_POOL_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} timeout must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpTimeouts:
        """Connect from ``http_connect_timeout_seconds``; read, write, pool from
        ``http_timeout_seconds``."""
        general = float(settings.http_timeout_seconds)
        return cls(
            connect=float(settings.http_connect_timeout_seconds),
            read=general,
            write=general,
            pool=general,
        )

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


def create_client(
    *,
    timeout: HttpTimeouts | None = None,
    transport: httpx.BaseTransport | None = None,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """The toolkit's httpx client: explicit timeouts, user agent, no redirects, redacted logs.

    ``transport`` lets tests and the emulator plug in (``httpx.MockTransport``, ASGI, proxies).
    ``headers`` are added to every request; a ``User-Agent`` among them replaces the default.
    """
    return httpx.Client(
        transport=transport,
        event_hooks={"request": [_log_request], "response": [_log_response]},
        **_client_options(timeout, base_url, headers),
    )


def create_async_client(
    *,
    timeout: HttpTimeouts | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """:func:`create_client` for asyncio: the same timeouts, user agent, no redirects and
    redacted logs, on ``httpx.AsyncClient`` (the async API, :class:`~toolkit.AsyncWorkspace`)."""
    return httpx.AsyncClient(
        transport=transport,
        event_hooks={"request": [_alog_request], "response": [_alog_response]},
        **_client_options(timeout, base_url, headers),
    )


def _client_options(
    timeout: HttpTimeouts | None, base_url: str, headers: Mapping[str, str] | None
) -> dict[str, Any]:
    """What the sync and the async client share: timeouts, the user agent (``headers`` may
    replace it), no redirects."""
    merged = {"User-Agent": USER_AGENT}
    if headers:
        merged.update(headers)
    return {
        "timeout": (timeout or HttpTimeouts()).to_httpx(),
        "base_url": base_url,
        "headers": merged,
        "follow_redirects": False,
    }


async def _alog_request(request: httpx.Request) -> None:
    _log_request(request)


async def _alog_response(response: httpx.Response) -> None:
    _log_response(response)


def _log_request(request: httpx.Request) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "HTTP %s %s headers=%s",
            request.method,
            redact_url(str(request.url)),
            redact_headers(request.headers),
        )


def _log_response(response: httpx.Response) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        request = response.request
        logger.debug(
            "HTTP %s %s -> %s headers=%s",
            request.method,
            redact_url(str(request.url)),
            response.status_code,
            redact_headers(response.headers),
        )


# --------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9._~+/-]*)\s+\S")


def _redact_header_value(name: str, value: str) -> str:
    if name.lower() in _SCHEME_HEADERS:
        match = _SCHEME_RE.match(value.strip())
        if match:
            return f"{match.group(1)} {REDACTED}"
    return REDACTED


def redact_headers(
    headers: Mapping[str, str] | httpx.Headers | Iterable[tuple[str, str]],
) -> dict[str, str]:
    """A copy of ``headers`` with credential values masked.

    ``Authorization`` keeps its scheme word (``SOTicket <redacted>``, ``Bearer <redacted>``);
    ``SO-AppToken``, ``Cookie``, ``Set-Cookie`` are masked whole.
    """
    items: Iterable[tuple[str, str]]
    if isinstance(headers, httpx.Headers):
        items = headers.multi_items()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    result: dict[str, str] = {}
    for name, value in items:
        shown = _redact_header_value(name, value) if name.lower() in SENSITIVE_HEADERS else value
        result[name] = f"{result[name]}, {shown}" if name in result else shown
    return result


def _redact_pairs(text: str) -> str:
    """Mask the values of sensitive names in an ``a=1&b=2`` string, keeping everything else."""
    parts = []
    for part in text.split("&"):
        name, sep, _value = part.partition("=")
        if sep and unquote_plus(name).strip().lower() in SENSITIVE_PARAMETERS:
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(part)
    return "&".join(parts)


def redact_url(url: str | httpx.URL) -> str:
    """``url`` with credential query/fragment values and any userinfo password masked.

    ``https://h/cb?code=abc&state=xyz&x=1`` becomes ``https://h/cb?code=<redacted>&state=<redacted>&x=1``.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact_text(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if colon else f"{userinfo}@{hostport}"
    fragment = parts.fragment
    if fragment:
        # An implicit-flow fragment is a parameter list; anything else is left as it is.
        fragment = _redact_pairs(fragment) if "=" in fragment else fragment
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_pairs(parts.query), fragment))


def url_for_error(url: str | httpx.URL) -> str:
    """``url`` without userinfo, query or fragment: what error messages and ``.url`` carry."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return REDACTED
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_NAMES_ALTERNATION = "|".join(
    re.escape(n) for n in sorted(_SENSITIVE_TEXT_NAMES, key=len, reverse=True)
)
_PEM_PRIVATE_RE = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL
)
_XML_PRIVATE_RE = re.compile(r"<(D|P|Q|DP|DQ|InverseQ)>[^<]*</\1>")
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# 7T: tickets, 8A: (and the 7A: once mentioned in the docs) reference access tokens (§2.4, §4.7).
_SO_TOKEN_RE = re.compile(r"\b(7T|8A|7A):[A-Za-z0-9+/=._-]+")
# Header-style lines: "Authorization: SOTicket 7T:...", "SO-AppToken: abc".
_HEADER_LINE_RE = re.compile(
    r"(?im)\b(authorization|proxy-authorization|so-apptoken|cookie|set-cookie)(\s*:\s*)"
    r"(?:([A-Za-z][A-Za-z0-9._~+/-]*)\s+)?([^\r\n]+)"
)
# JSON members: "client_secret": "...", "http://.../system_token": "...".
_JSON_MEMBER_RE = re.compile(
    rf'(?i)("(?:[^"\\]*/)?(?:{_NAMES_ALTERNATION})"\s*:\s*)"(?:[^"\\]|\\.)*"'
)
# Parameter style: code=..., client_secret=... (query strings and form bodies in free text).
# ``state`` is masked only inside a query string or fragment: "state=Running" in a log line is
# a tenant state, not the OAuth one.
_FREE_NAMES_ALTERNATION = "|".join(
    re.escape(n) for n in sorted(_SENSITIVE_TEXT_NAMES - {"state"}, key=len, reverse=True)
)
_PARAMETER_RE = re.compile(
    rf"(?i)(?<![A-Za-z0-9_-])((?:{_FREE_NAMES_ALTERNATION})=)[^\s&\"'<>,;#]+"
)
_QUERY_PARAMETER_RE = re.compile(rf"(?i)([?&#](?:{_NAMES_ALTERNATION})=)[^\s&\"'<>,;#]+")
# A 32-hex application token / client secret right after its name, whatever the separator.
_HEX_SECRET_RE = re.compile(
    r"(?i)\b(client_secret|application_?token|so-apptoken|apptoken)(\W{0,4})[0-9a-f]{32}\b"
)


# What every pattern above needs to match at all, checked with plain substring searches (a few
# microseconds for a short field, where one case-insensitive regular expression over twenty
# names cost more than the substitutions it spared): most text (an audit export's actors,
# actions, tenants, times) holds none of it and skips the nine substitutions. Each check is
# implied by a pattern: the PEM and XML key markers, a JWT's header start, a SuperOffice token
# prefix, a header name (before ":"), an application token's name (before 32 hex), a sensitive
# name right before "=" (parameters) or '"' (JSON members). Text that is not ASCII always takes
# the full path (the patterns' case-insensitive matching knows Unicode equivalents such as "ſ"
# for "s" that lowercasing does not). A superset, never a subset: tests/unit/test_http.py checks
# the gated result equals the ungated one.
_NAMES_BEFORE_SIGN = tuple(sorted(_SENSITIVE_TEXT_NAMES))


def _may_hold_secret(text: str) -> bool:
    if not text.isascii():
        return True
    if "-----BEGIN" in text or "</" in text or "eyJ" in text:
        return True
    if "7T:" in text or "8A:" in text or "7A:" in text:
        return True
    lowered = text.lower()
    if ":" in text and (
        "authorization" in lowered or "cookie" in lowered or "so-apptoken" in lowered
    ):
        return True
    if "client_secret" in lowered or "apptoken" in lowered or "applicationtoken" in lowered:
        return True
    if "application_token" in lowered:
        return True
    for sign in ("=", '"'):
        at = lowered.find(sign)
        while at != -1:
            if lowered.endswith(_NAMES_BEFORE_SIGN, 0, at):
                return True
            at = lowered.find(sign, at + 1)
    return False


def _header_line(match: re.Match[str]) -> str:
    name, sep, scheme = match.group(1), match.group(2), match.group(3)
    if scheme and name.lower() in _SCHEME_HEADERS:
        return f"{name}{sep}{scheme} {REDACTED}"
    return f"{name}{sep}{REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with anything credential-shaped masked: JWTs, ``7T:`` tickets, ``8A:`` access
    tokens, private keys, and values that follow a secret's name (``client_secret=``,
    ``"refresh_token": "..."``, ``Authorization: ...``, ``ApplicationToken`` + 32 hex)."""
    if not text or not _may_hold_secret(text):
        return text
    return _redact_every_pattern(text)


def _redact_every_pattern(text: str) -> str:
    text = _PEM_PRIVATE_RE.sub("<redacted private key>", text)
    text = _XML_PRIVATE_RE.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>", text)
    text = _JWT_RE.sub(REDACTED, text)
    text = _SO_TOKEN_RE.sub(lambda m: f"{m.group(1)}:{REDACTED}", text)
    text = _HEADER_LINE_RE.sub(_header_line, text)
    text = _JSON_MEMBER_RE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    text = _QUERY_PARAMETER_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _PARAMETER_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _HEX_SECRET_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in the formatted message and traceback.

    For handlers that front ends install; it rewrites ``record.msg`` (args merged in) and
    pre-renders ``record.exc_text`` so formatters print the redacted version.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template, still redacted
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


# --------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------

# Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2). POST and PATCH
# are not: a repeated create makes a duplicate web panel or list item.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Statuses that mean "not now, try later": too many requests, and the gateway/unavailable family
# a tenant host answers while it restarts or moves. 500 is a bug, 4xx the caller's mistake.
RETRYABLE_STATUS_CODES: Final = frozenset({429, 502, 503, 504})
# One try and three retries: rides over a short blip (an app-pool recycle, a 503 or two) while a
# storm costs at most 4x the load, never an unbounded retry storm.
DEFAULT_RETRY_MAX_ATTEMPTS: Final = 4
# First backoff ceiling; doubles per retry: 0.5, 1, 2, 4 ... seconds.
DEFAULT_BACKOFF_BASE_SECONDS: Final = 0.5
# No single backoff wait is longer than this: beyond it the caller is better told than kept.
DEFAULT_BACKOFF_CAP_SECONDS: Final = 8.0
# Full jitter (the wait is uniform in [0, backoff]): clients that failed together do not come
# back together. 0 means no jitter (the wait is the backoff itself).
DEFAULT_RETRY_JITTER: Final = 1.0
# All attempts and waits of one call fit in this: a notebook cell or a fleet worker is never
# held much longer than half a minute by retries (each attempt is still bounded by timeouts).
DEFAULT_RETRY_TOTAL_BUDGET_SECONDS: Final = 30.0
# A Retry-After is honoured up to this; a server asking for more is waited for this long (and
# the budget check then usually gives up), so a hostile or broken header cannot park a worker.
DEFAULT_RETRY_AFTER_CAP_SECONDS: Final = 20.0

RetryDecision = Literal["retry", "fatal", "outcome_unknown"]
"""What a transport exception means: retry it, raise TransportError, or "maybe applied"."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _default_random() -> float:
    return random.random()  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class RetryPolicy:
    """When and how :func:`send_request` retries (DESIGN.md "HTTP reliability").

    * Retried: connect errors (``httpx.ConnectError``/``ConnectTimeout``: nothing was sent) for
      any method; for idempotent methods also 429, 502, 503, 504 and a connection dropped or a
      write cut before the response (``RemoteProtocolError``, ``ReadError``, ``WriteError``,
      ``WriteTimeout``).
    * Never retried: any other status (400, 401, 403, 404, 409, 421, 500 ...), a read timeout
      (a stalled host usually stays stalled; ``retry_read_timeouts`` changes that for idempotent
      requests), a pool timeout (our own pool is saturated), and anything non-idempotent after
      it was sent (:class:`~toolkit.errors.RequestOutcomeUnknownError`).
    * The wait before retry *n* (1-based) is ``min(backoff_cap, backoff_base * 2**(n-1))``,
      reduced by up to ``jitter`` of itself at random (1.0 = full jitter); a ``Retry-After``
      (seconds or HTTP date) replaces it, capped at ``retry_after_cap``.
    * ``total_budget`` bounds the time spent from the first attempt to the start of the last:
      when the next wait would cross it, :class:`~toolkit.errors.RetryBudgetExceededError`.

    ``sleep`` (``async_sleep`` on the async transport), ``clock`` (monotonic seconds), ``now``
    (aware UTC datetime, for HTTP-date ``Retry-After``) and ``random`` (a float in [0, 1)) are
    injectable for tests; :meth:`seeded` gives a repeatable jitter.
    """

    max_attempts: int = DEFAULT_RETRY_MAX_ATTEMPTS
    backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_cap: float = DEFAULT_BACKOFF_CAP_SECONDS
    jitter: float = DEFAULT_RETRY_JITTER
    total_budget: float = DEFAULT_RETRY_TOTAL_BUDGET_SECONDS
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP_SECONDS
    retry_statuses: frozenset[int] = RETRYABLE_STATUS_CODES
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    retry_read_timeouts: bool = False
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(
        default=asyncio.sleep, compare=False, repr=False
    )
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    now: Callable[[], datetime] = field(default=_utc_now, compare=False, repr=False)
    random: Callable[[], float] = field(default=_default_random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.retry_after_cap < 0:
            raise ValueError("backoff_base, backoff_cap and retry_after_cap must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        if not self.total_budget > 0:
            raise ValueError("total_budget must be positive")
        object.__setattr__(
            self, "idempotent_methods", frozenset(m.upper() for m in self.idempotent_methods)
        )

    def seeded(self, seed: int) -> RetryPolicy:
        """This policy with a repeatable jitter sequence."""
        generator = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        return replace(self, random=generator.random)

    def is_idempotent(self, method: str) -> bool:
        return method.upper() in self.idempotent_methods

    def backoff(self, retry_number: int) -> float:
        """The jittered wait before retry ``retry_number`` (1 for the first retry)."""
        exponent = min(max(retry_number - 1, 0), 62)  # 2**62 * base is past any cap
        ceiling = min(self.backoff_cap, self.backoff_base * math.pow(2, exponent))
        return ceiling * (1.0 - self.jitter * self.random())

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """``retry_after`` capped when the server sent one, else :meth:`backoff`."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return self.backoff(retry_number)

    def classify_exception(self, exc: Exception, method: str) -> RetryDecision:
        """Whether a transport exception is retried, raised, or means "maybe applied"."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return "retry"  # the request never left: safe for any method
        if isinstance(exc, httpx.PoolTimeout):
            return "fatal"  # nothing sent, but our own pool is saturated: do not add load
        sent = isinstance(
            exc,
            httpx.ReadTimeout
            | httpx.WriteTimeout
            | httpx.ReadError
            | httpx.WriteError
            | httpx.RemoteProtocolError,
        )
        if not sent:
            return "fatal"  # invalid URL, unsupported protocol, decoding ...: not transient
        if not self.is_idempotent(method):
            return "outcome_unknown"
        if isinstance(exc, httpx.ReadTimeout) and not self.retry_read_timeouts:
            return "fatal"
        return "retry"


NO_RETRY: Final = RetryPolicy(max_attempts=1)
"""A policy that never retries but still classifies failures (e.g. outcome unknown)."""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3).

    None when absent or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"[0-9]{1,10}(\.[0-9]+)?", text):
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def send_request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    retry: RetryPolicy | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; connect errors, timeouts and protocol errors become TransportError.

    The status code is not checked (OAuth endpoints answer errors with 400 + a JSON body); use
    :func:`raise_for_transport` for that. Redirects are never followed, whatever the client says.
    ``what`` names the exchange in messages (``"JWKS"``, ``"token endpoint"``).

    With ``retry``, retryable failures are retried per :class:`RetryPolicy`; when its attempts
    or its time budget run out, :class:`~toolkit.errors.RetryExhaustedError` (or its subclass
    :class:`~toolkit.errors.RetryBudgetExceededError`) is raised with the last status. A
    non-idempotent request that failed after it was sent raises
    :class:`~toolkit.errors.RequestOutcomeUnknownError`. Without ``retry`` it sends once.
    """
    kwargs.setdefault("follow_redirects", False)
    if retry is None:
        try:
            return client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _transport_error(what, url, exc) from exc
    return _send_with_retry(client, method, url, what=what, policy=retry, kwargs=kwargs)


def _transport_error(
    what: str, url: str, exc: Exception, cls: type[TransportError] = TransportError
) -> TransportError:
    if isinstance(exc, httpx.TimeoutException):
        text = f"{what}: timed out ({type(exc).__name__}) calling {url_for_error(url)}"
    else:
        text = f"{what}: {type(exc).__name__} calling {url_for_error(url)}: {redact_text(str(exc))}"
    return cls(text, url=url_for_error(url))


class _RetryRun:
    """One call's retry bookkeeping under a :class:`RetryPolicy`, without I/O.

    Both transports drive it (:func:`send_request` in a loop of ``client.request`` and
    ``policy.sleep``, :func:`async_send_request` with ``await``), so the retry rules are written
    once: each outcome goes in, and out comes the wait before the next attempt, or an error.
    """

    def __init__(self, policy: RetryPolicy, method: str, url: str, what: str) -> None:
        self.policy = policy
        self.method = method
        self.url = url
        self.what = what
        self.idempotent = policy.is_idempotent(method)
        self.shown = url_for_error(url)
        self.started = policy.clock()
        self.attempt = 0

    def begin_attempt(self) -> None:
        self.attempt += 1

    def wait_after_exception(self, exc: Exception) -> float:
        """The wait before retrying after a transport exception; raises when not retried."""
        kind = self.policy.classify_exception(exc, self.method)
        if kind == "outcome_unknown":
            raise _transport_error(self.what, self.url, exc, RequestOutcomeUnknownError) from exc
        if kind == "fatal":
            raise _transport_error(self.what, self.url, exc) from exc
        return self._wait(None, type(exc).__name__, None, exc)

    def wait_after_response(self, response: httpx.Response) -> float | None:
        """None when ``response`` is the answer; else the wait before retrying (the caller
        closes the response its own way: sync or async)."""
        if not (self.idempotent and response.status_code in self.policy.retry_statuses):
            return None
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self.policy.now())
        return self._wait(status, f"HTTP {status}", retry_after, None)

    def _wait(
        self,
        status: int | None,
        reason: str,
        retry_after: float | None,
        cause: Exception | None,
    ) -> float:
        policy, shown, attempt = self.policy, self.shown, self.attempt
        if attempt >= policy.max_attempts:
            raise RetryExhaustedError(
                f"{self.what}: gave up after {attempt} attempts calling {shown}: {reason}",
                url=shown,
                status_code=status,
                attempts=attempt,
                retry_after=retry_after,
            ) from cause
        delay = policy.delay(attempt, retry_after)
        elapsed = policy.clock() - self.started
        if elapsed + delay > policy.total_budget:
            raise RetryBudgetExceededError(
                f"{self.what}: retry budget of {policy.total_budget:g} s exhausted after "
                f"{attempt} attempts ({elapsed:.1f} s, next wait {delay:.1f} s) calling "
                f"{shown}: {reason}",
                url=shown,
                status_code=status,
                attempts=attempt,
                retry_after=retry_after,
            ) from cause
        logger.info(
            "%s: %s from %s %s; retry %d/%d in %.2f s",
            self.what,
            reason,
            self.method.upper(),
            shown,
            attempt,
            policy.max_attempts - 1,
            delay,
        )
        return delay


def _send_with_retry(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    policy: RetryPolicy,
    kwargs: dict[str, Any],
) -> httpx.Response:
    run = _RetryRun(policy, method, url, what)
    while True:
        run.begin_attempt()
        try:
            response = client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            delay = run.wait_after_exception(exc)
        else:
            try:
                wait = run.wait_after_response(response)
            except BaseException:
                response.close()  # retries exhausted: the last answer is not handed out
                raise
            if wait is None:
                return response
            response.close()
            delay = wait
        policy.sleep(delay)


async def async_send_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    retry: RetryPolicy | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """:func:`send_request` on an ``httpx.AsyncClient``: the same errors, the same
    :class:`RetryPolicy` (waits through its ``async_sleep``, so the event loop runs on)."""
    kwargs.setdefault("follow_redirects", False)
    if retry is None:
        try:
            return await client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _transport_error(what, url, exc) from exc
    run = _RetryRun(retry, method, url, what)
    while True:
        run.begin_attempt()
        try:
            response = await client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            delay = run.wait_after_exception(exc)
        else:
            try:
                wait = run.wait_after_response(response)
            except BaseException:
                await response.aclose()
                raise
            if wait is None:
                return response
            await response.aclose()
            delay = wait
        await retry.async_sleep(delay)


def raise_for_transport(response: httpx.Response, what: str) -> httpx.Response:
    """Return ``response`` if it is a 2xx; otherwise raise TransportError with its status.

    Redirects count as failures: the toolkit never follows them (they could carry secrets to
    another host). Neither the body nor the query string is put in the message.
    """
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        url = url_for_error(response.request.url)
        raise TransportError(
            f"{what}: HTTP {response.status_code} from {url}",
            url=url,
            status_code=response.status_code,
        ) from exc
    return response


def get_json(
    client: httpx.Client,
    url: str,
    what: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET ``url`` and return its JSON object body.

    Connect errors, timeouts and non-2xx raise TransportError; a body that is not a JSON object
    raises UnexpectedResponseError. Both carry the redacted URL and chain the cause.
    """
    request_headers = {"Accept": "application/json"}
    if headers:
        request_headers.update(headers)
    response = send_request(client, "GET", url, what=what, headers=request_headers)
    raise_for_transport(response, what)
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise UnexpectedResponseError(
            f"{what}: response from {url_for_error(url)} is not JSON "
            f"(content-type {response.headers.get('content-type', 'absent')!r})",
            url=url_for_error(url),
            status_code=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise UnexpectedResponseError(
            f"{what}: response from {url_for_error(url)} is JSON but not an object",
            url=url_for_error(url),
            status_code=response.status_code,
        )
    return body
