"""Tenant web services, first piece: User/currentPrincipal over REST and SOAP (protocol §5)."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # parses the emulator's own answers only
from typing import Any

import httpx
import pytest

from toolkit.emulator import Emulator

pytestmark = pytest.mark.emulator

CONTROL = "/__emulator__"
PRINCIPAL = "/Cust12345/api/v1/User/currentPrincipal"
USER_SVC = "/Cust12345/Remote/Services88/User.svc"
NS88 = "http://www.superoffice.net/ws/crm/NetServer/Services88"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
REDIRECT = "http://127.0.0.1:8000/callback"
SystemUser = Any  # the `system_user` fixture of conftest.py
CARRIER_FIELDS = {
    "UserType",
    "Associate",
    "AssociateId",
    "IsPerson",
    "PersonId",
    "CountryId",
    "HomeCountryId",
    "ContactId",
    "GroupId",
    "BusinessId",
    "CategoryId",
    "ContactOwner",
    "RoleId",
    "RoleName",
    "RoleDescription",
    "RoleType",
    "Licenses",
    "FullName",
    "EMailAddress",
    "FunctionRights",
    "EjUserId",
    "EjAccessLevel",
    "EjUserStatus",
    "ProvidedCredentials",
    "SecondaryGroups",
    "DatabaseContextIdentifier",
    "UserName",
}


# Tenant paths are served on the tenant's own host (protocol §1): where the default world puts
# each tenant. Filled per test from the emulator's listeners.
TENANT_HOSTS = {"cust12345": "sod2", "cust34567": "sod2", "cust23456": "sod3"}
HOST_URLS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _host_urls(emu: Emulator) -> None:
    HOST_URLS.update(emu.host_urls)


def url(path: str) -> str:
    """The absolute URL of a tenant path on the tenant's current host."""
    ctx = path.split("/")[1].lower()
    return HOST_URLS[TENANT_HOSTS.get(ctx, "sod2")] + path


def with_ticket(
    http: httpx.Client, ticket: str, app_token: str | None, path: str = PRINCIPAL
) -> httpx.Response:
    headers = {"Authorization": f"SOTicket {ticket}", "Accept": "application/json"}
    if app_token is not None:
        headers["SO-AppToken"] = app_token
    return http.get(url(path), headers=headers)


def assert_unauthorized(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"Error", "ErrorType", "ErrorMessage", "ErrorSource"}
    assert body["Error"] is True
    assert body["ErrorMessage"]
    return str(body["ErrorMessage"])


def advance(http: httpx.Client, seconds: float) -> None:
    assert http.post(f"{CONTROL}/clock", json={"advance": seconds}).status_code == 200


def test_system_user_principal_with_ticket_and_app_token(system_user: SystemUser) -> None:
    ticket = system_user.ticket()
    response = with_ticket(system_user.http, ticket, system_user.app["client_secret"])
    assert response.status_code == 200, response.text
    carrier = response.json()
    assert set(carrier) == CARRIER_FIELDS
    assert carrier["UserType"] == "SystemAssociate"
    assert carrier["RoleType"] == "System"
    assert carrier["Associate"] == "Acme Sync"
    assert carrier["UserName"] == "Acme Sync"
    assert carrier["DatabaseContextIdentifier"] == "Cust12345"
    assert carrier["IsPerson"] is False
    # Scheme and path casings seen in the docs (SOTicket / SoTicket / SOTICKET, lower-case ctx).
    for scheme, path in (
        ("SoTicket", "/cust12345/api/v1/user/currentPrincipal"),
        ("SOTICKET", "/CUST12345/API/V1/USER/CURRENTPRINCIPAL"),
    ):
        again = system_user.http.get(
            url(path),
            headers={
                "Authorization": f"{scheme} {ticket}",
                "SO-AppToken": system_user.app["client_secret"],
            },
        )
        assert again.status_code == 200, (scheme, path, again.text)


def test_ticket_needs_the_owning_apps_app_token(
    emu: Emulator, system_user: SystemUser, flow: Any
) -> None:
    ticket = system_user.ticket()
    message = assert_unauthorized(with_ticket(system_user.http, ticket, None))
    assert "SO-AppToken" in message
    assert_unauthorized(with_ticket(system_user.http, ticket, "0" * 32))
    other = emu.register_app(name="Other App", redirect_urls=[REDIRECT])
    flow.sign_in_and_exchange(other)
    assert_unauthorized(with_ticket(system_user.http, ticket, other["client_secret"]))


