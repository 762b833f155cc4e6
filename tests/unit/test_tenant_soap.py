"""The SOAP credential helper: envelope headers (escaped), safe parsing, faults, one caller."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from toolkit.errors import SoapFaultError, UnexpectedResponseError
from toolkit.http import create_client
from toolkit.tenant.soap import (
    NETSERVER_NAMESPACE,
    SOAP_ENVELOPE_NAMESPACE,
    SoapClient,
    build_credential_headers,
    build_soap_request,
    parse_soap_response,
    parse_xml,
)

NETSERVER_URL = "https://sod2.superoffice.com/Cust12345/Remote/Services88/"
NS = {"s": SOAP_ENVELOPE_NAMESPACE, "ns": NETSERVER_NAMESPACE}


def answer(headers: str, body: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{SOAP_ENVELOPE_NAMESPACE}" xmlns:ns="{NETSERVER_NAMESPACE}">'
        f"<s:Header>{headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


XSI = 'xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
# A `User` as GetUser answers it (member names and order of SD's Services88 GetUser example).
PRINCIPAL = answer(
    "<ns:Succeeded>true</ns:Succeeded>",
    f"<ns:GetUserResponse {XSI}><ns:Response>"
    "<ns:AssociateId>7</ns:AssociateId><ns:Name>Acme Sync</ns:Name>"
    "<ns:Role><ns:Id>1</ns:Id><ns:Value>System user</ns:Value></ns:Role>"
    '<ns:Person i:nil="true"/><ns:Type>SystemAssociate</ns:Type>'
    "<ns:UserName>Acme Sync</ns:UserName>"
    "</ns:Response></ns:GetUserResponse>",
)


def test_the_envelope_carries_escaped_credentials_in_the_services88_namespace() -> None:
    request = build_soap_request(
        NETSERVER_URL,
        "User",
        "GetUser",
        application_token="a<b&c",
        ticket='7T:"x"',
        parameters={"UserId": 0},
    )
    assert request.url == f"{NETSERVER_URL}User.svc"
    assert request.headers["SOAPAction"] == (
        '"http://www.superoffice.net/ws/crm/NetServer/Services88/User/GetUser"'
    )
    assert request.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(request.content)  # noqa: S314 - our own document
    header = root.find("s:Header", NS)
    assert header is not None
    assert header.findtext("ns:ApplicationToken", namespaces=NS) == "a<b&c"
    assert header.findtext("ns:Credentials/ns:Ticket", namespaces=NS) == '7T:"x"'
    assert root.findtext("s:Body/ns:GetUser/ns:UserId", namespaces=NS) == "0"
    assert b"a&lt;b&amp;c" in request.content
    assert "7T:" not in repr(request)


def test_credential_headers_alone() -> None:
    text = build_credential_headers(application_token="tok", ticket="7T:abc", prefix="NS")
    assert text == (
        "<NS:ApplicationToken>tok</NS:ApplicationToken>"
        "<NS:Credentials><NS:Ticket>7T:abc</NS:Ticket></NS:Credentials>"
    )
    with pytest.raises(ValueError):  # noqa: PT011
        build_credential_headers(application_token="", ticket="7T:abc")


def test_names_are_checked_and_parameters_escaped() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        build_soap_request(NETSERVER_URL, "User", "Get<x>", application_token="a", ticket="t")
    request = build_soap_request(
        NETSERVER_URL.rstrip("/"),
        "Contact",
        "GetContactEntity",
        application_token="a",
        ticket="t",
        parameters={"ContactId": 3, "Name": "<&>", "Flag": True},
    )
    assert request.url == f"{NETSERVER_URL}Contact.svc"
    assert b"<ns:ContactId>3</ns:ContactId>" in request.content
    assert b"<ns:Name>&lt;&amp;&gt;</ns:Name>" in request.content
    assert b"<ns:Flag>true</ns:Flag>" in request.content


def test_parse_the_user() -> None:
    user = parse_soap_response(PRINCIPAL, "GetUser")
    assert user["Type"] == "SystemAssociate"
    assert user["AssociateId"] == "7"
    assert user["Role"] == {"Id": "1", "Value": "System user"}
    assert user["Person"] is None  # xsi:nil
    rights = answer(
        "",
        "<ns:GetUserResponse><ns:Response><ns:Rights><ns:string>admin-all</ns:string>"
        "</ns:Rights></ns:Response></ns:GetUserResponse>",
    )
    assert parse_soap_response(rights, "GetUser") == {"Rights": ["admin-all"]}
    nil = answer("", f'<ns:GetUserResponse {XSI}><ns:Response i:nil="true"/></ns:GetUserResponse>')
    assert parse_soap_response(nil, "GetUser") is None


def test_a_refused_credential_is_a_fault() -> None:
    refused = answer(
        "<ns:Succeeded>false</ns:Succeeded><ns:ExceptionInfo>"
        "<ns:Message>Ticket 7T:c2VjcmV0 is not valid</ns:Message>"
        "<ns:ExceptionType>SoAuthenticationException</ns:ExceptionType>"
        "</ns:ExceptionInfo>",
        "<ns:GetUserResponse/>",
    )
    with pytest.raises(SoapFaultError) as caught:
        parse_soap_response(refused, "GetUser")
    assert caught.value.fault_code == "SoAuthenticationException"
    assert caught.value.fault_string is not None
    assert "c2VjcmV0" not in str(caught.value)
    assert "c2VjcmV0" not in caught.value.fault_string


def test_a_soap_fault_is_typed() -> None:
    fault = answer(
        "",
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>Unknown tenant</faultstring>"
        "</s:Fault>",
    )
    with pytest.raises(SoapFaultError) as caught:
        parse_soap_response(fault, "GetUser", status_code=500)
    assert (caught.value.fault_code, caught.value.fault_string) == ("s:Client", "Unknown tenant")
    assert caught.value.status_code == 500


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol">]><a>&lol;</a>',
        b'<!DOCTYPE a SYSTEM "http://evil.example/a.dtd"><a/>',
        b"<a>" * 100 + b"</a>" * 100,
        b"<a><b></a>",
        b"",
        b"x" * (3 * 1024 * 1024),
    ],
)
def test_unsafe_or_broken_xml_is_refused(document: bytes) -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_xml(document)


def test_answers_that_are_not_netserver_envelopes_are_refused() -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_soap_response(b"<html/>", "GetUser")
    with pytest.raises(UnexpectedResponseError):
        parse_soap_response(answer("", "<ns:OtherResponse/>"), "GetUser")


def test_the_client_calls_one_operation() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=PRINCIPAL, headers={"Content-Type": "text/xml"})

    tickets = iter(["7T:one", "7T:two"])
    client = SoapClient(
        create_client(transport=httpx.MockTransport(handler)),
        NETSERVER_URL,
        application_token="secret-token",
        ticket=lambda: next(tickets),
    )
    assert client.current_principal()["AssociateId"] == "7"
    assert client.current_principal()["Type"] == "SystemAssociate"
    assert [b"7T:one" in r.content for r in seen] == [True, False]
    for request in seen:  # GetUser with UserId 0, as SD:sysuser's example
        assert request.url == f"{NETSERVER_URL}User.svc"
        assert request.headers["SOAPAction"] == f'"{NETSERVER_NAMESPACE}/User/GetUser"'
        assert b"<ns:GetUser><ns:UserId>0</ns:UserId></ns:GetUser>" in request.content
    assert b"7T:two" in seen[1].content
    assert seen[0].method == "POST"
    assert "secret-token" not in repr(client)


def test_the_client_refuses_non_soap_answers() -> None:
    client = SoapClient(
        create_client(transport=httpx.MockTransport(lambda r: httpx.Response(404, text="no"))),
        NETSERVER_URL,
        application_token="a",
        ticket="7T:x",
    )
    with pytest.raises(UnexpectedResponseError) as caught:
        client.current_principal()
    assert caught.value.status_code == 404


def test_no_user_for_the_caller_is_an_unexpected_answer() -> None:
    nil = answer(
        "<ns:Succeeded>true</ns:Succeeded>",
        f'<ns:GetUserResponse {XSI}><ns:Response i:nil="true"/></ns:GetUserResponse>',
    )
    client = SoapClient(
        create_client(
            transport=httpx.MockTransport(
                lambda r: httpx.Response(200, content=nil, headers={"Content-Type": "text/xml"})
            )
        ),
        NETSERVER_URL,
        application_token="a",
        ticket="7T:x",
    )
    assert client.get_user(42) is None
    with pytest.raises(UnexpectedResponseError):
        client.current_principal()
