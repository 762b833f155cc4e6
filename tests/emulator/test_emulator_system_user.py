"""PartnerSystemUser: the system user token exchange over REST and SOAP (protocol §4)."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET  # parses the emulator's own answers only
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

CONTROL = "/__emulator__"
SOAP_PATH = "/login/services/PartnerSystemUserService.svc"
PSU_NS = "http://www.superoffice.com/superid/partnersystemuser/0.1"
SOAP_ACTION = PSU_NS + "/IPartnerSystemUserService/Authenticate"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
AUTHENTICATE = "/Login/api/PartnerSystemUser/Authenticate"
CLAIM = "http://schemes.superoffice.net/identity/"
SystemUser = Any  # the `system_user` fixture of conftest.py


def verify_system_jwt(http: httpx.Client, token: str, serial: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(http.get("/login/.well-known/jwks").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(  # type: ignore[no-any-return]
        token, key.key, algorithms=["RS256"], audience=f"spn:{serial}", issuer="SuperOffice AS"
    )


def decode_ticket(ticket: str) -> list[str]:
    assert ticket.startswith("7T:")
    return base64.b64decode(ticket[3:], validate=True).decode("utf-16-le").split(";")


def other_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_exchange_returns_a_signed_jwt_with_the_ticket(
    emu: Emulator, system_user: SystemUser
) -> None:
    assert re.fullmatch(r"Acme Sync-[A-Za-z0-9]{10}", system_user.system_token)
    response = system_user.authenticate()
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"IsSuccessful", "Token", "ErrorMessage"}
    assert answer["IsSuccessful"] is True
    assert answer["ErrorMessage"] is None
    claims = verify_system_jwt(system_user.http, answer["Token"], "1801550193")
    assert claims["iss"] == "SuperOffice AS"
    assert claims["aud"] == "spn:1801550193"
    assert claims["sub"] == "Acme Sync"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] <= claims["iat"]
    prefix = "http://schemes.superoffice.net/identity/"
    assert claims[prefix + "ctx"] == "Cust12345"
    assert claims[prefix + "serial"] == "1801550193"
    assert (
        claims[prefix + "netserver_url"] == f"{emu.host_urls['sod2']}/Cust12345/Remote/Services88/"
    )
    assert claims[prefix + "webapi_url"] == f"{emu.host_urls['sod2']}/Cust12345/api/"
    hex_id, number, ctx = decode_ticket(claims[prefix + "ticket"])
    assert re.fullmatch(r"[0-9a-f]{32}", hex_id)
    assert number.isdigit()
    assert ctx == "Cust12345"
    assert jwt.get_unverified_header(answer["Token"])["alg"] == "RS256"


@pytest.mark.parametrize("token_type", ["Jwt", "jwt", "JWT"])
def test_return_token_type_is_case_insensitive(system_user: SystemUser, token_type: str) -> None:
    assert system_user.jwt(ReturnTokenType=token_type)


def test_path_is_case_insensitive(system_user: SystemUser) -> None:
    response = system_user.http.post(
        "/login/api/partnersystemuser/authenticate", json=system_user.body()
    )
    assert response.json()["IsSuccessful"] is True


def test_system_user_token_with_dots_and_spaces(emu: Emulator, system_user: SystemUser) -> None:
    awkward = "Acme Sync v2.0 beta-Ab.12 x9"
    with emu.world.lock:
        emu.world.authorizations[(system_user.app["client_id"], "cust12345")].system_token = awkward
    signed = system_user.signed(token=awkward)
    assert system_user.jwt(SignedSystemToken=signed)


def _refused(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["IsSuccessful"] is False
    assert answer["Token"] is None
    return str(answer["ErrorMessage"])


@pytest.mark.parametrize(
    ("minutes", "accepted"),
    [(-11, False), (-4, True), (0, True), (4, True), (11, False)],
)
def test_timestamp_tolerance(system_user: SystemUser, minutes: int, accepted: bool) -> None:
    when = system_user.now() + timedelta(minutes=minutes)
    response = system_user.authenticate(SignedSystemToken=system_user.signed(when=when))
    if accepted:
        assert response.json()["IsSuccessful"] is True
    else:
        assert _refused(response).startswith("InvalidTimestamp")


def test_stale_and_future_timestamps_are_named(system_user: SystemUser) -> None:
    now = system_user.now()
    stale = system_user.signed(when=now - timedelta(hours=1))
    future = system_user.signed(when=now + timedelta(hours=1))
    assert _refused(system_user.authenticate(SignedSystemToken=stale)).startswith(
        "InvalidTimestamp:"
    )
    assert _refused(system_user.authenticate(SignedSystemToken=future)).startswith(
        "InvalidTimestamp:"
    )


def test_wrong_key_and_tampered_signature(system_user: SystemUser) -> None:
    wrong_key = system_user.signed(private_key_pem=other_private_key_pem())
    assert _refused(system_user.authenticate(SignedSystemToken=wrong_key)).startswith(
        "InvalidSignature:"
    )
    token, stamp, signature = system_user.signed().rsplit(".", 2)
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 0x01
    tampered = f"{token}.{stamp}.{base64.b64encode(bytes(raw)).decode()}"
    assert _refused(system_user.authenticate(SignedSystemToken=tampered)).startswith(
        "InvalidSignature:"
    )
    # The timestamp is part of the signed data: a re-stamped token no longer verifies.
    later = (system_user.now() + timedelta(minutes=1)).strftime("%Y%m%d%H%M")
    restamped = f"{token}.{later}.{signature}"
    assert _refused(system_user.authenticate(SignedSystemToken=restamped)).startswith(
        "InvalidSignature:"
    )
    for garbage in ("no-dots-at-all", "a.b", f"{token}.{stamp}.not*base64"):
        assert _refused(system_user.authenticate(SignedSystemToken=garbage)).startswith(
            "InvalidSignature:"
        )


def test_wrong_application_token_is_denied(
    emu: Emulator, system_user: SystemUser, flow: Any
) -> None:
    assert _refused(system_user.authenticate(ApplicationToken="0" * 32)).startswith("Denied:")
    other = emu.register_app(name="Other App", redirect_urls=["http://127.0.0.1:8000/callback"])
    flow.sign_in_and_exchange(other)
    # Another installed app's secret with this app's signed token: a different system token.
    message = _refused(system_user.authenticate(ApplicationToken=other["client_secret"]))
    assert message.startswith("Denied:")


def test_wrong_system_user_token_is_denied(system_user: SystemUser) -> None:
    signed = system_user.signed(token="Acme Sync-XXXXXXXXXX")
    assert _refused(system_user.authenticate(SignedSystemToken=signed)).startswith("Denied:")


def test_unknown_tenant_and_tenant_without_authorization(system_user: SystemUser) -> None:
    assert _refused(system_user.authenticate(ContextIdentifier="Cust99999")).startswith("Denied:")
    assert _refused(system_user.authenticate(ContextIdentifier="Cust23456")).startswith("Denied:")


def test_app_without_system_token_claim_is_denied(
    emu: Emulator, flow: Any, system_user: SystemUser
) -> None:
    plain = emu.register_app(
        name="No Claim", redirect_urls=["http://127.0.0.1:8000/callback"], grant_system_token=False
    )
    _, tokens = flow.sign_in_and_exchange(plain)
    claims = flow.decode_id_token(tokens["id_token"], plain["client_id"])
    assert CLAIM + "system_token" not in claims
    signed = system_user.sign(plain["private_key_pem"], "No Claim-abcdefghij", system_user.now())
    response = flow.http.post(
        AUTHENTICATE,
        json={
            "SignedSystemToken": signed,
            "ApplicationToken": plain["client_secret"],
            "ContextIdentifier": "Cust12345",
            "ReturnTokenType": "JWT",
        },
    )
    assert _refused(response).startswith("Denied:")


def test_revoked_authorization(system_user: SystemUser) -> None:
    client_id = system_user.app["client_id"]
    assert system_user.http.post(f"{CONTROL}/authorizations/{client_id}/Cust12345/revoke")
    assert _refused(system_user.authenticate()).startswith("Revoked:")


def test_needs_reapproval_until_the_admin_approves_again(
    system_user: SystemUser, flow: Any
) -> None:
    client_id = system_user.app["client_id"]
    flagged = system_user.http.post(
        f"{CONTROL}/authorizations/{client_id}/Cust12345/needs-reapproval"
    )
    assert flagged.status_code == 200
    assert flagged.json()["needs_reapproval"] is True
    assert _refused(system_user.authenticate()).startswith("NeedsReapproval:")
    # Users are locked out too: the refresh token stops working until consent is given again.
    refreshed = flow.http.post(
        "/login/common/oauth/tokens",
        data={"grant_type": "refresh_token", "refresh_token": system_user.tokens["refresh_token"]},
        auth=(client_id, system_user.app["client_secret"]),
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error_description"].startswith("NeedsReapproval (5)")
    flow.sign_in_and_exchange(system_user.app)  # the admin sees the consent page and approves
    assert system_user.jwt()


def test_malformed_requests_are_400(system_user: SystemUser) -> None:
    http = system_user.http
    bad = [
        http.post(AUTHENTICATE, content=b"{not json", headers={"Content-Type": "application/json"}),
        http.post(AUTHENTICATE, content=b"[1]", headers={"Content-Type": "application/json"}),
        http.post(AUTHENTICATE, data={"SignedSystemToken": "x"}),
        http.post(AUTHENTICATE, json={**system_user.body(), "ApplicationToken": None}),
        http.post(AUTHENTICATE, json={**system_user.body(), "ReturnTokenType": "Xml"}),
        http.post(AUTHENTICATE, json={**system_user.body(), "ContextIdentifier": "Nope"}),
        http.post(
            AUTHENTICATE,
            content=b"{" + b" " * 100_000 + b"}",
            headers={"Content-Type": "application/json"},
        ),
    ]
    for response in bad:
        assert response.status_code in (400, 413), response.text
        answer = response.json()
        assert answer["IsSuccessful"] is False
        assert answer["Token"] is None
        assert answer["ErrorMessage"].startswith("InvalidRequest")
        assert "Traceback" not in response.text
    wrong_method = http.get(AUTHENTICATE)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["ErrorMessage"].startswith("InvalidRequest")


def test_saml_is_not_supported(system_user: SystemUser) -> None:
    message = _refused(system_user.authenticate(ReturnTokenType="Saml"))
    assert message.startswith("NotSupported:")


def test_each_exchange_writes_a_credentials_record(
    system_user: SystemUser, http: httpx.Client
) -> None:
    client_id = system_user.app["client_id"]
    assert http.get(f"{CONTROL}/credentials").json() == {"credentials": [], "total": 0}
    tickets = {system_user.ticket() for _ in range(3)}
    assert len(tickets) == 3  # a NEW ticket every time
    _refused(system_user.authenticate(ApplicationToken="0" * 32))  # refusals write nothing
    counts = http.get(f"{CONTROL}/credentials").json()
    assert counts == {
        "credentials": [{"client_id": client_id, "ctx": "Cust12345", "count": 3}],
        "total": 3,
    }


# -- SOAP --------------------------------------------------------------------------------------

WCF_DISPATCHER = (
    "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher"
)


def soap_envelope(app_token: str, ctx: str, signed: str, token_type: str | None = "Jwt") -> str:
    # The envelope of SD:get-ticket.
    kind = "" if token_type is None else f"<ns1:ReturnTokenType>{token_type}</ns1:ReturnTokenType>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:ns0="http://schemas.xmlsoap.org/soap/envelope/"
                   xmlns:ns1="{PSU_NS}"
                   xmlns:tns="{PSU_NS}"
                   xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Header>
    <tns:ApplicationToken>{app_token}</tns:ApplicationToken>
    <tns:ContextIdentifier>{ctx}</tns:ContextIdentifier>
  </SOAP-ENV:Header>
  <ns0:Body>
    <ns1:AuthenticationRequest>
      <ns1:SignedSystemToken>{signed}</ns1:SignedSystemToken>
      {kind}
    </ns1:AuthenticationRequest>
  </ns0:Body>
</SOAP-ENV:Envelope>"""


