"""The system user exchange: a signed system user token in, a validated ticket out (protocol §4).

Request building and response parsing are pure functions (no I/O), so an async twin stays thin:

* :func:`build_rest_request` / :func:`parse_rest_response`: ``POST {env}/Login/api/
  PartnerSystemUser/Authenticate`` with a JSON body (§4.4);
* :func:`build_soap_request` / :func:`parse_soap_response`: the WCF service
  ``{env}/login/services/PartnerSystemUserService.svc`` (SOAP 1.1, §4.5), exactly as its WSDL
  says: the ``ApplicationToken`` and ``ContextIdentifier`` SOAP headers, the body
  ``AuthenticationRequest{SignedSystemToken, ReturnTokenType=Jwt}``, and an answer
  ``AuthenticationResponse{IsSuccessful, Token, ErrorMessage}`` in that order (a strict,
  schema-driven reading: another order, another namespace or an unknown member is refused);
* :func:`raise_for_exchange_result`: an answer with ``IsSuccessful: false`` (or a SOAP fault)
  becomes the typed :class:`~toolkit.errors.SystemUserError` its ``ErrorMessage`` names.

:func:`exchange_system_user_token` puts them together: it signs the system user token (again on
every attempt: the signing time is inside it), sends, checks the HTTP status and then
``IsSuccessful``, validates the returned JWT with the system user rules
(:func:`~toolkit.auth.tokens.validate_system_user_token`) and returns a
:class:`SystemUserTicket`. Every exchange creates a credentials record at SuperOffice (SUC
README, §4.7), so a refused exchange is tried at most once more, and only when that can help.

Undocumented wire behaviour (protocol open question 3), handled defensively:
failures may come as HTTP 200 with ``IsSuccessful: false`` or as a 4xx with the same body; the
``ErrorMessage`` text is undocumented, so the ``AuthorizeErrorCode`` name (SD:errors) is looked
for at its start first and then anywhere as a word; ``ReturnTokenType`` is sent as ``JWT`` in
REST (the REST samples) and ``Jwt`` in SOAP (the WSDL enum).
"""

from __future__ import annotations

import json
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from xml.sax.saxutils import escape

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from toolkit.auth.jwks import SigningKeySource
from toolkit.auth.tokens import DEFAULT_POLICY, ValidationPolicy, validate_system_user_token
from toolkit.claims import REDACTED, SystemUserClaims
from toolkit.config import Environment
from toolkit.errors import (
    ApplicationTokenDeniedError,
    AuthorizationRevokedError,
    InvalidSystemUserSignatureError,
    InvalidSystemUserTimestampError,
    NeedsReapprovalError,
    SystemUserError,
    TransportError,
    UnexpectedResponseError,
)
from toolkit.http import redact_text, send_request, url_for_error
from toolkit.keys import sign_system_user_token

__all__ = [
    "AUTHORIZE_ERROR_CODES",
    "EXCHANGE_MAX_ATTEMPTS",
    "SOAP_ACTION",
    "SOAP_NAMESPACE",
    "TICKET_WINDOW",
    "ExchangeRequest",
    "ExchangeResult",
    "SystemUserTicket",
    "build_rest_request",
    "build_soap_request",
    "exchange_system_user_token",
    "parse_rest_response",
    "parse_soap_response",
    "raise_for_exchange_result",
    "system_user_error",
]

logger = logging.getLogger("toolkit.auth.system_user")

# A ticket is valid for 6 hours from its last use, sliding (SD:bp credential-management, §4.7).
TICKET_WINDOW: Final = timedelta(hours=6)
# One attempt plus at most one re-signed retry: every exchange creates a credentials record at
# SuperOffice, so a refused exchange must never turn into a retry storm.
EXCHANGE_MAX_ATTEMPTS: Final = 2
# Pause before retrying an exchange whose connection could not be made: long enough for a
# flapping connection to recover, short enough not to stall a request noticeably.
EXCHANGE_RETRY_DELAY_SECONDS: Final = 1.0
# The answer is a small JSON object or SOAP envelope with one JWT; anything far larger is not.
MAX_RESPONSE_BYTES: Final = 256 * 1024