def test_refused_credentials(system_user: SystemUser) -> None:
    http = system_user.http
    secret = system_user.app["client_secret"]
    ticket = system_user.ticket()
    assert_unauthorized(http.get(url(PRINCIPAL)))
    assert_unauthorized(http.get(url(PRINCIPAL), auth=("admin@cust12345.test", "superid-demo")))
    assert_unauthorized(with_ticket(http, "7T:bm90IGEgdGlja2V0", secret))
    assert_unauthorized(
        http.get(
            url(PRINCIPAL), headers={"Authorization": f"Bearer {ticket}", "SO-AppToken": secret}
        )
    )
    assert_unauthorized(
        http.get(url(PRINCIPAL), headers={"Authorization": "Bearer 8A:Cust12345.bm9wZQ=="})
    )
    # A ticket of Cust12345 used on another (existing) tenant.
    other_tenant = "/Cust23456/api/v1/User/currentPrincipal"
    assert "Cust23456" in assert_unauthorized(with_ticket(http, ticket, secret, other_tenant))
    unknown = with_ticket(http, ticket, secret, "/Cust99999/api/v1/User/currentPrincipal")
    assert unknown.status_code == 404
    assert unknown.json()["Error"] is True


def test_user_principal_with_bearer_access_token(
    emu: Emulator, flow: Any, app: dict[str, Any]
) -> None:
    _, admin_tokens = flow.sign_in_and_exchange(app)
    _, user_tokens = flow.sign_in_and_exchange(app, username="user@cust12345.test")
    for tokens, associate_id, username in (
        (admin_tokens, 5, "admin@cust12345.test"),
        (user_tokens, 6, "user@cust12345.test"),
    ):
        response = flow.http.get(
            url(PRINCIPAL), headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert response.status_code == 200, response.text
        carrier = response.json()
        assert carrier["UserType"] == "InternalAssociate"
        assert carrier["AssociateId"] == associate_id
        assert carrier["UserName"] == username
        assert carrier["EMailAddress"] == username
        assert carrier["IsPerson"] is True
        assert carrier["DatabaseContextIdentifier"] == "Cust12345"
    admin = flow.http.get(
        url(PRINCIPAL), headers={"Authorization": f"Bearer {admin_tokens['access_token']}"}
    ).json()
    assert admin["FunctionRights"] == ["admin-all"]
    token = admin_tokens["access_token"]
    with_app_token = flow.http.get(
        url(PRINCIPAL),
        headers={"Authorization": f"Bearer {token}", "SO-AppToken": app["client_secret"]},
    )
    assert with_app_token.status_code == 200
    assert_unauthorized(
        flow.http.get(
            url(PRINCIPAL),
            headers={"Authorization": f"Bearer {token}", "SO-AppToken": "0" * 32},
        )
    )
    assert_unauthorized(
        flow.http.get(
            url("/Cust23456/api/v1/User/currentPrincipal"),
            headers={"Authorization": f"Bearer {token}"},
        )
    )


def test_ticket_window_slides_with_use(system_user: SystemUser) -> None:
    http = system_user.http
    secret = system_user.app["client_secret"]
    ticket = system_user.ticket()
    advance(http, 5 * 3600)
    assert with_ticket(http, ticket, secret).status_code == 200
    advance(http, 5 * 3600)  # 10 h after the exchange, 5 h after the last use
    assert with_ticket(http, ticket, secret).status_code == 200
    advance(http, 6 * 3600 + 60)  # 6 h 1 min without use
    assert_unauthorized(with_ticket(http, ticket, secret))


def test_ticket_expires_six_hours_after_the_exchange_without_use(
    system_user: SystemUser,
) -> None:
    http = system_user.http
    ticket = system_user.ticket()
    advance(http, 6 * 3600 - 60)
    assert with_ticket(http, ticket, system_user.app["client_secret"]).status_code == 200
    advance(http, 6 * 3600 + 1)
    assert_unauthorized(with_ticket(http, ticket, system_user.app["client_secret"]))


def test_force_expire_tickets(system_user: SystemUser, http: httpx.Client) -> None:
    client_id, secret = system_user.app["client_id"], system_user.app["client_secret"]
    first, second = system_user.ticket(), system_user.ticket()
    expired = http.post(
        f"{CONTROL}/tickets/expire", json={"client_id": client_id, "ctx": "Cust12345"}
    )
    assert expired.json() == {"expired": 2}
    assert_unauthorized(with_ticket(http, first, secret))
    assert_unauthorized(with_ticket(http, second, secret))
    assert with_ticket(http, system_user.ticket(), secret).status_code == 200  # a new one works
    bad = http.post(f"{CONTROL}/tickets/expire", json={"client_id": "nope", "ctx": "Cust12345"})
    assert bad.status_code == 404
    assert http.post(f"{CONTROL}/tickets/expire", json={}).status_code == 400


def test_revoke_invalidates_tickets(system_user: SystemUser, flow: Any) -> None:
    http = system_user.http
    client_id, secret = system_user.app["client_id"], system_user.app["client_secret"]
    ticket = system_user.ticket()
    assert with_ticket(http, ticket, secret).status_code == 200
    assert http.post(f"{CONTROL}/authorizations/{client_id}/Cust12345/revoke").status_code == 200
    assert_unauthorized(with_ticket(http, ticket, secret))
    flow.sign_in_and_exchange(system_user.app)  # approved again: the old ticket stays dead
    assert_unauthorized(with_ticket(http, ticket, secret))
    assert with_ticket(http, system_user.ticket(), secret).status_code == 200


# -- SOAP --------------------------------------------------------------------------------------


GET_USER_ACTION = f"{NS88}/User/GetUser"  # Services88-User WSDL soapAction


def netserver_envelope(
    ticket: str, app_token: str | None, *, in_header: bool = True, user_id: str | None = "0"
) -> str:
    app_xml = f"<ns:ApplicationToken>{app_token}</ns:ApplicationToken>" if app_token else ""
    credentials = f"{app_xml}<ns:Credentials><ns:Ticket>{ticket}</ns:Ticket></ns:Credentials>"
    user = "" if user_id is None else f"<ns:UserId>{user_id}</ns:UserId>"
    if in_header:
        return (
            f'<s:Envelope xmlns:s="{SOAP11}" xmlns:ns="{NS88}">'
            f"<s:Header>{credentials}</s:Header>"
            f"<s:Body><ns:GetUser>{user}</ns:GetUser></s:Body></s:Envelope>"
        )
    # SuperOffice's system user SOAP example (SD:sysuser): SOAP 1.2 envelope, credentials
    # directly inside it, `User:GetUser` with `User:UserId` 0.
    return (
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP12}" xmlns:User="{NS88}"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        + credentials.replace("ns:", "User:")
        + "<SOAP-ENV:Body><User:GetUser>"
        + user.replace("<ns:UserId>", '<User:UserId xsi:type="xsd:int">').replace("ns:", "User:")
        + "</User:GetUser></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


def post_user_service(
    http: httpx.Client,
    xml: str,
    content_type: str = "text/xml; charset=utf-8",
    action: str | None = f'"{GET_USER_ACTION}"',
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if action is not None:
        headers["SOAPAction"] = action
    return http.post(url(USER_SVC), content=xml.encode(), headers=headers)


def netserver_answer(response: httpx.Response, soap_ns: str = SOAP11) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own answer)
    succeeded = root.findtext(f"{{{soap_ns}}}Header/{{{NS88}}}Succeeded")
    carrier = root.find(f"{{{soap_ns}}}Body/{{{NS88}}}GetUserResponse/{{{NS88}}}Response")
    fields: dict[str, Any] = {}
    for child in [] if carrier is None else list(carrier):
        name = child.tag.split("}")[1]
        fields[name] = {g.tag.split("}")[1]: g.text for g in child} if len(child) else child.text
    message = root.findtext(f"{{{soap_ns}}}Header/{{{NS88}}}ExceptionInfo/{{{NS88}}}Message")
    return {"Succeeded": succeeded, "fields": fields, "message": message}


def test_soap_current_principal_with_ticket(system_user: SystemUser) -> None:
    http = system_user.http
    secret = system_user.app["client_secret"]
    ticket = system_user.ticket()
    answer = netserver_answer(post_user_service(http, netserver_envelope(ticket, secret)))
    assert answer["Succeeded"] == "true"
    fields = answer["fields"]
    # The User members, in the order of SuperOffice's GetUser example.
    assert list(fields) == [
        "AssociateId",
        "Name",
        "Rank",
        "Tooltip",
        "Role",
        "UserGroup",
        "Person",
        "Deleted",
        "EjUserId",
        "Type",
        "IsPersonRetired",
        "IsOnTravel",
        "UserName",
    ]
    assert fields["Type"] == "SystemAssociate"
    assert fields["Name"] == fields["UserName"] == "Acme Sync"
    assert fields["Person"] is None  # a system user is no person: xsi:nil
    assert fields["Role"]["Value"] == "System user"
    documented = post_user_service(
        http,
        netserver_envelope(ticket, secret, in_header=False),
        content_type="application/soap+xml; charset=utf-8",
        action=None,
    )
    assert netserver_answer(documented, SOAP12)["fields"]["Type"] == "SystemAssociate"
    by_own_id = netserver_envelope(ticket, secret, user_id=fields["AssociateId"])
    assert netserver_answer(post_user_service(http, by_own_id))["fields"] == fields
    absent_id = netserver_envelope(ticket, secret, user_id=None)  # UserId is optional
    assert netserver_answer(post_user_service(http, absent_id))["fields"] == fields
    admin = netserver_answer(
        post_user_service(http, netserver_envelope(ticket, secret, user_id="5"))
    )
    assert admin["fields"]["UserName"] == "admin@cust12345.test"
    assert admin["fields"]["Type"] == "InternalAssociate"
    unknown = post_user_service(http, netserver_envelope(ticket, secret, user_id="424242"))
    assert netserver_answer(unknown) == {"Succeeded": "true", "fields": {}, "message": None}
    assert 'i:nil="true"' in unknown.text
    refused = netserver_answer(post_user_service(http, netserver_envelope(ticket, None)))
    assert refused["Succeeded"] == "false"
    assert refused["fields"] == {}
    assert "application token" in (refused["message"] or "")


def test_soap_ticket_use_slides_the_window(system_user: SystemUser) -> None:
    http = system_user.http
    secret = system_user.app["client_secret"]
    ticket = system_user.ticket()
    advance(http, 5 * 3600)
    assert (
        netserver_answer(post_user_service(http, netserver_envelope(ticket, secret)))["Succeeded"]
        == "true"
    )
    advance(http, 5 * 3600)
    assert with_ticket(http, ticket, secret).status_code == 200


def test_soap_current_principal_with_access_token(flow: Any, app: dict[str, Any]) -> None:
    _, tokens = flow.sign_in_and_exchange(app)
    answer = netserver_answer(
        post_user_service(flow.http, netserver_envelope(tokens["access_token"], None))
    )
    assert answer["Succeeded"] == "true"
    assert answer["fields"]["AssociateId"] == "5"
    assert answer["fields"]["UserName"] == "admin@cust12345.test"
    assert answer["fields"]["Person"]["Email"] == "admin@cust12345.test"


def test_soap_faults_on_user_service(system_user: SystemUser) -> None:
    http = system_user.http
    ticket = system_user.ticket()
    good = netserver_envelope(ticket, system_user.app["client_secret"])
    for xml in (
        "<oops",
        good.replace("GetUser", "DeleteUser"),
        good.replace("<ns:UserId>0</ns:UserId>", "<ns:UserId>zero</ns:UserId>"),
        '<!DOCTYPE x [<!ENTITY e "e">]>' + good,
    ):
        response = post_user_service(http, xml)
        assert response.status_code == 500
        root = ET.fromstring(response.content)  # noqa: S314 (the emulator's own answer)
        assert root.findtext(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault/faultcode") == "s:Client"
        assert "Traceback" not in response.text
    wrong_action = http.post(
        url(USER_SVC),
        content=good.encode(),
        headers={"Content-Type": "text/xml", "SOAPAction": f'"{NS88}/User/DeleteUser"'},
    )
    assert wrong_action.status_code == 500