def post_soap(
    http: httpx.Client,
    xml: str | bytes,
    action: str | None = f'"{SOAP_ACTION}"',
    content_type: str = "text/xml;charset=UTF-8",
    path: str = SOAP_PATH,
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if action is not None:
        headers["SOAPAction"] = action
    content = xml.encode() if isinstance(xml, str) else xml
    return http.post(path, content=content, headers=headers)


def soap_answer(response: httpx.Response) -> list[tuple[str, str | None]]:
    """The AuthenticationResponse members in document order: [(name, text or None for nil)]."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own answer)
    assert root.find(f"{{{SOAP11}}}Header") is None  # basicHttpBinding: no WS-Addressing
    answer = root.find(f"{{{SOAP11}}}Body/{{{PSU_NS}}}AuthenticationResponse")
    assert answer is not None, response.text
    members = []
    for child in answer:
        namespace, name = child.tag[1:].split("}")
        assert namespace == PSU_NS
        nil = child.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
        members.append((name, None if nil else child.text))
    return members


def soap_fault(response: httpx.Response, code: str = "s:Client") -> str:
    assert response.status_code == 500, response.text
    root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own answer)
    fault = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None, response.text
    assert fault.findtext("faultcode") == code
    assert "Traceback" not in response.text
    return fault.findtext("faultstring") or ""


def wcf_fault(response: httpx.Response, code: str) -> str:
    """A WCF dispatcher fault: `a:{code}` with `a` bound to WCF's dispatcher namespace."""
    reason = soap_fault(response, f"a:{code}")
    assert f'xmlns:a="{WCF_DISPATCHER}"' in response.text
    assert '<faultstring xml:lang="en-US">' in response.text
    return reason


def test_soap_exchange(system_user: SystemUser) -> None:
    xml = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    response = post_soap(system_user.http, xml)
    assert response.status_code == 200, response.text
    answer = soap_answer(response)
    assert [name for name, _ in answer] == ["IsSuccessful", "Token", "ErrorMessage"]
    assert answer[0] == ("IsSuccessful", "true")
    assert answer[2] == ("ErrorMessage", None)
    claims = verify_system_jwt(system_user.http, answer[1][1] or "", "1801550193")
    assert decode_ticket(claims[CLAIM + "ticket"])[2] == "Cust12345"
    assert "http://www.w3.org/2005/08/addressing" not in response.text
    assert "AuthenticateResponse" not in response.text  # no output Action header
    # Unquoted SOAPAction and another path casing work too.
    again = post_soap(
        system_user.http,
        xml.replace(system_user.signed(), system_user.signed()),
        action=SOAP_ACTION,
        path="/Login/Services/partnersystemuserservice.svc",
    )
    assert soap_answer(again)[0] == ("IsSuccessful", "true")


def test_soap_without_return_token_type_answers_a_jwt(system_user: SystemUser) -> None:
    # ReturnTokenType is optional in the schema; the emulator then issues a JWT [I].
    xml = soap_envelope(
        system_user.app["client_secret"], "Cust12345", system_user.signed(), token_type=None
    )
    answer = dict(soap_answer(post_soap(system_user.http, xml)))
    assert answer["IsSuccessful"] == "true"
    assert verify_system_jwt(system_user.http, answer["Token"] or "", "1801550193")


def test_soap_refusal_names_the_failure(system_user: SystemUser) -> None:
    stale = system_user.signed(when=system_user.now() - timedelta(hours=2))
    xml = soap_envelope(system_user.app["client_secret"], "Cust12345", stale)
    response = post_soap(system_user.http, xml)
    assert response.status_code == 200
    answer = soap_answer(response)
    assert [name for name, _ in answer] == ["IsSuccessful", "Token", "ErrorMessage"]
    assert answer[0] == ("IsSuccessful", "false")
    assert answer[1] == ("Token", None)
    assert (answer[2][1] or "").startswith("InvalidTimestamp:")
    saml = soap_envelope(
        system_user.app["client_secret"], "Cust12345", system_user.signed(), "Saml"
    )
    assert (dict(soap_answer(post_soap(system_user.http, saml)))["ErrorMessage"] or "").startswith(
        "NotSupported:"
    )


def test_soap_missing_values_are_refusals_not_faults(system_user: SystemUser) -> None:
    # Every member is optional in the schema, so WCF hands the service nulls: it answers.
    good = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    for broken, missing in (
        (
            good.replace("<tns:ApplicationToken>", "<tns:Other>").replace(
                "</tns:ApplicationToken>", "</tns:Other>"
            ),
            "ApplicationToken",
        ),
        (good.replace("<tns:ContextIdentifier>Cust12345</tns:ContextIdentifier>", ""), "Context"),
        (
            re.sub(
                r"<ns1:SignedSystemToken>.*</ns1:SignedSystemToken>",
                '<ns1:SignedSystemToken xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
                ' i:nil="true"/>',
                good,
            ),
            "SignedSystemToken",
        ),
    ):
        response = post_soap(system_user.http, broken)
        assert response.status_code == 200, response.text
        answer = dict(soap_answer(response))
        assert answer["IsSuccessful"] == "false"
        assert answer["Token"] is None
        assert (answer["ErrorMessage"] or "").startswith(f"InvalidRequest: {missing}")


@pytest.mark.parametrize("token_type", ["JWT", "jwt", "saml", " Jwt", "Xml", ""])
def test_soap_enum_is_exact(system_user: SystemUser, token_type: str) -> None:
    xml = soap_envelope(
        system_user.app["client_secret"], "Cust12345", system_user.signed(), token_type
    )
    reason = wcf_fault(post_soap(system_user.http, xml), "DeserializationFailed")
    assert reason == (
        "The formatter threw an exception while trying to deserialize the message: There was an"
        f" error while trying to deserialize parameter {PSU_NS}:ReturnTokenType. The"
        f" InnerException message was 'Invalid enum value '{token_type}' cannot be deserialized"
        " into type 'TokenType'. Ensure that the necessary enum values are present and are"
        " marked with EnumMemberAttribute attribute if the type has DataContractAttribute"
        " attribute.'.  Please see InnerException for more details."
    )


def test_soap_body_must_match_the_schema(system_user: SystemUser) -> None:
    http = system_user.http
    good = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    wrapper = wcf_fault(
        post_soap(http, good.replace("AuthenticationRequest", "SomethingElse")),
        "DeserializationFailed",
    )
    assert "Expected to find node type 'Element' with name 'AuthenticationRequest'" in wrapper
    swapped = re.sub(
        r"(<ns1:SignedSystemToken>.*</ns1:SignedSystemToken>)\s*"
        r"(<ns1:ReturnTokenType>Jwt</ns1:ReturnTokenType>)",
        r"\2\1",
        good,
    )
    assert swapped != good
    out_of_order = wcf_fault(post_soap(http, swapped), "DeserializationFailed")
    assert "'SignedSystemToken'" in out_of_order
    extra = good.replace("</ns1:AuthenticationRequest>", "<ns1:Extra/></ns1:AuthenticationRequest>")
    assert "'Extra'" in wcf_fault(post_soap(http, extra), "DeserializationFailed")


def test_soap_12_gets_wcfs_content_type_answer(system_user: SystemUser) -> None:
    good = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    soap12 = good.replace(SOAP11, "http://www.w3.org/2003/05/soap-envelope")
    response = post_soap(
        system_user.http,
        soap12,
        action=None,
        content_type=f'application/soap+xml; charset=utf-8; action="{SOAP_ACTION}"',
    )
    assert response.status_code == 415
    assert response.text == (
        "Cannot process the message because the content type 'application/soap+xml;"
        f' charset=utf-8; action="{SOAP_ACTION}"\' was not the expected type'
        " 'text/xml; charset=utf-8'."
    )
    for content_type in ("application/json", "text/xml; charset=utf-16", ""):
        assert post_soap(system_user.http, good, content_type=content_type).status_code == 415


def test_soap_faults(system_user: SystemUser) -> None:
    http = system_user.http
    good = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    other = f"{PSU_NS}/IPartnerSystemUserService/Other"
    reason = wcf_fault(post_soap(http, good, action=f'"{other}"'), "ActionNotSupported")
    assert reason.startswith(
        f"The message with Action '{other}' cannot be processed at the receiver, due to a"
        " ContractFilter mismatch at the EndpointDispatcher."
    )
    assert "Action ''" in wcf_fault(post_soap(http, good, action=None), "ActionNotSupported")
    for broken in (
        "<not-xml",
        "<a/>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + good.split("?>", 1)[1],
        good.replace("http://schemas.xmlsoap.org/soap/envelope/", "urn:not-soap"),
    ):
        soap_fault(post_soap(http, broken))
    huge = post_soap(http, good.replace("Jwt<", "Jwt" + " " * 100_000 + "<"))
    assert huge.status_code == 413
    assert "Traceback" not in huge.text


def test_soap_refuses_entity_expansion(system_user: SystemUser) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<lolz>&lol2;</lolz>"
    )
    response = post_soap(system_user.http, bomb)
    assert "DOCTYPE" in soap_fault(response)


