"""PartnerSystemUser over SOAP with an independent, schema-driven client (zeep, strict mode).

zeep reads the WSDL the emulator SERVES, builds the request from its schema and validates the
answer against it (element order included), so a drift between the served document and the
emulator's wire format, or from SuperOffice's schema (protocol §4.5), fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

SOAP_PATH = "/login/services/PartnerSystemUserService.svc"
PSU_NS = "http://www.superoffice.com/superid/partnersystemuser/0.1"
CLAIM = "http://schemes.superoffice.net/identity/"
SystemUser = Any  # the `system_user` fixture of conftest.py


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only: no proxy from the environment
        yield session


def client(emu: Emulator, session: requests.Session, query: str = "singleWsdl") -> zeep.Client:
    transport = zeep.Transport(session=session, timeout=10, operation_timeout=10)
    settings = zeep.Settings(strict=True, xml_huge_tree=False, forbid_entities=True)
    return zeep.Client(f"{emu.base_url}{SOAP_PATH}?{query}", transport=transport, settings=settings)


def headers(system_user: SystemUser, app_token: str | None = None) -> dict[str, str]:
    return {
        "ApplicationToken": app_token or system_user.app["client_secret"],
        "ContextIdentifier": "Cust12345",
    }


@pytest.mark.parametrize("query", ["wsdl", "singleWsdl"])
def test_zeep_completes_an_exchange_from_the_served_wsdl(
    emu: Emulator, session: requests.Session, system_user: SystemUser, query: str
) -> None:
    soap = client(emu, session, query)
    service = soap.wsdl.services["PartnerSystemUserService"]
    port = service.ports["BasicHttpBinding_IPartnerSystemUserService"]
    assert port.binding_options["address"] == f"{emu.base_url}{SOAP_PATH}"
    answer = soap.service.Authenticate(
        SignedSystemToken=system_user.signed(),
        ReturnTokenType="Jwt",
        _soapheaders=headers(system_user),
    )
    assert answer.IsSuccessful is True
    assert answer.ErrorMessage is None
    jwks = jwt.PyJWKSet.from_dict(system_user.http.get("/login/.well-known/jwks").json())
    kid = jwt.get_unverified_header(answer.Token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        answer.Token,
        key.key,
        algorithms=["RS256"],
        audience="spn:1801550193",
        issuer="SuperOffice AS",
    )
    assert claims[CLAIM + "ctx"] == "Cust12345"
    assert claims[CLAIM + "ticket"].startswith("7T:")


def test_zeep_without_return_token_type_gets_a_jwt(
    emu: Emulator, session: requests.Session, system_user: SystemUser
) -> None:
    answer = client(emu, session).service.Authenticate(
        SignedSystemToken=system_user.signed(), _soapheaders=headers(system_user)
    )
    assert answer.IsSuccessful is True
    assert answer.Token.count(".") == 2


def test_zeep_sees_a_refused_exchange_as_a_typed_answer(
    emu: Emulator, session: requests.Session, system_user: SystemUser
) -> None:
    answer = client(emu, session).service.Authenticate(
        SignedSystemToken=system_user.signed(),
        ReturnTokenType="Jwt",
        _soapheaders=headers(system_user, app_token="0" * 32),
    )
    assert answer.IsSuccessful is False
    assert answer.Token is None
    assert answer.ErrorMessage.startswith("Denied: ")


def test_zeep_gets_wcfs_fault_for_another_enum_spelling(
    emu: Emulator, session: requests.Session, system_user: SystemUser
) -> None:
    soap = client(emu, session)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        soap.service.Authenticate(
            SignedSystemToken=system_user.signed(),
            ReturnTokenType="JWT",  # the REST samples' spelling is not a value of TokenType
            _soapheaders=headers(system_user),
        )
    assert caught.value.code == "a:DeserializationFailed"
    assert f"deserialize parameter {PSU_NS}:ReturnTokenType" in caught.value.message


def test_strict_zeep_refuses_the_members_in_another_order(
    emu: Emulator, session: requests.Session
) -> None:
    # What makes the exchange above meaningful: the answer the emulator used to give (the
    # ErrorMessage first) is refused by the same client, built from the same served WSDL.
    operation = client(emu, session).service._binding._operations["Authenticate"]
    reordered = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
        f' xmlns:p="{PSU_NS}"><s:Body><p:AuthenticationResponse>'
        '<p:ErrorMessage i:nil="true"/><p:IsSuccessful>true</p:IsSuccessful><p:Token>t</p:Token>'
        "</p:AuthenticationResponse></s:Body></s:Envelope>"
    )
    with pytest.raises(zeep.exceptions.XMLParseError):
        operation.process_reply(etree.fromstring(reordered.encode()))
