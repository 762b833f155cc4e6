"""The one httpx client factory, plus the redaction every log line and error message goes through.

Every HTTP call the toolkit makes uses a client from :func:`create_client`: explicit
connect/read/write/pool timeouts, a toolkit ``User-Agent``, no automatic redirects (a redirect
could carry a code or token to another host), and DEBUG logging on ``toolkit.http`` with
credentials masked.

The request helpers (:func:`send_request`, :func:`get_json`, :func:`raise_for_transport`) turn
httpx failures into :class:`~toolkit.errors.TransportError` with a redacted URL, the status code
and the httpx cause chained. They are the single place a retry policy will wrap (capped
exponential backoff + jitter for connect errors, 429 and 502/503/504 on idempotent requests,
DESIGN.md "HTTP reliability"); retries are deliberately not implemented yet.

Library code installs no logging handlers. Front ends that do should add :class:`RedactingFilter`
to them, so that records from other libraries (httpx logs full URLs, codes included) are masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx

from toolkit.claims import REDACTED
from toolkit.errors import TransportError, UnexpectedResponseError

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
    merged = {"User-Agent": USER_AGENT}
    if headers:
        merged.update(headers)
    return httpx.Client(
        timeout=(timeout or HttpTimeouts()).to_httpx(),
        transport=transport,
        base_url=base_url,
        headers=merged,
        follow_redirects=False,
        event_hooks={"request": [_log_request], "response": [_log_response]},
    )


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


def _header_line(match: re.Match[str]) -> str:
    name, sep, scheme = match.group(1), match.group(2), match.group(3)
    if scheme and name.lower() in _SCHEME_HEADERS:
        return f"{name}{sep}{scheme} {REDACTED}"
    return f"{name}{sep}{REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with anything credential-shaped masked: JWTs, ``7T:`` tickets, ``8A:`` access
    tokens, private keys, and values that follow a secret's name (``client_secret=``,
    ``"refresh_token": "..."``, ``Authorization: ...``, ``ApplicationToken`` + 32 hex)."""
    if not text:
        return text
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
# Requests
# --------------------------------------------------------------------------------------------


def send_request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; connect errors, timeouts and protocol errors become TransportError.

    The status code is not checked (OAuth endpoints answer errors with 400 + a JSON body); use
    :func:`raise_for_transport` for that. Redirects are never followed, whatever the client says.
    ``what`` names the exchange in messages (``"JWKS"``, ``"token endpoint"``).
    """
    kwargs.setdefault("follow_redirects", False)
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransportError(
            f"{what}: timed out ({type(exc).__name__}) calling {url_for_error(url)}",
            url=url_for_error(url),
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TransportError(
            f"{what}: {type(exc).__name__} calling {url_for_error(url)}: {redact_text(str(exc))}",
            url=url_for_error(url),
        ) from exc


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