# -- the served WSDL --------------------------------------------------------------------------

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"


@pytest.mark.parametrize("query", ["wsdl", "singleWsdl", "WSDL", "singlewsdl"])
def test_the_wsdl_is_served_with_the_emulators_address(
    emu: Emulator, http: httpx.Client, query: str
) -> None:
    response = http.get(f"{SOAP_PATH}?{query}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own document)
    assert root.tag == f"{{{WSDL}}}definitions"
    assert root.get("targetNamespace") == PSU_NS
    address = root.find(f"{{{WSDL}}}service/{{{WSDL}}}port/{{{WSDL_SOAP}}}address")
    assert address is not None
    assert address.get("location") == f"{emu.base_url}{SOAP_PATH}"
    binding = root.find(f"{{{WSDL}}}binding")
    assert binding is not None
    assert binding.get("name") == "BasicHttpBinding_IPartnerSystemUserService"
    transport = binding.find(f"{{{WSDL_SOAP}}}binding")
    assert transport is not None
    assert transport.get("transport") == "http://schemas.xmlsoap.org/soap/http"
    operation = binding.find(f"{{{WSDL}}}operation/{{{WSDL_SOAP}}}operation")
    assert operation is not None
    assert operation.get("soapAction") == SOAP_ACTION
    assert operation.get("style") == "document"
    headers = binding.findall(f"{{{WSDL}}}operation/{{{WSDL}}}input/{{{WSDL_SOAP}}}header")
    assert [(h.get("part"), h.get("use")) for h in headers] == [
        ("ApplicationToken", "literal"),
        ("ContextIdentifier", "literal"),
    ]
    schema = root.find(f"{{{WSDL}}}types/{{{XS}}}schema")
    assert schema is not None
    assert schema.get("elementFormDefault") == "qualified"

    def sequence(name: str) -> list[tuple[str | None, str | None, str | None]]:
        element = schema.find(f"{{{XS}}}element[@name='{name}']")
        assert element is not None
        return [
            (e.get("name"), e.get("minOccurs"), e.get("nillable"))
            for e in element.iterfind(f"{{{XS}}}complexType/{{{XS}}}sequence/{{{XS}}}element")
        ]

    assert sequence("AuthenticationRequest") == [
        ("SignedSystemToken", "0", "true"),
        ("ReturnTokenType", "0", None),
    ]
    assert sequence("AuthenticationResponse") == [
        ("IsSuccessful", "0", None),
        ("Token", "0", "true"),
        ("ErrorMessage", "0", "true"),
    ]
    enum = schema.findall(f"{{{XS}}}simpleType[@name='TokenType']/{{{XS}}}restriction/*")
    assert [e.get("value") for e in enum] == ["Jwt", "Saml"]


def test_the_service_page_points_at_the_wsdl(emu: Emulator, http: httpx.Client) -> None:
    page = http.get(SOAP_PATH)
    assert page.status_code == 200
    assert f"{emu.base_url}{SOAP_PATH}?wsdl" in page.text
