"""Tenant web services, first piece: who am I, REST (`User/currentPrincipal`) and SOAP
(`User.svc` `GetUser`, the operation SuperOffice's system user SOAP example calls) (§5).

Served at `/{ctx}/api/...` and `/{ctx}/Remote/Services88/...` on the tenant's CURRENT tenant
host only (`Emulator.host_urls`; elsewhere 421, see `routing`). Lists and web panels are in
`tenant_lists`.

Credentials accepted (protocol §5):
- REST `Authorization: SOTicket 7T:...` (scheme case-insensitive) plus the mandatory
  `SO-AppToken` = the client secret of the app that owns the ticket;
- REST `Authorization: Bearer 8A:...`, a live SuperID access token for this tenant
  (`SO-AppToken` optional; when sent it must be the secret of the token's app, approved in the
  tenant, else 401);
- SOAP `<ApplicationToken>` + `<Credentials><Ticket>` in the Services88 namespace, the Ticket
  holding a `7T:` ticket (ApplicationToken mandatory) or an `8A:` access token (Services86+).
Each authenticated use of a ticket restarts its 6-hour window (sliding, §4.7).

Which application a request acts for (protocol §7 "Calls that need the application token"):
only one that sent a valid application token (`SO-AppToken`, or SOAP `ApplicationToken`). The
`GetApp...` agents "work in Online only, for registered Apps that send a valid
ApplicationToken" (SD: docs/en/api/reference/restful/agent/List_Agent/
v1ListAgent_GetAppWebPanels.md). A Bearer call without one acts for the user alone: what it
creates belongs to no application [I]. `owning_application` / `require_application` are the
one place web panels and task menus ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.emulator.errors import ApiError
from toolkit.emulator.soap import (
    SOAP11_NS,
    SOAP12_NS,
    Envelope,
    SoapFault,
    envelope,
    fault_response,
    read_envelope,
    soap_response,
    text_element,
)
from toolkit.emulator.system_user import (
    TICKET_PREFIX,
    system_user_associate_id,
    system_user_name,
    ticket_is_live,
)
from toolkit.emulator.tokens import ACCESS_TOKEN_PREFIX
from toolkit.emulator.world import App, Membership, Tenant, User, World

CURRENT_PRINCIPAL_PATH = "/{ctx}/api/v1/User/currentPrincipal"
USER_SERVICE_PATH = "/{ctx}/Remote/Services88/User.svc"
NETSERVER_NS = "http://www.superoffice.net/ws/crm/NetServer/Services88"
# SuperOffice documents no SOAP "current principal" operation (SoPrincipal.svc only
# authenticates). Its system user SOAP example calls `User.svc` `GetUser` with `UserId` 0
# (SuperOfficeDocs docs/en/api/authentication/online/auth-application/index.md); the action is
# `{namespace}/User/GetUser` (docs/api/api-reference/soap/Services88/Services88-User.md) and the
# answer `GetUserResponse/Response`, a `User` (…/Services88/User/GetUser.md). What UserId 0
# means is not documented: the emulator answers the calling user [I].
GET_USER_OPERATION = "GetUser"
GET_USER_ACTION = f"{NETSERVER_NS}/User/{GET_USER_OPERATION}"
CURRENT_USER_ID = 0
APP_TOKEN_HEADER = "SO-AppToken"  # protocol §5
TICKET_SCHEME = "soticket"  # matched case-insensitively: SOTicket, SoTicket, SOTICKET (§5) [I]
BEARER_SCHEME = "bearer"

# The REST error body of protocol §5. The type and source names for a refused credential are
# not documented [I]; the 401 status is (SD:webapi-auth).
UNAUTHORIZED_ERROR_TYPE = "SoAuthenticationException"
NOT_FOUND_ERROR_TYPE = "SoNotFoundException"  # the documented 404 type (protocol §5)
FORBIDDEN_ERROR_TYPE = "SoSecurityException"  # [I]
ERROR_SOURCE = "SuperOffice.WebApi"

# Principal values the world does not model; plausible constants [I].
SYSTEM_USER_TYPE = "SystemAssociate"  # UserType enum of NetServer's WSDL (Services88 User.svc)
USER_TYPE = "InternalAssociate"
SYSTEM_ROLE_TYPE = "System"  # RoleType enum, same WSDL
USER_ROLE_TYPE = "Employee"
USER_GROUP_NAME = "Users"  # the tenant's one user group in the world [I]
ADMIN_FUNCTION_RIGHT = "admin-all"  # the right DNO's Uninstall page requires (protocol §3)
DEFAULT_COUNTRY_ID = 578  # Norway; SuperOffice's home market [I]
OWN_CONTACT_ID = 1  # the tenant's own company [I]


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTenant(Exception):
    pass


# Case-insensitive routing: SuperOffice URLs appear in several casings (protocol §1) [I].
PATH_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"/(?P<ctx>cust[0-9]+)/api/v1/user/currentprincipal/?", re.IGNORECASE),
        "/{ctx}/api/v1/User/currentPrincipal",
    ),
    (
        re.compile(r"/(?P<ctx>cust[0-9]+)/remote/services88/user\.svc", re.IGNORECASE),
        "/{ctx}/Remote/Services88/User.svc",
    ),
]


@dataclass(frozen=True)
class Principal:
    """Who a request authenticated as: the app's system user, or a SuperID user."""

    tenant: Tenant
    app: App  # the credential's application: the ticket's, or the access token's client
    user: User | None = None
    membership: Membership | None = None
    # The application the request acts for: set only when a valid application token came
    # with it (always with a ticket; with a Bearer token only when SO-AppToken was sent).
    application: App | None = None


