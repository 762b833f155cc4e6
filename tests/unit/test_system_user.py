"""The system user exchange: signing, REST and SOAP wire shapes, typed refusals, JWT rules."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from toolkit.auth.system_user import (
    SOAP_ACTION,
    SOAP_NAMESPACE,
    SystemUserTicket,
    build_soap_request,
    exchange_system_user_token,
    parse_rest_response,
    parse_soap_response,
    system_user_error,
)
from toolkit.auth.tokens import validate_system_user_token
from toolkit.claims import CONTEXT_IDENTIFIER, SERIAL, TICKET, SystemUserClaims
from toolkit.config import Environment
from toolkit.errors import (
    AlgorithmNotAllowedError,
    ApplicationTokenDeniedError,
    AudienceMismatchError,
    AuthorizationRevokedError,
    ContextMismatchError,
    InvalidSignatureError,
    InvalidSystemUserSignatureError,
    InvalidSystemUserTimestampError,
    IssuerMismatchError,
    MalformedTokenError,
    MissingClaimError,
    NeedsReapprovalError,
    SystemUserError,
    TokenExpiredError,
    TokenNotYetValidError,
    TransportError,
    UnexpectedResponseError,
)
from toolkit.http import create_client

PREFIX = "http://schemes.superoffice.net/identity/"
CTX = "Cust12345"
SERIAL_VALUE = "12345678"
TICKET_VALUE = "7T:ZgBvAG8AYgBhAHIA"
APP_TOKEN = "0123456789abcdef0123456789abcdef"
SYSTEM_USER_TOKEN = "Toolkit Test App-8k8Q7DmBgo"
ENV = Environment("sod", "https://sod.superoffice.com")
NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
SIGNED_SHAPE = re.compile(r"^.+\.\d{12}\.[A-Za-z0-9+/]+={0,2}$")


@pytest.fixture(scope="module")
def idp_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def app_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class StaticKeys:
    """A fake JWKS: one RSA public key under kid ``k1``."""

    def __init__(self, key: RSAPrivateKey) -> None:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": "k1", "use": "sig"})
        self.jwk = jwk

    def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        return jwt.PyJWK(dict(self.jwk), algorithm=alg)


@pytest.fixture(scope="module")
def keys(idp_key: RSAPrivateKey) -> StaticKeys:
    return StaticKeys(idp_key)


def payload(**overrides: Any) -> dict[str, Any]:
    iat = int(NOW.timestamp())
    value: dict[str, Any] = {
        "iss": "SuperOffice AS",
        "aud": f"spn:{SERIAL_VALUE}",
        "iat": iat,
        "nbf": iat,
        "exp": iat + 300,
        TICKET: TICKET_VALUE,
        CONTEXT_IDENTIFIER: CTX,
        SERIAL: SERIAL_VALUE,
        PREFIX + "netserver_url": f"https://sod.superoffice.com/{CTX}/Remote/Services88/",
        PREFIX + "webapi_url": f"https://sod.superoffice.com/{CTX}/api/",
    }
    for name, item in overrides.items():
        claim = {"ticket": TICKET, "ctx": CONTEXT_IDENTIFIER, "serial": SERIAL}.get(name, name)
        if item is None:
            value.pop(claim, None)
        else:
            value[claim] = item
    return value


def sign_jwt(key: RSAPrivateKey, **overrides: Any) -> str:
    return jwt.encode(payload(**overrides), key, algorithm="RS256", headers={"kid": "k1"})


def validate(token: str, keys: StaticKeys, ctx: str = CTX) -> SystemUserClaims:
    return validate_system_user_token(token, keys=keys, context_identifier=ctx, now=lambda: NOW)


# -- the JWT rules ----------------------------------------------------------------------------


def test_a_valid_system_user_jwt(idp_key: RSAPrivateKey, keys: StaticKeys) -> None:
    claims = validate(sign_jwt(idp_key), keys)
    assert claims.ticket == TICKET_VALUE
    assert claims.serial == SERIAL_VALUE
    assert claims.context_identifier == CTX
    assert claims.webapi_url == f"https://sod.superoffice.com/{CTX}/api/"
    assert TICKET_VALUE not in repr(claims)
    assert claims.public_claims()[TICKET] == "<redacted>"


def test_ctx_is_compared_case_insensitively(idp_key: RSAPrivateKey, keys: StaticKeys) -> None:
    assert validate(sign_jwt(idp_key, ctx="cust12345"), keys).context_identifier == "cust12345"


@pytest.mark.parametrize(
    ("overrides", "error", "claim"),
    [
        ({"iss": "https://sod.superoffice.com"}, IssuerMismatchError, "iss"),
        ({"iss": "superoffice as"}, IssuerMismatchError, "iss"),
        ({"aud": "spn:99999999"}, AudienceMismatchError, "aud"),
        ({"aud": SERIAL_VALUE}, AudienceMismatchError, "aud"),
        ({"serial": None}, MissingClaimError, SERIAL),
        ({"serial": 12345678}, MalformedTokenError, SERIAL),
        ({"ctx": "Cust99999"}, ContextMismatchError, CONTEXT_IDENTIFIER),
        ({"ctx": None}, MissingClaimError, CONTEXT_IDENTIFIER),
        ({"ticket": None}, MissingClaimError, TICKET),
        ({"ticket": "8A:access-token"}, MalformedTokenError, TICKET),
        ({"ticket": "7T:"}, MalformedTokenError, TICKET),
        ({"exp": None}, MissingClaimError, "exp"),
        ({"exp": int(NOW.timestamp()) - 600}, TokenExpiredError, "exp"),
        # iat and nbf are checked when present: beyond the 60 s leeway they are refused.
        ({"iat": int(NOW.timestamp()) + 61}, TokenNotYetValidError, "iat"),
        ({"nbf": int(NOW.timestamp()) + 61}, TokenNotYetValidError, "nbf"),
        ({"iss": None}, MissingClaimError, "iss"),
        ({"aud": None}, MissingClaimError, "aud"),
        ({"aud": ["spn:12345678", "spn:99999999"]}, AudienceMismatchError, "azp"),
    ],
)
def test_jwt_rule_violations_are_typed(
    idp_key: RSAPrivateKey,
    keys: StaticKeys,
    overrides: dict[str, Any],
    error: type[Exception],
    claim: str,
) -> None:
    with pytest.raises(error) as caught:
        validate(sign_jwt(idp_key, **overrides), keys)
    assert getattr(caught.value, "claim", None) == claim
    assert TICKET_VALUE not in str(caught.value)


def test_the_documented_rules_are_literal(idp_key: RSAPrivateKey, keys: StaticKeys) -> None:
    # SD:validate's table: issuer "SuperOffice AS", audience "spn:" + the serial claim.
    claims = validate(sign_jwt(idp_key, iss="SuperOffice AS", aud="spn:12345678"), keys)
    assert claims.serial == "12345678"
    with pytest.raises(AudienceMismatchError):
        validate(sign_jwt(idp_key, aud="12345678"), keys)
    with pytest.raises(AudienceMismatchError):
        validate(sign_jwt(idp_key, aud="spn:Cust12345"), keys)  # the ctx is not the serial


@pytest.mark.parametrize(
    "absent",
    [("iat",), ("nbf",), ("iat", "nbf")],
)
def test_iat_and_nbf_are_optional(
    idp_key: RSAPrivateKey, keys: StaticKeys, absent: tuple[str, ...]
) -> None:
    # SuperOffice documents signature, issuer, audience and exp for this token (§4.6); iat and
    # nbf are checked only when the token has them.
    token = sign_jwt(idp_key, **dict.fromkeys(absent))
    assert not set(absent) & set(jwt.decode(token, options={"verify_signature": False}))
    assert validate(token, keys).ticket == TICKET_VALUE


def test_iat_and_nbf_within_the_leeway_are_accepted(
    idp_key: RSAPrivateKey, keys: StaticKeys
) -> None:
    soon = int(NOW.timestamp()) + 59
    assert validate(sign_jwt(idp_key, iat=soon, nbf=soon), keys).serial == SERIAL_VALUE


def test_an_expired_token_is_refused_however_recent_its_iat(
    idp_key: RSAPrivateKey, keys: StaticKeys
) -> None:
    now = int(NOW.timestamp())
    with pytest.raises(TokenExpiredError):
        validate(sign_jwt(idp_key, iat=now, nbf=now, exp=now - 61), keys)


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token.rsplit(".", 1)[0] + ".",  # no signature at all
        lambda token: token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        lambda token: jwt.encode(
            jwt.decode(token, options={"verify_signature": False}), key=None, algorithm="none"
        ),
    ],
)
def test_a_signature_is_required(
    idp_key: RSAPrivateKey, keys: StaticKeys, forge: Callable[[str], str]
) -> None:
    with pytest.raises((InvalidSignatureError, AlgorithmNotAllowedError)):
        validate(forge(sign_jwt(idp_key)), keys)


def test_a_jwt_signed_by_another_key_is_refused(other_key: RSAPrivateKey, keys: StaticKeys) -> None:
    with pytest.raises(InvalidSignatureError):
        validate(sign_jwt(other_key), keys)


# -- a MockTransport SuperOffice --------------------------------------------------------------


class FakePartnerSystemUser:
    """Answers exchanges with scripted replies, recording each request."""

    def __init__(self, idp_key: RSAPrivateKey, app_key: RSAPrivateKey) -> None:
        self.idp_key = idp_key
        self.app_public = app_key.public_key()
        self.requests: list[httpx.Request] = []
        self.replies: list[Callable[[httpx.Request], httpx.Response]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else self.success()
        return reply(request)

    def success(self, **overrides: Any) -> Callable[[httpx.Request], httpx.Response]:
        token = sign_jwt(self.idp_key, **overrides)
        return lambda request: answer(request, True, token, None)

    def refuse(self, message: str, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
        return lambda request: answer(request, False, None, message, status)


NIL = '<{0} xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/>'


def envelope_of(members: str, namespace: str = SOAP_NAMESPACE) -> bytes:
    """A SOAP 1.1 answer whose AuthenticationResponse holds `members` (default namespace)."""
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<AuthenticationResponse xmlns="{namespace}">{members}</AuthenticationResponse>'
        "</s:Body></s:Envelope>"
    ).encode()


def answer(
    request: httpx.Request, ok: bool, token: str | None, message: str | None, status: int = 200
) -> httpx.Response:
    if request.url.path.endswith(".svc"):
        body = (
            f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<AuthenticationResponse xmlns="{SOAP_NAMESPACE}">'
            f"<IsSuccessful>{'true' if ok else 'false'}</IsSuccessful>"
            + (f"<Token>{token}</Token>" if token else NIL.format("Token"))
            + (f"<ErrorMessage>{message}</ErrorMessage>" if message else NIL.format("ErrorMessage"))
            + "</AuthenticationResponse></s:Body></s:Envelope>"
        )
        return httpx.Response(status, text=body, headers={"Content-Type": "text/xml"})
    return httpx.Response(
        status, json={"IsSuccessful": ok, "Token": token, "ErrorMessage": message}
    )


def signed_token_of(request: httpx.Request) -> str:
    if request.url.path.endswith(".svc"):
        root = ET.fromstring(request.content)  # noqa: S314 - our own request
        found = root.find(f".//{{{SOAP_NAMESPACE}}}SignedSystemToken")
        assert found is not None
        assert found.text is not None
        return found.text
    return str(json.loads(request.content)["SignedSystemToken"])


@pytest.fixture
def fake(idp_key: RSAPrivateKey, app_key: RSAPrivateKey) -> FakePartnerSystemUser:
    return FakePartnerSystemUser(idp_key, app_key)


class Clock:
    def __init__(self, start: datetime = NOW, step: timedelta = timedelta(0)) -> None:
        self.current = start
        self.step = step

    def __call__(self) -> datetime:
        value = self.current
        self.current += self.step
        return value


def run_exchange(
    fake: FakePartnerSystemUser | Callable[[httpx.Request], httpx.Response],
    keys: StaticKeys,
    app_key: RSAPrivateKey,
    *,
    transport: str = "rest",
    now: Callable[[], datetime] = lambda: NOW,
    system_user_token: str = SYSTEM_USER_TOKEN,
    sleeps: list[float] | None = None,
) -> SystemUserTicket:
    with create_client(transport=httpx.MockTransport(fake)) as http:
        return exchange_system_user_token(
            http=http,
            environment=ENV,
            keys=keys,
            application_token=APP_TOKEN,
            context_identifier=CTX,
            system_user_token=system_user_token,
            private_key=app_key,
            transport=transport,  # type: ignore[arg-type]
            now=now,
            sleep=(sleeps.append if sleeps is not None else lambda _s: None),
        )


# -- the signed token ---------------------------------------------------------------------------


def test_the_signed_token_has_the_documented_shape_and_verifies_with_cryptography(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey
) -> None:
    run_exchange(fake, keys, app_key)
    signed = signed_token_of(fake.requests[0])
    assert SIGNED_SHAPE.fullmatch(signed)
    token, timestamp, signature = signed.rsplit(".", 2)
    assert token == SYSTEM_USER_TOKEN
    assert timestamp == "202503011200"  # UTC yyyyMMddHHmm, 24-hour
    app_key.public_key().verify(
        base64.b64decode(signature, validate=True),
        f"{token}.{timestamp}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


# -- REST -----------------------------------------------------------------------------------------


def test_rest_exchange_sends_the_documented_request(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey
) -> None:
    ticket = run_exchange(fake, keys, app_key)
    request = fake.requests[0]
    assert request.method == "POST"
    assert (
        str(request.url) == "https://sod.superoffice.com/Login/api/PartnerSystemUser/Authenticate"
    )
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    assert set(body) == {
        "SignedSystemToken",
        "ApplicationToken",
        "ContextIdentifier",
        "ReturnTokenType",
    }
    assert body["ApplicationToken"] == APP_TOKEN
    assert body["ContextIdentifier"] == CTX
    assert body["ReturnTokenType"] == "JWT"
    assert ticket.ticket == TICKET_VALUE
    assert (ticket.context_identifier, ticket.serial) == (CTX, SERIAL_VALUE)
    assert ticket.webapi_url == f"https://sod.superoffice.com/{CTX}/api/"
    assert ticket.netserver_url is not None
    assert ticket.obtained_at == NOW
    assert ticket.valid_until == NOW + timedelta(hours=6)
    assert ticket.authorization_header() == f"SOTicket {TICKET_VALUE}"
    assert TICKET_VALUE not in repr(ticket)
    assert TICKET_VALUE not in str(ticket)


CASES = [
    ("Revoked: the application authorization was revoked", AuthorizationRevokedError, "Revoked"),
    ("Expired", AuthorizationRevokedError, "Expired"),
    ("Denied: wrong application token", ApplicationTokenDeniedError, "Denied"),
    ("NeedsReapproval: approve again", NeedsReapprovalError, "NeedsReapproval"),
    ("InvalidSignature: does not verify", InvalidSystemUserSignatureError, "InvalidSignature"),
    ("InvalidRequest: ContextIdentifier missing", SystemUserError, "InvalidRequest"),
    ("Something odd happened", SystemUserError, None),
    ("The authorization was Revoked (1)", AuthorizationRevokedError, "Revoked"),
]


@pytest.mark.parametrize("status", [200, 400, 401, 403])
@pytest.mark.parametrize(("message", "error", "code"), CASES)
def test_rest_refusals_are_typed_and_not_retried(  # noqa: PLR0917
    fake: FakePartnerSystemUser,
    keys: StaticKeys,
    app_key: RSAPrivateKey,
    status: int,
    message: str,
    error: type[SystemUserError],
    code: str | None,
) -> None:
    fake.replies = [fake.refuse(message, status)] * 3
    with pytest.raises(error) as caught:
        run_exchange(fake, keys, app_key)
    assert type(caught.value) is error
    assert caught.value.error_code == code
    assert caught.value.status_code == status
    assert len(fake.requests) == 1  # never retried


@pytest.mark.parametrize("transport", ["rest", "soap"])
def test_a_stale_timestamp_is_retried_once_re_signed(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey, transport: str
) -> None:
    fake.replies = [fake.refuse("InvalidTimestamp: too old")] * 5
    clock = Clock(step=timedelta(minutes=1))
    with pytest.raises(InvalidSystemUserTimestampError) as caught:
        run_exchange(fake, keys, app_key, transport=transport, now=clock)
    assert caught.value.error_code == "InvalidTimestamp"
    assert len(fake.requests) == 2  # one attempt + one re-signed retry, no more
    first, second = (signed_token_of(r) for r in fake.requests)
    assert first.rsplit(".", 2)[1] != second.rsplit(".", 2)[1]  # signed again, new time


def test_a_stale_timestamp_then_success(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey
) -> None:
    fake.replies = [fake.refuse("InvalidTimestamp"), fake.success()]
    assert run_exchange(fake, keys, app_key).ticket == TICKET_VALUE
    assert len(fake.requests) == 2


def test_a_connect_error_is_retried_once(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey
) -> None:
    def refuse_connection(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake.replies = [refuse_connection, fake.success()]
    sleeps: list[float] = []
    assert run_exchange(fake, keys, app_key, sleeps=sleeps).ticket == TICKET_VALUE
    assert len(fake.requests) == 2
    assert len(sleeps) == 1

    fake.requests.clear()
    fake.replies = [refuse_connection] * 5
    with pytest.raises(TransportError):
        run_exchange(fake, keys, app_key)
    assert len(fake.requests) == 2


def test_a_read_timeout_is_not_retried(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey
) -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("stalled", request=request)

    fake.replies = [stall] * 3
    with pytest.raises(TransportError):
        run_exchange(fake, keys, app_key)
    assert len(fake.requests) == 1  # it may have created a credentials record already


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500, text="oops"), TransportError),
        (httpx.Response(503, json={"IsSuccessful": False}), TransportError),
        (httpx.Response(200, text="<html>login</html>"), UnexpectedResponseError),
        (httpx.Response(200, json=["not", "an", "object"]), UnexpectedResponseError),
        (httpx.Response(200, json={"IsSuccessful": "yes"}), UnexpectedResponseError),
        (httpx.Response(200, json={"IsSuccessful": True, "Token": None}), SystemUserError),
        (httpx.Response(404, text="not found"), TransportError),
    ],
)
def test_unusable_rest_answers(
    keys: StaticKeys, app_key: RSAPrivateKey, response: httpx.Response, error: type[Exception]
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return response

    with pytest.raises(error):
        run_exchange(handler, keys, app_key)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"iss": "https://sod.superoffice.com"}, IssuerMismatchError),
        ({"aud": "spn:1"}, AudienceMismatchError),
        ({"ctx": "Cust99999"}, ContextMismatchError),
        ({"ticket": None}, MissingClaimError),
    ],
)
def test_an_invalid_jwt_in_a_successful_answer_is_refused(
    fake: FakePartnerSystemUser,
    keys: StaticKeys,
    app_key: RSAPrivateKey,
    overrides: dict[str, Any],
    error: type[Exception],
) -> None:
    fake.replies = [fake.success(**overrides)] * 3
    with pytest.raises(error):
        run_exchange(fake, keys, app_key)
    assert len(fake.requests) == 1


def test_a_jwt_with_a_foreign_signature_is_refused(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey, other_key: RSAPrivateKey
) -> None:
    token = sign_jwt(other_key)
    fake.replies = [lambda request: answer(request, True, token, None)]
    with pytest.raises(InvalidSignatureError):
        run_exchange(fake, keys, app_key)


def test_error_messages_are_redacted() -> None:
    error = system_user_error(f"Denied: ApplicationToken {APP_TOKEN} is wrong", status_code=401)
    assert isinstance(error, ApplicationTokenDeniedError)
    assert APP_TOKEN not in str(error)
    assert error.error_message is not None
    assert APP_TOKEN not in error.error_message


# -- SOAP ---------------------------------------------------------------------------------------


def test_soap_exchange_sends_the_documented_envelope(
    fake: FakePartnerSystemUser, keys: StaticKeys, app_key: RSAPrivateKey
) -> None:
    odd_token = 'Tom & Jerry <"Apps">-8k8Q7DmBgo'
    ticket = run_exchange(fake, keys, app_key, transport="soap", system_user_token=odd_token)
    assert ticket.ticket == TICKET_VALUE
    request = fake.requests[0]
    assert (
        str(request.url)
        == "https://sod.superoffice.com/login/services/PartnerSystemUserService.svc"
    )
    assert request.headers["Content-Type"] == "text/xml;charset=UTF-8"
    assert request.headers["SOAPAction"] == f'"{SOAP_ACTION}"'  # quoted, SOAP 1.1 §6.1.1
    assert SOAP_ACTION == (
        "http://www.superoffice.com/superid/partnersystemuser/0.1/"
        "IPartnerSystemUserService/Authenticate"
    )
    root = ET.fromstring(request.content)  # noqa: S314 - our own request
    soap = "{http://schemas.xmlsoap.org/soap/envelope/}"
    ns = f"{{{SOAP_NAMESPACE}}}"
    assert root.tag == f"{soap}Envelope"
    header = root.find(f"{soap}Header")
    assert header is not None
    assert header.findtext(f"{ns}ApplicationToken") == APP_TOKEN
    assert header.findtext(f"{ns}ContextIdentifier") == CTX
    body_request = root.find(f"{soap}Body/{ns}AuthenticationRequest")
    assert body_request is not None
    # The schema's sequence: SignedSystemToken, then ReturnTokenType, exactly "Jwt".
    assert [child.tag for child in body_request] == [
        f"{ns}SignedSystemToken",
        f"{ns}ReturnTokenType",
    ]
    assert [child.tag for child in header] == [f"{ns}ApplicationToken", f"{ns}ContextIdentifier"]
    assert body_request.findtext(f"{ns}ReturnTokenType") == "Jwt"
    signed = body_request.findtext(f"{ns}SignedSystemToken")
    assert signed is not None
    assert signed.startswith(odd_token + ".")  # escaped on the wire, intact after parsing
    token, timestamp, signature = signed.rsplit(".", 2)
    app_key.public_key().verify(
        base64.b64decode(signature),
        f"{token}.{timestamp}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_soap_request_escapes_every_value() -> None:
    request = build_soap_request(
        ENV,
        signed_system_token="a<b>&c",
        application_token="</psu:ApplicationToken><x>",
        context_identifier="Cust&1",
    )
    text = request.content.decode()
    assert "<x>" not in text
    assert "a&lt;b&gt;&amp;c" in text
    assert APP_TOKEN not in repr(request)


@pytest.mark.parametrize(("message", "error"), [(m, e) for m, e, _c in CASES[:5]])
def test_soap_refusals_are_typed(
    fake: FakePartnerSystemUser,
    keys: StaticKeys,
    app_key: RSAPrivateKey,
    message: str,
    error: type[SystemUserError],
) -> None:
    fake.replies = [fake.refuse(message)] * 3
    with pytest.raises(error):
        run_exchange(fake, keys, app_key, transport="soap")
    assert len(fake.requests) == 1


def test_a_soap_fault_is_a_system_user_error() -> None:
    fault = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>s:Client</faultcode><faultstring>InvalidRequest: no header</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    )
    result = parse_soap_response(500, fault)
    assert result.fault
    assert not result.is_successful
    error = system_user_error(result.error_message, status_code=500, fault=True)
    assert error.error_code == "InvalidRequest"
    assert "SOAP fault" in str(error)


def test_wcfs_deserialization_fault_is_a_system_user_error() -> None:
    fault = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        '<faultcode xmlns:a="http://schemas.microsoft.com/net/2005/12/'
        'windowscommunicationfoundation/dispatcher">a:DeserializationFailed</faultcode>'
        '<faultstring xml:lang="en-US">The formatter threw an exception while trying to'
        " deserialize the message: There was an error while trying to deserialize parameter"
        f" {SOAP_NAMESPACE}:ReturnTokenType.</faultstring></s:Fault></s:Body></s:Envelope>"
    ).encode()
    result = parse_soap_response(500, fault)
    assert result.fault
    error = system_user_error(result.error_message, status_code=500, fault=True)
    assert type(error) is SystemUserError
    assert "ReturnTokenType" in str(error)


def test_the_answer_is_read_as_its_schema_says() -> None:
    answer = parse_soap_response(
        200,
        envelope_of(
            "<IsSuccessful>false</IsSuccessful>"
            + NIL.format("Token")
            + "<ErrorMessage>Denied: unknown application token</ErrorMessage>"
        ),
    )
    assert not answer.is_successful
    assert answer.token is None
    assert answer.error_message == "Denied: unknown application token"
    only_flag = parse_soap_response(200, envelope_of("<IsSuccessful>1</IsSuccessful>"))
    assert only_flag.is_successful
    assert only_flag.token is None


def test_wcfs_415_for_a_wrong_content_type_is_a_transport_error() -> None:
    text = (
        b"Cannot process the message because the content type 'application/soap+xml;"
        b" charset=utf-8' was not the expected type 'text/xml; charset=utf-8'."
    )
    with pytest.raises(TransportError) as caught:
        parse_soap_response(415, text)
    assert caught.value.status_code == 415


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b"<not-closed>",
        b"<html><body>hello</body></html>",
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b"<AuthenticationResponse><IsSuccessful>maybe</IsSuccessful></AuthenticationResponse>"
        b"</s:Body></s:Envelope>",
        # The schema's order is IsSuccessful, Token, ErrorMessage; a strict reader refuses others.
        envelope_of(
            NIL.format("ErrorMessage") + "<IsSuccessful>true</IsSuccessful><Token>t</Token>"
        ),
        envelope_of("<Token>t</Token><IsSuccessful>true</IsSuccessful>"),
        envelope_of("<IsSuccessful>true</IsSuccessful><IsSuccessful>true</IsSuccessful>"),
        envelope_of("<IsSuccessful>true</IsSuccessful><Ticket>7T:x</Ticket>"),
        envelope_of(NIL.format("Token")),  # no IsSuccessful
        envelope_of('<IsSuccessful xmlns="urn:other">true</IsSuccessful>'),
        envelope_of("<IsSuccessful>true</IsSuccessful>", namespace="urn:other"),
        envelope_of("<IsSuccessful>true</IsSuccessful><Token><b>t</b></Token>"),
        # A SOAP 1.2 envelope is not an answer of this basicHttpBinding service.
        envelope_of("<IsSuccessful>true</IsSuccessful>").replace(
            b"http://schemas.xmlsoap.org/soap/envelope/", b"http://www.w3.org/2003/05/soap-envelope"
        ),
    ],
)
def test_unusable_soap_answers(body: bytes) -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_soap_response(200, body)


def test_rest_parser_checks_status_before_body() -> None:
    with pytest.raises(TransportError) as caught:
        parse_rest_response(502, b'{"IsSuccessful": true, "Token": "x"}')
    assert caught.value.status_code == 502
    refused = parse_rest_response(400, b'{"IsSuccessful": true, "Token": "x"}')
    assert not refused.is_successful  # a 4xx is never a success, whatever the body says
