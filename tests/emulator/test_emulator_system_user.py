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


def soap_envelope(app_token: str, ctx: str, signed: str, token_type: str = "Jwt") -> str:
    # The envelope of SD:get-ticket.
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
      <ns1:ReturnTokenType>{token_type}</ns1:ReturnTokenType>
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


def soap_answer(response: httpx.Response) -> dict[str, str | None]:
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own answer)
    answer = root.find(f"{{{SOAP11}}}Body/{{{PSU_NS}}}AuthenticationResponse")
    assert answer is not None, response.text
    return {child.tag.split("}")[1]: child.text for child in answer}


def soap_fault(response: httpx.Response) -> str:
    root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own answer)
    fault = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None, response.text
    assert fault.findtext("faultcode") == "s:Client"
    assert "Traceback" not in response.text
    return fault.findtext("faultstring") or ""


def test_soap_exchange(system_user: SystemUser) -> None:
    xml = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    response = post_soap(system_user.http, xml)
    assert response.status_code == 200, response.text
    answer = soap_answer(response)
    assert answer["IsSuccessful"] == "true"
    assert answer["ErrorMessage"] is None
    claims = verify_system_jwt(system_user.http, answer["Token"] or "", "1801550193")
    assert decode_ticket(claims[CLAIM + "ticket"])[2] == "Cust12345"
    assert f"{PSU_NS}/IPartnerSystemUserService/AuthenticateResponse" in response.text
    # Unquoted SOAPAction and another path casing work too.
    again = post_soap(
        system_user.http,
        xml.replace(system_user.signed(), system_user.signed()),
        action=SOAP_ACTION,
        path="/Login/Services/partnersystemuserservice.svc",
    )
    assert soap_answer(again)["IsSuccessful"] == "true"


def test_soap_refusal_names_the_failure(system_user: SystemUser) -> None:
    stale = system_user.signed(when=system_user.now() - timedelta(hours=2))
    xml = soap_envelope(system_user.app["client_secret"], "Cust12345", stale)
    response = post_soap(system_user.http, xml)
    assert response.status_code == 200
    answer = soap_answer(response)
    assert answer["IsSuccessful"] == "false"
    assert answer["Token"] is None
    assert (answer["ErrorMessage"] or "").startswith("InvalidTimestamp:")
    saml = soap_envelope(
        system_user.app["client_secret"], "Cust12345", system_user.signed(), "Saml"
    )
    assert (soap_answer(post_soap(system_user.http, saml))["ErrorMessage"] or "").startswith(
        "NotSupported:"
    )


def test_soap_faults(system_user: SystemUser) -> None:
    http = system_user.http
    good = soap_envelope(system_user.app["client_secret"], "Cust12345", system_user.signed())
    wrong_action = post_soap(http, good, action=f'"{PSU_NS}/IPartnerSystemUserService/Other"')
    assert wrong_action.status_code == 500
    assert "action" in soap_fault(wrong_action)
    assert post_soap(http, good, action=None).status_code == 500
    for broken in (
        "<not-xml",
        "<a/>",
        good.replace("<ns1:ReturnTokenType>Jwt</ns1:ReturnTokenType>", ""),
        good.replace("<tns:ApplicationToken>", "<tns:Other>").replace(
            "</tns:ApplicationToken>", "</tns:Other>"
        ),
        good.replace("AuthenticationRequest", "SomethingElse"),
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>' + good.split("?>", 1)[1],
        good.replace("http://schemas.xmlsoap.org/soap/envelope/", "urn:not-soap"),
    ):
        response = post_soap(http, broken)
        assert response.status_code == 500, broken
        soap_fault(response)
    json_type = post_soap(http, good, content_type="application/json")
    assert json_type.status_code == 415
    soap_fault(json_type)
    huge = post_soap(http, good.replace("Jwt<", "Jwt" + " " * 100_000 + "<"))
    assert huge.status_code == 413
    soap_fault(huge)


def test_soap_refuses_entity_expansion(system_user: SystemUser) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<lolz>&lol2;</lolz>"
    )
    response = post_soap(system_user.http, bomb)
    assert response.status_code == 500
    assert "DOCTYPE" in soap_fault(response)