def owning_application(principal: Principal) -> str | None:
    """The client id of the application that owns what this request creates, or None.

    Web panels and task menus are attributed to an application only when the request carried a
    valid application token (protocol §7); a Bearer call without one creates objects that no
    application owns [I].
    """
    return principal.application.client_id if principal.application is not None else None


def require_application(principal: Principal, operation: str) -> str:
    """The requesting application's client id for a `GetApp...` agent call, else a 403.

    The reference says these calls work "for registered Apps that send a valid
    ApplicationToken" (protocol §7); how a call without one is refused is not documented: the
    emulator answers 403 `SoSecurityException` [I].
    """
    owner = owning_application(principal)
    if owner is None:
        raise ApiError(
            403,
            FORBIDDEN_ERROR_TYPE,
            f"{operation} works only for a registered application that sends a valid"
            f" {APP_TOKEN_HEADER}",
        )
    return owner


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {
        "Error": True,
        "ErrorType": error_type,
        "ErrorMessage": message,
        "ErrorSource": ERROR_SOURCE,
    }


def unauthorized_response(message: str) -> JSONResponse:
    # WWW-Authenticate lists the two online schemes (RFC 9110 asks 401s to carry one) [I].
    return JSONResponse(
        error_body(UNAUTHORIZED_ERROR_TYPE, message),
        401,
        headers={"WWW-Authenticate": "SOTicket, Bearer"},
    )