# SOAP (§4.5, PY WSDL, NODE routes/token.js). [C]
SOAP_NAMESPACE: Final = "http://www.superoffice.com/superid/partnersystemuser/0.1"
SOAP_ACTION: Final = f"{SOAP_NAMESPACE}/IPartnerSystemUserService/Authenticate"
SOAP_ENVELOPE_NAMESPACE: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_CONTENT_TYPE: Final = "text/xml;charset=UTF-8"  # SOAP 1.1; a SOAP 1.2 type gets HTTP 415
XSI_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema-instance"
# AuthenticationResponse's members, in the WSDL's xs:sequence order (PY WSDL, §4.5). [C]
SOAP_RESPONSE_MEMBERS: Final = ("IsSuccessful", "Token", "ErrorMessage")
_XS_BOOLEAN: Final[Mapping[str, bool]] = {"true": True, "1": True, "false": False, "0": False}
# REST samples send "JWT"; the SOAP enum is Jwt | Saml. Case sensitivity is unknown (open q. 3).
REST_RETURN_TOKEN_TYPE: Final = "JWT"
SOAP_RETURN_TOKEN_TYPE: Final = "Jwt"

# AuthorizeErrorCode names (SD:errors, §3) → the error raised. NoError and InvalidRedirectUrl
# cannot describe a refused exchange and fall back to SystemUserError; ``InvalidRequest`` is
# the emulator's name for a malformed request. [I]
AUTHORIZE_ERROR_CODES: Final[Mapping[str, type[SystemUserError]]] = {
    "Revoked": AuthorizationRevokedError,
    "Expired": AuthorizationRevokedError,
    "Denied": ApplicationTokenDeniedError,
    "NeedsReapproval": NeedsReapprovalError,
    "InvalidTimestamp": InvalidSystemUserTimestampError,
    "InvalidSignature": InvalidSystemUserSignatureError,
    "InvalidRequest": SystemUserError,
    "InvalidRedirectUrl": SystemUserError,
    "NoError": SystemUserError,
}
_CODES_BY_FOLDED = {code.casefold(): code for code in AUTHORIZE_ERROR_CODES}
_LEADING_WORD = re.compile(r"\s*([A-Za-z]+)")
_ANY_CODE = re.compile(
    r"\b(" + "|".join(sorted(AUTHORIZE_ERROR_CODES, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_DTD_MARKERS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True, repr=False)
class SystemUserTicket:
    """A validated system user ticket for one tenant.

    ``ticket`` is the credential (``7T:...``) for ``Authorization: SOTicket`` (with
    ``SO-AppToken``) or the SOAP ``Credentials/Ticket``; ``repr`` never shows it.
    ``expires_at`` is the toolkit's own view of the sliding window: the last use it knows of
    (or ``obtained_at``) + 6 hours; ``last_used_at`` is that last use (None: not used yet).
    """

    ticket: str
    context_identifier: str
    serial: str
    webapi_url: str | None
    netserver_url: str | None
    obtained_at: datetime
    claims: SystemUserClaims | None = field(default=None, compare=False)
    last_used_at: datetime | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.expires_at is None:
            base = self.last_used_at or self.obtained_at
            object.__setattr__(self, "expires_at", base + TICKET_WINDOW)

    @property
    def valid_until(self) -> datetime:
        """``expires_at``, never None (it is filled in at construction)."""
        assert self.expires_at is not None  # noqa: S101 - __post_init__ sets it
        return self.expires_at

    def authorization_header(self) -> str:
        """``SOTicket 7T:...``: the value of the REST ``Authorization`` header (§5)."""
        return f"SOTicket {self.ticket}"

    def __repr__(self) -> str:
        return (
            f"SystemUserTicket(context_identifier={self.context_identifier!r}, "
            f"serial={self.serial!r}, obtained_at={self.obtained_at.isoformat()!r}, "
            f"expires_at={self.valid_until.isoformat()!r}, ticket={REDACTED!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a SystemUserTicket cannot be pickled; it holds a live credential")


# --------------------------------------------------------------------------------------------
# Requests (pure)


@dataclass(frozen=True, repr=False)
class ExchangeRequest:
    """One exchange request, ready to send: method POST, ``url``, ``headers``, ``content``."""

    url: str
    headers: Mapping[str, str]
    content: bytes
    transport: Literal["rest", "soap"]

    def __repr__(self) -> str:
        return f"ExchangeRequest({self.transport!r}, {url_for_error(self.url)!r}, <redacted body>)"


def build_rest_request(
    environment: Environment,
    *,
    signed_system_token: str,
    application_token: str,
    context_identifier: str,
) -> ExchangeRequest:
    """The REST exchange request (§4.4): JSON body, sent to the un-numbered login host."""
    body = {
        "SignedSystemToken": signed_system_token,
        "ApplicationToken": application_token,
        "ContextIdentifier": context_identifier,
        "ReturnTokenType": REST_RETURN_TOKEN_TYPE,
    }
    return ExchangeRequest(
        url=environment.partner_system_user_url,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        content=json.dumps(body).encode("utf-8"),
        transport="rest",
    )


def build_soap_request(
    environment: Environment,
    *,
    signed_system_token: str,
    application_token: str,
    context_identifier: str,
) -> ExchangeRequest:
    """The SOAP 1.1 exchange request (§4.5); every value is XML-escaped.

    ``ApplicationToken`` and ``ContextIdentifier`` are SOAP headers in the service namespace;
    the body is ``AuthenticationRequest{SignedSystemToken, ReturnTokenType}``.
    """

    def text(value: str) -> str:
        return escape(value, {'"': "&quot;", "'": "&apos;"})

    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_ENVELOPE_NAMESPACE}" xmlns:psu="{SOAP_NAMESPACE}">'
        "<s:Header>"
        f"<psu:ApplicationToken>{text(application_token)}</psu:ApplicationToken>"
        f"<psu:ContextIdentifier>{text(context_identifier)}</psu:ContextIdentifier>"
        "</s:Header>"
        "<s:Body>"
        "<psu:AuthenticationRequest>"
        f"<psu:SignedSystemToken>{text(signed_system_token)}</psu:SignedSystemToken>"
        f"<psu:ReturnTokenType>{SOAP_RETURN_TOKEN_TYPE}</psu:ReturnTokenType>"
        "</psu:AuthenticationRequest>"
        "</s:Body>"
        "</s:Envelope>"
    )
    return ExchangeRequest(
        url=environment.partner_system_user_soap_url,
        headers={
            "Content-Type": SOAP_CONTENT_TYPE,
            # SOAP 1.1 §6.1.1 writes the action as a quoted URI; WCF takes it either way.
            "SOAPAction": f'"{SOAP_ACTION}"',
            "Accept": "text/xml",
        },
        content=envelope.encode("utf-8"),
        transport="soap",
    )


