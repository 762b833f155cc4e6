"""PartnerSystemUser: the system user token exchange, REST and SOAP (protocol §4).

The app signs `<system_user_token>.<yyyyMMddHHmm>` with its private key and sends it with its
application token (client secret) and the tenant's context identifier; the answer is a JWT
signed by SuperID whose `ticket` claim is the system user ticket (`7T:...`).

Failure answers are not documented (open question 3). The emulator's choice [I]: HTTP 200 with
`IsSuccessful: false` and an `ErrorMessage` whose FIRST WORD is the `AuthorizeErrorCode` name of
protocol §3 (`Revoked`, `Expired`, `Denied`, `NeedsReapproval`, `InvalidTimestamp`,
`InvalidSignature`), followed by `: ` and a sentence. A malformed request is HTTP 400 with the same
JSON shape and `ErrorMessage` starting `InvalidRequest`; `ReturnTokenType` Saml is HTTP 200 with
`ErrorMessage` starting `NotSupported` (the emulator issues JWTs only). Clients parse the word.

SOAP (protocol §4.5) is the WCF service its WSDL describes (`system_user_wsdl`, served at `?wsdl`
and `?singleWsdl`): SOAP 1.1 only (a SOAP 1.2 request gets WCF's HTTP 415), no WS-Addressing
headers in the answer (basicHttpBinding has none), the answer's members in the schema's order
(`IsSuccessful`, `Token`, `ErrorMessage`). Every member of the request is optional in the
schema: a request the schema accepts is always answered with an `AuthenticationResponse` (a
missing value is a refusal, `InvalidRequest` [I]); one it does not accept (another body
element, another element order, a `ReturnTokenType` other than exactly `Jwt` or `Saml`) gets
the fault WCF's formatter gives, `a:DeserializationFailed` [I]; an unknown SOAPAction gets WCF's
`a:ActionNotSupported` [I].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from toolkit.emulator.errors import BadRequestError
from toolkit.emulator.signing import KeyRing
from toolkit.emulator.soap import (
    SOAP11_NS,
    Element,
    Envelope,
    SoapFault,
    action_not_supported,
    deserialization_failed,
    envelope,
    fault_response,
    read_envelope,
    soap_response,
    text_element,
    wcf_content_type_refusal,
)
from toolkit.emulator.system_user_wsdl import TOKEN_TYPES, partner_system_user_wsdl
from toolkit.emulator.tokens import CLAIM_PREFIX, tenant_base
from toolkit.emulator.wire import read_body
from toolkit.emulator.world import App, Tenant, Ticket, World

REST_PATH = "/Login/api/PartnerSystemUser/Authenticate"  # protocol §4.4
SOAP_PATH = "/login/services/PartnerSystemUserService.svc"  # protocol §4.5
SOAP_NS = "http://www.superoffice.com/superid/partnersystemuser/0.1"
SOAP_ACTION = f"{SOAP_NS}/IPartnerSystemUserService/Authenticate"
# The Content-Type a basicHttpBinding takes, spelled as WCF names it in its 415 answer. [I]
SOAP_BINDING_CONTENT_TYPE = "text/xml; charset=utf-8"
# An absent ReturnTokenType is not documented (the schema makes it optional): the emulator
# answers with a JWT, the only type it issues. [I]
DEFAULT_SOAP_TOKEN_TYPE = "Jwt"
_XSI_NIL = "nil"  # xsi:nil, by local name (the parser keeps local attribute names)

SYSTEM_USER_ISSUER = "SuperOffice AS"  # protocol §2.5 / §4.6
AUDIENCE_PREFIX = "spn:"  # audience = spn:{serial}
TICKET_PREFIX = "7T:"  # protocol §4.7
# Timestamp tolerance is undocumented (open question 3) [I]: the stamped minute may be up to
# 5 minutes ahead of the emulator clock, and the token is refused once 5 minutes have passed
# since the END of the stamped minute (minute resolution).
SIGNED_TOKEN_TOLERANCE = 300
TIMESTAMP_FORMAT = "%Y%m%d%H%M"  # UTC, 24-hour, 12 digits (protocol §4.3)
# JWT lifetime is undocumented (open question 4) [I]: "short"; nbf = iat - 60 and
# exp = iat + 300 as in SuperID's id_token, giving exp - nbf = 360 s as seen in one
# SuperOffice-issued JWT [S].
SYSTEM_USER_JWT_LIFETIME = 300
SYSTEM_USER_JWT_NOT_BEFORE_SKEW = 60
# Tickets: "valid up to 6 hours with sliding expiration" (protocol §4.7) [C].
TICKET_SLIDING_WINDOW = 6 * 3600
MAX_REQUEST_BYTES = 64 * 1024

# Case-insensitive routing of the two exchange paths (the docs spell them both ways, §4.4/§4.5).
PATH_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/login/api/partnersystemuser/authenticate/?", re.IGNORECASE), REST_PATH),
    (re.compile(r"/login/services/partnersystemuserservice\.svc", re.IGNORECASE), SOAP_PATH),
]

_TIMESTAMP = re.compile(r"[0-9]{12}")
_CTX = re.compile(r"[Cc][Uu][Ss][Tt][0-9]+")

# AuthorizeErrorCode names (protocol §3), plus the emulator's own two leading words [I].
REVOKED = "Revoked"
EXPIRED = "Expired"
DENIED = "Denied"
NEEDS_REAPPROVAL = "NeedsReapproval"
INVALID_TIMESTAMP = "InvalidTimestamp"
INVALID_SIGNATURE = "InvalidSignature"
INVALID_REQUEST = "InvalidRequest"
NOT_SUPPORTED = "NotSupported"


class ExchangeRefused(Exception):
    """A refused exchange: `code` leads the ErrorMessage; `status` is the REST HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 200) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status

    @property
    def message(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class ExchangeRequest:
    signed_system_token: str
    application_token: str
    context_identifier: str
    return_token_type: str


def system_user_name(app: App) -> str:
    # The system user's associate name is not documented; the emulator names it after the
    # application it belongs to [I].
    return app.name


def system_user_associate_id(app: App) -> int:
    # A stable associate id per app (not documented) [I]; far above the seeded users' ids.
    return 1_000_000 + int(hashlib.sha256(app.client_id.encode()).hexdigest()[:5], 16)


def new_ticket(ctx: str) -> str:
    # `7T:` + Base64(UTF-16LE("{32 hex};{number};{ctx}")): decoded from one doc sample, so the
    # inner layout is [I] (protocol §4.7).
    inner = f"{secrets.token_hex(16)};{secrets.randbelow(2**31 - 1) + 1};{ctx}"
    return TICKET_PREFIX + base64.b64encode(inner.encode("utf-16-le")).decode("ascii")


def ticket_expires_at(ticket: Ticket) -> float:
    return ticket.last_used_at + TICKET_SLIDING_WINDOW


def ticket_is_live(ticket: Ticket, now: float) -> bool:
    return not ticket.revoked and now < ticket_expires_at(ticket)


def _app_by_secret(world: World, secret: str) -> App | None:
    with world.lock:
        apps = list(world.apps.values())
    found = None
    for app in apps:  # compare against every app, so timing says nothing about which matched
        if app.check_secret(secret):
            found = app
    return found


def _split_signed_token(signed: str) -> tuple[str, str, bytes]:
    # Split at the LAST two dots: the system user token may itself hold dots and spaces (§4.1).
    parts = signed.rsplit(".", 2)
    if len(parts) != 3 or not all(parts):
        raise ExchangeRefused(
            INVALID_SIGNATURE, "SignedSystemToken is not <token>.<yyyyMMddHHmm>.<signature>"
        )
    token, stamp, signature = parts
    try:
        raw = base64.b64decode(signature, validate=True)  # standard Base64 with padding (§4.3)
    except (binascii.Error, ValueError) as exc:
        raise ExchangeRefused(INVALID_SIGNATURE, "the signature is not Base64") from exc
    return token, stamp, raw


def _check_timestamp(stamp: str, now: float) -> None:
    if _TIMESTAMP.fullmatch(stamp) is None:
        raise ExchangeRefused(INVALID_TIMESTAMP, "the timestamp is not UTC yyyyMMddHHmm")
    try:
        signed_at = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise ExchangeRefused(INVALID_TIMESTAMP, "the timestamp is not a valid time") from exc
    if signed_at - now > SIGNED_TOKEN_TOLERANCE:
        raise ExchangeRefused(INVALID_TIMESTAMP, "the timestamp is in the future")
    if now - (signed_at + 60) > SIGNED_TOKEN_TOLERANCE:
        raise ExchangeRefused(INVALID_TIMESTAMP, "the timestamp is too old")


def _check_signature(app: App, token: str, stamp: str, signature: bytes) -> None:
    if not app.public_key_pem:
        raise ExchangeRefused(INVALID_SIGNATURE, "the application has no registered public key")
    public_key = serialization.load_pem_public_key(app.public_key_pem.encode())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ExchangeRefused(INVALID_SIGNATURE, "the registered key is not an RSA key")
    try:
        # RSA PKCS#1 v1.5 with SHA-256 over the UTF-8 bytes of "<token>.<timestamp>" (§4.3).
        public_key.verify(
            signature, f"{token}.{stamp}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as exc:
        raise ExchangeRefused(INVALID_SIGNATURE, "the signature does not verify") from exc


def system_user_claims(
    *,
    app: App,
    tenant: Tenant,
    ticket: str,
    base_url: str,
    now: float,
    host_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    iat = int(now)
    base = tenant_base(tenant, host_urls or {}, base_url)
    superoffice = {
        "ticket": ticket,
        "ctx": tenant.ctx,
        "serial": tenant.serial,
        "netserver_url": f"{base}/Remote/Services88/",
        "webapi_url": f"{base}/api/",  # presence unconfirmed (open question 4) [I]
    }
    claims: dict[str, Any] = {
        "iss": SYSTEM_USER_ISSUER,
        "aud": AUDIENCE_PREFIX + tenant.serial,
        "sub": system_user_name(app),  # [I] (open question 4)
        "iat": iat,
        "nbf": iat - SYSTEM_USER_JWT_NOT_BEFORE_SKEW,
        "exp": iat + SYSTEM_USER_JWT_LIFETIME,
    }
    claims.update({CLAIM_PREFIX + name: value for name, value in superoffice.items()})
    return claims


class PartnerSystemUser:
    def __init__(self, world: World, keys: KeyRing, base_url: str) -> None:
        self.world = world
        self.keys = keys
        self.base_url = base_url

    def routes(self) -> list[Route]:
        return [
            Route(REST_PATH, self.rest, methods=["POST"]),
            Route(SOAP_PATH, self.soap, methods=["GET", "POST"]),
        ]

    # -- the exchange -------------------------------------------------------------------------

    def exchange(self, request: ExchangeRequest) -> str:
        """Check everything, in order; returns the signed JWT or raises ExchangeRefused."""
        world = self.world
        if _CTX.fullmatch(request.context_identifier) is None:
            raise ExchangeRefused(INVALID_REQUEST, "ContextIdentifier is not Cust + digits", 400)
        token_type = request.return_token_type.lower()
        if token_type == "saml":
            raise ExchangeRefused(NOT_SUPPORTED, "ReturnTokenType Saml is not supported; use Jwt")
        if token_type != "jwt":
            raise ExchangeRefused(INVALID_REQUEST, "ReturnTokenType must be Jwt or Saml", 400)
        app = _app_by_secret(world, request.application_token)
        if app is None:
            raise ExchangeRefused(DENIED, "unknown application token")
        tenant = world.find_tenant(request.context_identifier)
        if tenant is None:
            raise ExchangeRefused(DENIED, f"unknown tenant {request.context_identifier}")
        with world.lock:
            authorization = world.authorizations.get((app.client_id, tenant.ctx.lower()))
            if authorization is None:
                raise ExchangeRefused(DENIED, "the application is not authorized for this tenant")
            if authorization.revoked:
                raise ExchangeRefused(REVOKED, "the authorization was revoked")
            if not app.grant_system_token:
                raise ExchangeRefused(DENIED, "the application has no SystemToken claim")
            if authorization.needs_reapproval:
                raise ExchangeRefused(
                    NEEDS_REAPPROVAL, "an administrator must approve the application again"
                )
            expected = authorization.system_token or ""
        token, stamp, signature = _split_signed_token(request.signed_system_token)
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise ExchangeRefused(
                DENIED, "the system user token does not belong to this application and tenant"
            )
        now = world.now()
        _check_timestamp(stamp, now)
        _check_signature(app, token, stamp, signature)
        ticket = new_ticket(tenant.ctx)
        world.add_ticket(Ticket(ticket, app.client_id, tenant.ctx, now, now))
        claims = system_user_claims(
            app=app,
            tenant=tenant,
            ticket=ticket,
            base_url=self.base_url,
            now=now,
            host_urls=world.host_urls,
        )
        return self.keys.sign(claims)

    # -- REST ---------------------------------------------------------------------------------

    async def rest(self, request: Request) -> Response:
        try:
            exchange = await _rest_request(request)
            token = self.exchange(exchange)
        except ExchangeRefused as exc:
            return rest_answer(None, exc.message, exc.status)
        return rest_answer(token, None, 200)

    # -- SOAP ---------------------------------------------------------------------------------

    async def soap(self, request: Request) -> Response:
        if request.method == "GET":
            return self.metadata(request)
        refusal = _content_type_refusal(request.headers.get("content-type", ""))
        if refusal is not None:
            return refusal
        try:
            env = await read_envelope(request, (SOAP11_NS,))
            # SOAP 1.1 §6.1.1 quotes the action; WCF takes it quoted or not.
            action = request.headers.get("soapaction", "").strip().strip('"')
            if action != SOAP_ACTION:
                raise action_not_supported(action)
            exchange = _soap_request(env)
            token: str | None = self.exchange(exchange)
            error: str | None = None
        except SoapFault as fault:
            return fault_response(fault)
        except ExchangeRefused as exc:
            token, error = None, exc.message
        return soap_response(SOAP11_NS, authentication_response(token, error))

    def metadata(self, request: Request) -> Response:
        """`?wsdl` / `?singleWsdl` (any casing, as WCF): the WSDL with the emulator's address;
        without either, a short page pointing at them (WCF's help page is similar) [I]."""
        address = self.base_url + SOAP_PATH
        asked = {key.lower() for key in request.query_params}
        if asked & {"wsdl", "singlewsdl"}:
            return Response(partner_system_user_wsdl(address), media_type="text/xml; charset=utf-8")
        page = (
            "<!DOCTYPE html><html><head><title>PartnerSystemUserService Service</title></head>"
            f"<body><p>PartnerSystemUserService: see <a href={quoteattr(address + '?wsdl')}>"
            f"{escape(address)}?wsdl</a> or <a href={quoteattr(address + '?singleWsdl')}>"
            f"{escape(address)}?singleWsdl</a>.</p></body></html>"
        )
        return HTMLResponse(page)


def authentication_response(token: str | None, error: str | None) -> str:
    """The SOAP 1.1 answer: `AuthenticationResponse` with its members in the schema's order
    (IsSuccessful, Token, ErrorMessage; protocol §4.5) and no SOAP header at all."""
    body = (
        "<psu:AuthenticationResponse>"
        f"<psu:IsSuccessful>{'true' if token else 'false'}</psu:IsSuccessful>"
        + text_element("psu", "Token", token)
        + text_element("psu", "ErrorMessage", error)
        + "</psu:AuthenticationResponse>"
    )
    return envelope(SOAP11_NS, body, namespaces={"psu": SOAP_NS})


def _content_type_refusal(content_type: str) -> Response | None:
    # basicHttpBinding takes text/xml (UTF-8) only; anything else, a SOAP 1.2 request's
    # application/soap+xml in particular, is refused before the envelope is read. [I]
    media, _, parameters = content_type.partition(";")
    charset = ""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if media.strip().lower() == "text/xml" and charset in ("", "utf-8"):
        return None
    return wcf_content_type_refusal(content_type, SOAP_BINDING_CONTENT_TYPE)


def rest_answer(token: str | None, error: str | None, status: int) -> JSONResponse:
    return JSONResponse(
        {"IsSuccessful": token is not None, "Token": token, "ErrorMessage": error},
        status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def _rest_request(request: Request) -> ExchangeRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ExchangeRefused(INVALID_REQUEST, "Content-Type must be application/json", 400)
    try:
        body = await read_body(request, MAX_REQUEST_BYTES)
    except BadRequestError as exc:
        raise ExchangeRefused(INVALID_REQUEST, exc.detail, exc.status) from exc
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # also a 5,000-digit number (a ValueError)
        raise ExchangeRefused(INVALID_REQUEST, "the body is not valid JSON", 400) from exc
    if not isinstance(data, dict):
        raise ExchangeRefused(INVALID_REQUEST, "the body must be a JSON object", 400)
    fields = ("SignedSystemToken", "ApplicationToken", "ContextIdentifier", "ReturnTokenType")
    values = []
    for name in fields:
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise ExchangeRefused(INVALID_REQUEST, f"{name} must be a non-empty string", 400)
        values.append(value)
    return ExchangeRequest(*values)


# The request body's members, in the schema's xs:sequence order (protocol §4.5).
_REQUEST_MEMBERS = ("SignedSystemToken", "ReturnTokenType")


def _parameter_error(name: str, inner: str) -> SoapFault:
    return deserialization_failed(
        f"There was an error while trying to deserialize parameter {SOAP_NS}:{name}. "
        f"The InnerException message was '{inner}'.  Please see InnerException for more details."
    )


def _nillable_text(element: Element | None, name: str) -> str | None:
    """A nillable xs:string: None when absent or xsi:nil; text only."""
    if element is None or element.attrs.get(_XSI_NIL) in ("true", "1"):
        return None
    if element.children:
        raise _parameter_error(name, f"Element '{name}' must hold text only.")
    return element.text


def _request_members(body: Element) -> dict[str, Element]:
    """The body's members as the schema allows them: known, once each, in sequence order."""
    if body.ns != SOAP_NS or body.name != "AuthenticationRequest":
        raise deserialization_failed(
            "Error in deserializing body of request message for operation 'Authenticate'. "
            "OperationFormatter encountered an invalid Message body. Expected to find node type "
            f"'Element' with name 'AuthenticationRequest' and namespace '{SOAP_NS}'. Found node "
            f"type 'Element' with name '{body.name}' and namespace '{body.ns}'"
        )
    members: dict[str, Element] = {}
    position = 0
    for child in body.children:
        known = child.ns == SOAP_NS and child.name in _REQUEST_MEMBERS[position:]
        if not known:
            # Unknown, repeated or out of order: the schema's sequence does not hold it. [I]
            raise _parameter_error(
                "AuthenticationRequest",
                f"Element '{child.name}' from namespace '{child.ns}' is not expected here.",
            )
        position = _REQUEST_MEMBERS.index(child.name) + 1
        members[child.name] = child
    return members


def _soap_request(env: Envelope) -> ExchangeRequest:
    members = _request_members(env.body)
    signed = _nillable_text(members.get("SignedSystemToken"), "SignedSystemToken")
    kind = members.get("ReturnTokenType")
    token_type = DEFAULT_SOAP_TOKEN_TYPE
    if kind is not None:
        # Not nillable, an enumeration: exactly Jwt or Saml (the REST body's "JWT" is not one).
        if (
            kind.children
            or kind.attrs.get(_XSI_NIL) in ("true", "1")
            or (kind.text not in TOKEN_TYPES)
        ):
            shown = "" if kind.children else kind.text[:100]
            raise _parameter_error(
                "ReturnTokenType",
                f"Invalid enum value '{shown}' cannot be deserialized into type 'TokenType'. "
                "Ensure that the necessary enum values are present and are marked with "
                "EnumMemberAttribute attribute if the type has DataContractAttribute attribute.",
            )
        token_type = kind.text
    values = {
        "ApplicationToken": _header_text(env, "ApplicationToken"),
        "ContextIdentifier": _header_text(env, "ContextIdentifier"),
        "SignedSystemToken": signed,
    }
    for name, value in values.items():
        if not (value or "").strip():
            # Schema-valid but empty: the service answers, refusing (no fault). [I]
            raise ExchangeRefused(INVALID_REQUEST, f"{name} is required", 400)
    return ExchangeRequest(
        # Surrounding whitespace is XML formatting, never part of the token (§4.1).
        signed_system_token=(values["SignedSystemToken"] or "").strip(),
        application_token=(values["ApplicationToken"] or "").strip(),
        context_identifier=(values["ContextIdentifier"] or "").strip(),
        return_token_type=token_type,
    )


def _header_text(env: Envelope, name: str) -> str | None:
    element = env.header(SOAP_NS, name)
    if element is None or element.attrs.get(_XSI_NIL) in ("true", "1"):
        return None
    if element.children:
        raise SoapFault(f"header {name} must hold text only")
    return element.text