def principal_carrier(principal: Principal) -> dict[str, Any]:
    """`SoPrincipalCarrier` (protocol §2.1, SD:principal)."""
    tenant = principal.tenant
    if principal.user is None or principal.membership is None:
        name = system_user_name(principal.app)
        associate_id = system_user_associate_id(principal.app)
        user_type, role_type, role_name = SYSTEM_USER_TYPE, SYSTEM_ROLE_TYPE, "System user"
        full_name, email, username, is_person = name, "", name, False
        person_id, rights = 0, []
    else:
        membership = principal.membership
        associate_id = membership.associate_id
        user_type, role_type = USER_TYPE, USER_ROLE_TYPE
        role_name = "Administrator" if membership.is_administrator else "User"
        name = membership.initials
        full_name = email = username = principal.user.username
        is_person, person_id = True, associate_id
        rights = [ADMIN_FUNCTION_RIGHT] if membership.is_administrator else []
    return {
        "UserType": user_type,
        "Associate": name,
        "AssociateId": associate_id,
        "IsPerson": is_person,
        "PersonId": person_id,
        "CountryId": DEFAULT_COUNTRY_ID,
        "HomeCountryId": DEFAULT_COUNTRY_ID,
        "ContactId": OWN_CONTACT_ID,
        "GroupId": 1,
        "BusinessId": 0,
        "CategoryId": 0,
        "ContactOwner": 0,
        "RoleId": 1,
        "RoleName": role_name,
        "RoleDescription": role_name,
        "RoleType": role_type,
        "Licenses": [],
        "FullName": full_name,
        "EMailAddress": email,
        "FunctionRights": rights,
        "EjUserId": 0,
        "EjAccessLevel": 0,
        "EjUserStatus": "Normal",
        "ProvidedCredentials": [],
        "SecondaryGroups": [],
        "DatabaseContextIdentifier": tenant.ctx,
        "UserName": username,
    }


class TenantApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        return [
            Route(CURRENT_PRINCIPAL_PATH, self.current_principal, methods=["GET"]),
            Route(USER_SERVICE_PATH, self.user_service, methods=["POST"]),
        ]

    # -- authentication -----------------------------------------------------------------------

    def _tenant(self, ctx: str) -> Tenant:
        tenant = self.world.find_tenant(ctx)
        if tenant is None:
            raise UnknownTenant(ctx)
        return tenant

    def _app_token_matches(self, app: App | None, app_token: str | None) -> bool:
        return app is not None and app_token is not None and app.check_secret(app_token)

    def authenticate_ticket(self, tenant: Tenant, ticket: str, app_token: str | None) -> Principal:
        world = self.world
        with world.lock:
            record = world.find_ticket(ticket)
            now = world.now()
            if record is None or not ticket_is_live(record, now):
                raise Unauthorized("The ticket is not valid or has expired")
            if record.ctx.lower() != tenant.ctx.lower():
                raise Unauthorized(f"The ticket is not valid for {tenant.ctx}")
            app = world.find_app(record.client_id)
            if not app_token:
                raise Unauthorized(
                    f"The application token ({APP_TOKEN_HEADER} / ApplicationToken) is required"
                    " with a ticket"
                )
            if not self._app_token_matches(app, app_token) or app is None:
                raise Unauthorized("The application token does not match the ticket")
            if world.active_authorization(app.client_id, tenant.ctx) is None:
                raise Unauthorized("The application is not authorized for this tenant")
            record.last_used_at = now  # sliding window: every use restarts the 6 hours
            return Principal(tenant, app, application=app)

    def authenticate_access_token(
        self, tenant: Tenant, token: str, app_token: str | None
    ) -> Principal:
        world = self.world
        with world.lock:
            record = world.access_tokens.get(token)
            if record is None or record.revoked or world.now() >= record.expires_at:
                raise Unauthorized("The access token is not valid or has expired")
            if record.ctx.lower() != tenant.ctx.lower():
                raise Unauthorized(f"The access token is not valid for {tenant.ctx}")
            app = world.find_app(record.client_id)
            if app is None:
                raise Unauthorized("The access token is not valid or has expired")
            application: App | None = None
            if app_token is not None:
                # Sent but not valid is refused rather than ignored, as with a ticket: a
                # partner who sends the wrong secret learns it at once [I].
                if not app.check_secret(app_token):
                    raise Unauthorized("The application token does not match the access token")
                if world.active_authorization(app.client_id, tenant.ctx) is None:
                    raise Unauthorized("The application is not authorized for this tenant")
                application = app
            user = world.find_user(record.username)
            membership = user.membership(tenant.ctx) if user else None
            if user is None or membership is None:
                raise Unauthorized("The user no longer has access to this tenant")
            return Principal(tenant, app, user, membership, application)

    def authenticate_rest(self, request: Request, tenant: Tenant) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthorized("Authorization is required (SOTicket or Bearer)")
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        app_token = request.headers.get(APP_TOKEN_HEADER)
        if scheme.lower() == TICKET_SCHEME and value.startswith(TICKET_PREFIX):
            return self.authenticate_ticket(tenant, value, app_token)
        if scheme.lower() == BEARER_SCHEME and value.startswith(ACCESS_TOKEN_PREFIX):
            return self.authenticate_access_token(tenant, value, app_token)
        # Basic is not allowed online (protocol §5), nor is anything else.
        raise Unauthorized("Unsupported authorization: use SOTicket 7T:... or Bearer 8A:...")

    # -- REST ---------------------------------------------------------------------------------

    async def current_principal(self, request: Request) -> Response:
        try:
            tenant = self._tenant(request.path_params["ctx"])
            principal = self.authenticate_rest(request, tenant)
        except UnknownTenant:
            return JSONResponse(
                error_body(NOT_FOUND_ERROR_TYPE, f"Unknown tenant {request.path_params['ctx']}"),
                404,
            )
        except Unauthorized as exc:
            return unauthorized_response(exc.message)
        return JSONResponse(principal_carrier(principal))

    # -- SOAP ---------------------------------------------------------------------------------

    async def user_service(self, request: Request) -> Response:
        version = SOAP11_NS
        try:
            env = await read_envelope(request, (SOAP11_NS, SOAP12_NS))
            version = env.version_ns
            operation = env.body
            if operation.ns != NETSERVER_NS or operation.name != GET_USER_OPERATION:
                raise SoapFault(f"the operation {operation.name} is not supported by the emulator")
            action = request.headers.get("soapaction", "").strip().strip('"')
            if action and action != GET_USER_ACTION:  # the WSDL's soapAction, when one is sent
                raise SoapFault(f"the action {action} does not match the body")
            user_id = _user_id(operation.value(NETSERVER_NS, "UserId"))
            tenant = self._tenant(request.path_params["ctx"])
            ticket, app_token = _soap_credentials(env)
        except SoapFault as fault:
            return fault_response(fault, version)
        except UnknownTenant:
            return fault_response(
                SoapFault(f"Unknown tenant {request.path_params['ctx']}"), version
            )
        try:
            if ticket.startswith(TICKET_PREFIX):
                principal = self.authenticate_ticket(tenant, ticket, app_token)
            elif ticket.startswith(ACCESS_TOKEN_PREFIX):
                principal = self.authenticate_access_token(tenant, ticket, app_token)
            else:
                raise Unauthorized("Credentials/Ticket must hold a 7T: ticket or an 8A: token")
        except Unauthorized as exc:
            return _netserver_answer(version, None, exc.message)
        return _netserver_answer(version, self.user_record(principal, user_id), None)

    def user_record(self, caller: Principal, user_id: int) -> dict[str, Any] | None:
        """The `User` GetUser answers: the caller for 0 or its own id, another member of the
        tenant by associate id, None (a nil Response) for an id the tenant does not have [I]."""
        if user_id in (CURRENT_USER_ID, principal_carrier(caller)["AssociateId"]):
            return user_record(caller)
        with self.world.lock:
            users = list(self.world.users.values())
        for user in users:
            membership = user.membership(caller.tenant.ctx)
            if membership is not None and membership.associate_id == user_id:
                return user_record(Principal(caller.tenant, caller.app, user, membership))
        return None