# --------------------------------------------------------------------------------------------
# Responses (pure)


@dataclass(frozen=True, repr=False)
class ExchangeResult:
    """An exchange answer as parsed: ``IsSuccessful``, ``Token``, ``ErrorMessage``, status."""

    is_successful: bool
    token: str | None
    error_message: str | None
    status_code: int
    fault: bool = False  # a SOAP Fault rather than an AuthenticationResponse

    def __repr__(self) -> str:
        token = REDACTED if self.token else None
        return (
            f"ExchangeResult(is_successful={self.is_successful!r}, token={token!r}, "
            f"error_message={self.error_message!r}, status_code={self.status_code})"
        )


def _unexpected(what: str, url: str, status_code: int) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"system user exchange: {what} (HTTP {status_code} from {url_for_error(url)})",
        url=url_for_error(url),
        status_code=status_code,
    )


def _status_error(status_code: int, url: str) -> TransportError:
    return TransportError(
        f"system user exchange: HTTP {status_code} from {url_for_error(url)}",
        url=url_for_error(url),
        status_code=status_code,
    )


def _optional_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return None


def parse_rest_response(status_code: int, body: bytes, *, url: str = "") -> ExchangeResult:
    """Parse the REST answer. The status is checked first, then the body (§4.4).

    2xx and 4xx answers with the documented JSON object are results (a refusal may come either
    way); other statuses, and bodies that are not that object, raise
    :class:`~toolkit.errors.TransportError` / :class:`~toolkit.errors.UnexpectedResponseError`.
    """
    if len(body) > MAX_RESPONSE_BYTES:
        raise _unexpected("the answer is too large", url, status_code)
    if not (200 <= status_code < 300 or 400 <= status_code < 500):
        raise _status_error(status_code, url)
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        if status_code >= 400:
            raise _status_error(status_code, url) from None
        raise _unexpected("the answer is not JSON", url, status_code) from None
    if not isinstance(document, dict) or "IsSuccessful" not in document:
        if status_code >= 400:
            raise _status_error(status_code, url)
        raise _unexpected("the answer has no IsSuccessful member", url, status_code)
    successful = document.get("IsSuccessful")
    if not isinstance(successful, bool):
        raise _unexpected("IsSuccessful is not a boolean", url, status_code)
    return ExchangeResult(
        is_successful=successful and status_code < 400,
        token=_optional_text(document.get("Token")),
        error_message=_optional_text(document.get("ErrorMessage")),
        status_code=status_code,
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _qualified(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _member_text(element: ET.Element, name: str, url: str, status_code: int) -> str | None:
    """A simple member: None for xsi:nil; text only (no child elements)."""
    if element.get(_qualified(XSI_NAMESPACE, "nil")) in ("true", "1"):
        return None
    if len(element):
        raise _unexpected(f"{name} holds elements, not text", url, status_code)
    return element.text or ""


def _authentication_response(response: ET.Element, url: str, status_code: int) -> ExchangeResult:
    """The members of ``AuthenticationResponse`` as the schema has them: each in the service
    namespace, at most once, in the order IsSuccessful, Token, ErrorMessage (§4.5)."""
    values: dict[str, str | None] = {}
    position = 0
    for child in response:
        namespace, _, name = child.tag[1:].partition("}") if child.tag[:1] == "{" else ("", "", "")
        if namespace != SOAP_NAMESPACE or name not in SOAP_RESPONSE_MEMBERS[position:]:
            shown = _local(child.tag)[:50]
            raise _unexpected(
                f"AuthenticationResponse member {shown!r} is unknown or out of the schema's order",
                url,
                status_code,
            )
        position = SOAP_RESPONSE_MEMBERS.index(name) + 1
        values[name] = _member_text(child, name, url, status_code)
    # IsSuccessful is minOccurs=0 in the schema, but a WCF service always writes a value-type
    # member; an answer without it says nothing usable. [I]
    flag = values.get("IsSuccessful")
    successful = _XS_BOOLEAN.get((flag or "").strip())
    if successful is None:
        raise _unexpected("IsSuccessful is not an xs:boolean", url, status_code)
    token, error = values.get("Token"), values.get("ErrorMessage")
    return ExchangeResult(
        is_successful=successful,
        token=(token or "").strip() or None,
        error_message=(error or "").strip() or None,
        status_code=status_code,
    )


def parse_soap_response(status_code: int, body: bytes, *, url: str = "") -> ExchangeResult:
    """Parse the SOAP 1.1 answer: ``AuthenticationResponse`` or a SOAP ``Fault``.

    XML is parsed without a DTD: a document declaring one (entities, external references) is
    refused before parsing. Names are matched with their namespaces, as the WSDL defines them
    (SOAP 1.1 envelope, the service namespace for the answer); the answer's members must follow
    the schema's order. A Fault (WCF's ``a:DeserializationFailed`` for a request it cannot read,
    ``a:ActionNotSupported`` for an unknown action) is a result with ``fault`` set.
    """
    if len(body) > MAX_RESPONSE_BYTES:
        raise _unexpected("the answer is too large", url, status_code)
    # WCF answers a fault with 500; other 5xx (and 1xx/3xx) are not answers of the service.
    if not (200 <= status_code < 300 or 400 <= status_code <= 500):
        raise _status_error(status_code, url)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unexpected("the answer is not UTF-8 XML", url, status_code) from None
    if _DTD_MARKERS.search(text):
        raise _unexpected("the answer declares a DTD, which is refused", url, status_code)
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs refused above, so no entity expansion
    except ET.ParseError:
        if status_code >= 300:  # e.g. WCF's 415 for a wrong Content-Type: a text, no envelope
            raise _status_error(status_code, url) from None
        raise _unexpected("the answer is not well-formed XML", url, status_code) from None
    envelope_body = None
    if root.tag == _qualified(SOAP_ENVELOPE_NAMESPACE, "Envelope"):
        envelope_body = root.find(_qualified(SOAP_ENVELOPE_NAMESPACE, "Body"))
    if envelope_body is None:
        if status_code >= 300:
            raise _status_error(status_code, url)
        raise _unexpected("the answer is not a SOAP 1.1 envelope", url, status_code)
    fault = envelope_body.find(_qualified(SOAP_ENVELOPE_NAMESPACE, "Fault"))
    if fault is not None:
        # SOAP 1.1 §4.4: faultcode and faultstring are unqualified.
        reason, code = fault.findtext("faultstring"), fault.findtext("faultcode")
        return ExchangeResult(
            is_successful=False,
            token=None,
            error_message=(reason or code or "SOAP Fault").strip(),
            status_code=status_code,
            fault=True,
        )
    if status_code >= 300:
        raise _status_error(status_code, url)
    response = envelope_body.find(_qualified(SOAP_NAMESPACE, "AuthenticationResponse"))
    if response is None or len(envelope_body) != 1:
        raise _unexpected("the answer is not one AuthenticationResponse", url, status_code)
    return _authentication_response(response, url, status_code)


def system_user_error(
    error_message: str | None, *, status_code: int | None = None, fault: bool = False
) -> SystemUserError:
    """The typed error an ``ErrorMessage`` names (its ``AuthorizeErrorCode``), redacted."""
    message = redact_text((error_message or "").strip())[:500]
    code: str | None = None
    leading = _LEADING_WORD.match(message)
    if leading is not None:
        code = _CODES_BY_FOLDED.get(leading.group(1).casefold())
    if code is None:
        anywhere = _ANY_CODE.search(message)
        if anywhere is not None:
            code = _CODES_BY_FOLDED[anywhere.group(1).casefold()]
    cls = AUTHORIZE_ERROR_CODES.get(code, SystemUserError) if code else SystemUserError
    kind = "SOAP fault" if fault else "refused"
    text = f"system user exchange {kind}: {message or 'no ErrorMessage'}"
    return cls(text, error_code=code, error_message=message or None, status_code=status_code)


def exchange_codec(
    transport: str,
) -> tuple[Callable[..., ExchangeRequest], Callable[..., ExchangeResult]]:
    """The request builder and answer parser of a transport (``rest`` or ``soap``): shared by
    the sync and the async exchange; ValueError for any other."""
    if transport == "rest":
        return build_rest_request, parse_rest_response
    if transport == "soap":
        return build_soap_request, parse_soap_response
    raise ValueError("transport must be 'rest' or 'soap'")


def raise_for_exchange_result(result: ExchangeResult) -> str:
    """The JWT of a successful answer; otherwise the typed :class:`SystemUserError`."""
    if not result.is_successful:
        raise system_user_error(
            result.error_message, status_code=result.status_code, fault=result.fault
        )
    if not result.token:
        raise SystemUserError(
            "system user exchange: IsSuccessful is true but no Token came back",
            error_code=None,
            status_code=result.status_code,
        )
    return result.token


# --------------------------------------------------------------------------------------------
# The exchange


def retry_exchange(attempt: int, error: Exception, context_identifier: str) -> bool:
    """Whether a failed exchange (attempt ``attempt``) is tried once more, re-signed; logged.
    The sync and the async exchange share this decision; the caller waits
    :data:`EXCHANGE_RETRY_DELAY_SECONDS` first after a :class:`TransportError`."""
    if attempt >= EXCHANGE_MAX_ATTEMPTS or not _retryable(error):
        return False
    logger.warning(
        "system user exchange for %s failed (%s); retrying once, re-signed",
        context_identifier,
        type(error).__name__,
    )
    return True


def _retryable(error: Exception) -> bool:
    """May a re-signed second attempt help? Only for a stale timestamp or no connection.

    A connect error (or pool timeout) means the request never reached SuperOffice, so no
    credentials record was made. Read timeouts and 5xx may have created one: not retried.
    Revoked, Denied, NeedsReapproval and InvalidSignature cannot change by retrying.
    """
    if isinstance(error, InvalidSystemUserTimestampError):
        return True
    if isinstance(error, TransportError) and not isinstance(error, UnexpectedResponseError):
        return isinstance(
            error.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
        )
    return False


def exchange_system_user_token(
    *,
    http: httpx.Client,
    environment: Environment,
    keys: SigningKeySource,
    application_token: str,
    context_identifier: str,
    system_user_token: str,
    private_key: rsa.RSAPrivateKey,
    transport: Literal["rest", "soap"] = "rest",
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> SystemUserTicket:
    """Exchange the system user token for a validated :class:`SystemUserTicket` (§4.3-4.6).

    ``application_token`` is the application's client secret. Each attempt signs the token
    anew (``now`` gives the signing time). At most :data:`EXCHANGE_MAX_ATTEMPTS` attempts are
    made, the second only after ``InvalidTimestamp`` or a connection that could not be made.

    Raises :class:`~toolkit.errors.SystemUserError` subclasses for refusals,
    :class:`~toolkit.errors.TokenValidationError` subclasses for a JWT that fails the system
    user rules, :class:`~toolkit.errors.TransportError` for HTTP failures. Nothing invalid is
    returned.
    """
    build, parse = exchange_codec(transport)
    for attempt in range(1, EXCHANGE_MAX_ATTEMPTS + 1):
        request = build(
            environment,
            signed_system_token=sign_system_user_token(system_user_token, private_key, now=now),
            application_token=application_token,
            context_identifier=context_identifier,
        )
        try:
            response = send_request(
                http,
                "POST",
                request.url,
                what="system user exchange",
                headers=dict(request.headers),
                content=request.content,
            )
            token = raise_for_exchange_result(
                parse(response.status_code, response.content, url=request.url)
            )
        except (SystemUserError, TransportError) as exc:
            if not retry_exchange(attempt, exc, context_identifier):
                raise
            if isinstance(exc, TransportError):
                sleep(EXCHANGE_RETRY_DELAY_SECONDS)
            continue
        claims = validate_system_user_token(
            token, keys=keys, context_identifier=context_identifier, policy=policy, now=now
        )
        obtained_at = now()
        logger.info(
            "system user ticket obtained for %s (serial %s, %s)",
            claims.context_identifier,
            claims.serial,
            transport,
        )
        return SystemUserTicket(
            ticket=claims.ticket,
            context_identifier=claims.context_identifier,
            serial=claims.serial,
            webapi_url=claims.webapi_url,
            netserver_url=claims.netserver_url,
            obtained_at=obtained_at,
            claims=claims,
        )
    raise AssertionError("unreachable")  # pragma: no cover