def user_record(principal: Principal) -> dict[str, Any]:
    """`User` (Services88 User.svc), members in the order of SuperOffice's GetUser example;
    values from the same principal as `SoPrincipalCarrier`, so REST and SOAP agree. Members the
    world does not model (licenses, credentials, ...) are left out (all are minOccurs=0) [I]."""
    carrier = principal_carrier(principal)
    person = None
    if carrier["IsPerson"]:
        person = {
            "PersonId": carrier["PersonId"],
            "Email": carrier["EMailAddress"],
            "FullName": carrier["FullName"],
            "CountryId": carrier["CountryId"],
            "ContactId": carrier["ContactId"],
            "AssociateName": carrier["Associate"],
            "AssociateId": carrier["AssociateId"],
        }
    return {
        "AssociateId": carrier["AssociateId"],
        "Name": carrier["Associate"],
        "Rank": 0,
        "Tooltip": carrier["FullName"],
        "Role": {
            "Id": carrier["RoleId"],
            "Value": carrier["RoleName"],
            "Tooltip": carrier["RoleDescription"],
        },
        "UserGroup": {"Value": USER_GROUP_NAME, "Tooltip": "", "Id": carrier["GroupId"]},
        "Person": person,
        "Deleted": False,
        "EjUserId": carrier["EjUserId"],
        "Type": carrier["UserType"],
        "IsPersonRetired": False,
        "IsOnTravel": False,
        "UserName": carrier["UserName"],
    }


def _user_id(text: str | None) -> int:
    # `UserId` is an xs:int, optional; absent means 0 [I].
    if text is None or not text.strip():
        return CURRENT_USER_ID
    value = text.strip()
    if not value.lstrip("-").isdigit() or len(value) > 11 or not -(2**31) <= int(value) < 2**31:
        raise SoapFault("UserId is not an xs:int")
    return int(value)


def _soap_credentials(env: Envelope) -> tuple[str, str | None]:
    app_token = env.header_value(NETSERVER_NS, "ApplicationToken")
    credentials = env.header(NETSERVER_NS, "Credentials")
    ticket = credentials.value(NETSERVER_NS, "Ticket") if credentials is not None else None
    return (ticket or "").strip(), app_token.strip() if app_token else None


def _xml_value(name: str, value: Any) -> str:
    if value is None:
        return text_element("ns", name, None)
    if isinstance(value, dict):
        inner = "".join(_xml_value(k, v) for k, v in value.items())
        return f"<ns:{name}>{inner}</ns:{name}>"
    if isinstance(value, bool):
        return f"<ns:{name}>{'true' if value else 'false'}</ns:{name}>"
    if isinstance(value, list):
        items = "".join(
            f"<ns:{'int' if isinstance(v, int) else 'string'}>{escape(str(v))}"
            f"</ns:{'int' if isinstance(v, int) else 'string'}>"
            for v in value
        )
        return f"<ns:{name}>{items}</ns:{name}>"
    return text_element("ns", name, str(value))


def _netserver_answer(version: str, carrier: dict[str, Any] | None, error: str | None) -> Response:
    # NetServer answers carry `Succeeded` and, on failure, `ExceptionInfo` as SOAP headers
    # (elements of the Services88 WSDL); using them for a refused credential is [I].
    headers = f"<ns:Succeeded>{'true' if error is None else 'false'}</ns:Succeeded>"
    if error is not None:
        headers += (
            "<ns:ExceptionInfo>"
            + text_element("ns", "Message", error)
            + text_element("ns", "ExceptionType", UNAUTHORIZED_ERROR_TYPE)
            + text_element("ns", "Source", ERROR_SOURCE)
            + "</ns:ExceptionInfo>"
        )
    if error is not None:
        body = f"<ns:{GET_USER_OPERATION}Response/>"
    else:
        response = _xml_value("Response", carrier)
        body = f"<ns:{GET_USER_OPERATION}Response>{response}</ns:{GET_USER_OPERATION}Response>"
    xml = envelope(version, body, headers=headers, namespaces={"ns": NETSERVER_NS})
    return soap_response(version, xml)
