"""The SOAP credential: NetServer calls with ``ApplicationToken`` + ``Credentials/Ticket``.

Protocol §5: a NetServer SOAP call goes to ``{netserver_url}{Service}.svc`` and carries
``<NS:ApplicationToken>{client secret}</NS:ApplicationToken>`` and
``<NS:Credentials><NS:Ticket>{7T:... ticket or 8A:... token}</NS:Ticket></NS:Credentials>`` with
NS = ``http://www.superoffice.net/ws/crm/NetServer/Services88`` (version-specific). The
documented samples place the two blocks directly inside the Envelope; a WCF service reads
message headers from ``<s:Header>``, so they are sent there [I] (the emulator accepts both).

Which operation: SuperOffice documents no SOAP "current principal" operation (``SoPrincipal.svc``
only authenticates). :meth:`SoapClient.current_principal` calls what SuperOffice's own system
user SOAP example calls, ``User.svc`` ``GetUser`` with ``UserId`` 0 (SuperOfficeDocs
``docs/en/api/authentication/online/auth-application/index.md``); that 0 means the calling user
is not documented [I]. The ``SOAPAction`` is ``{namespace}/{Service}/{Operation}``, as every
operation of the Services88 WSDLs has it (``docs/api/api-reference/soap/Services88/
Services88-User.md``: ``.../Services88/User/GetUser``), and the answer is
``GetUserResponse/Response``, a ``User`` (``.../Services88/User/GetUser.md``). A refused
credential is answered, as NetServer does, with the header ``Succeeded=false`` and an
``ExceptionInfo`` (or a SOAP Fault): both raise :class:`~toolkit.errors.SoapFaultError`.

Envelope building and response parsing are pure. Parsing is safe: expat with DOCTYPE, entity
declarations and external entities refused (no entity expansion, no external fetch), the size
and the nesting depth bounded. The base URL should come from the state API's ``Endpoint``
(:attr:`~toolkit.tenant.status.TenantStatus.netserver_url`) rather than the ``netserver_url``
claim, which names the host at sign-in time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from xml.parsers import expat
from xml.sax.saxutils import escape

import httpx

from toolkit.claims import REDACTED
from toolkit.errors import SoapFaultError, UnexpectedResponseError
from toolkit.http import RetryPolicy, redact_text, send_request, url_for_error

__all__ = [
    "CURRENT_USER_ID",
    "GET_USER_OPERATION",
    "NETSERVER_NAMESPACE",
    "SOAP_ENVELOPE_NAMESPACE",
    "SoapClient",
    "SoapRequest",
    "build_credential_headers",
    "build_soap_request",
    "parse_soap_response",
    "parse_xml",
]

NETSERVER_NAMESPACE: Final = "http://www.superoffice.net/ws/crm/NetServer/Services88"  # §5 [C]
SOAP_ENVELOPE_NAMESPACE: Final = "http://schemas.xmlsoap.org/soap/envelope/"  # SOAP 1.1
SOAP_CONTENT_TYPE: Final = "text/xml; charset=utf-8"
USER_SERVICE: Final = "User"  # User.svc (SD:sysuser's SOAP example) [C]
GET_USER_OPERATION: Final = "GetUser"  # [C] SD:sysuser, Services88 User WSDL
CURRENT_USER_ID: Final = 0  # the UserId SD:sysuser's example sends; "the caller" is [I]
XSI_NAMESPACE: Final = "http://www.w3.org/2001/XMLSchema-instance"
# A NetServer answer for one entity is a few kilobytes; anything past this is not one.
MAX_SOAP_RESPONSE_BYTES: Final = 2 * 1024 * 1024
MAX_XML_DEPTH: Final = 64


def _text(value: str) -> str:
    return escape(value, {'"': "&quot;", "'": "&apos;"})


def build_credential_headers(*, application_token: str, ticket: str, prefix: str = "ns") -> str:
    """The two credential blocks, XML-escaped, for namespace prefix ``prefix`` (§5)."""
    if not application_token or not ticket:
        raise ValueError("application_token and ticket are required")
    return (
        f"<{prefix}:ApplicationToken>{_text(application_token)}</{prefix}:ApplicationToken>"
        f"<{prefix}:Credentials><{prefix}:Ticket>{_text(ticket)}</{prefix}:Ticket>"
        f"</{prefix}:Credentials>"
    )


@dataclass(frozen=True, repr=False)
class SoapRequest:
    """One SOAP request, ready to POST: ``url``, ``headers``, ``content``."""

    url: str
    headers: Mapping[str, str]
    content: bytes
    operation: str

    def __repr__(self) -> str:
        return f"SoapRequest({self.operation!r}, {url_for_error(self.url)!r}, <redacted body>)"


def build_soap_request(
    netserver_url: str,
    service: str,
    operation: str,
    *,
    application_token: str,
    ticket: str,
    parameters: Mapping[str, str | int | bool] | None = None,
) -> SoapRequest:
    """``POST {netserver_url}{service}.svc`` with ``<ns:{operation}>`` and its simple
    ``parameters`` in the body; every value is escaped."""
    for name in (service, operation, *(parameters or {})):
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a plain XML name")
    body = "".join(
        f"<ns:{name}>{_text(_xml_value(value))}</ns:{name}>"
        for name, value in (parameters or {}).items()
    )
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_ENVELOPE_NAMESPACE}" xmlns:ns="{NETSERVER_NAMESPACE}">'
        "<s:Header>"
        f"{build_credential_headers(application_token=application_token, ticket=ticket)}"
        "</s:Header>"
        f"<s:Body><ns:{operation}>{body}</ns:{operation}></s:Body>"
        "</s:Envelope>"
    )
    base = netserver_url if netserver_url.endswith("/") else f"{netserver_url}/"
    return SoapRequest(
        url=f"{base}{service}.svc",
        headers={
            "Content-Type": SOAP_CONTENT_TYPE,
            "SOAPAction": f'"{NETSERVER_NAMESPACE}/{service}/{operation}"',
            "Accept": "text/xml",
        },
        content=envelope.encode("utf-8"),
        operation=operation,
    )


def _xml_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------------
# Safe parsing


@dataclass
class XmlElement:
    """A parsed element: namespace, local name, text (stripped), children."""

    namespace: str
    name: str
    text: str = ""
    children: list[XmlElement] = field(default_factory=list)
    nil: bool = False  # xsi:nil="true"

    def find(self, namespace: str | None, name: str) -> XmlElement | None:
        for child in self.children:
            if child.name == name and (namespace is None or child.namespace == namespace):
                return child
        return None


class _Refused(Exception):
    pass


def parse_xml(content: bytes, *, max_bytes: int = MAX_SOAP_RESPONSE_BYTES) -> XmlElement:
    """Parse ``content`` with expat, refusing DTDs, entity declarations and external entities.

    Raises :class:`~toolkit.errors.UnexpectedResponseError` for anything else than one
    well-formed, bounded document.
    """
    if len(content) > max_bytes:
        raise UnexpectedResponseError("the XML document is too large")
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[XmlElement] = []
    roots: list[XmlElement] = []

    def refuse(*_: object) -> Any:
        raise _Refused("DOCTYPE, entity declarations and external entities are refused")

    def start(qualified: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_XML_DEPTH:
            raise _Refused("the XML nests too deeply")
        namespace, _, name = qualified.rpartition(" ")
        nil = attrs.get(f"{XSI_NAMESPACE} nil", "").strip() in ("true", "1")
        element = XmlElement(namespace, name, nil=nil)
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(_qualified: str) -> None:
        element = stack.pop()
        element.text = element.text.strip()

    def text(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(content, True)
    except _Refused as exc:
        raise UnexpectedResponseError(f"unsafe XML: {exc}") from None
    except expat.ExpatError as exc:
        raise UnexpectedResponseError(f"the answer is not well-formed XML ({exc})") from None
    if len(roots) != 1:
        raise UnexpectedResponseError("the answer is not one XML document")
    return roots[0]


def _value(element: XmlElement) -> Any:
    """Text for a leaf (None for xsi:nil); a list for an array (children all alike, e.g.
    ``<string>``); a dict."""
    if element.nil:
        return None
    if not element.children:
        return element.text
    names = {child.name for child in element.children}
    if (len(element.children) > 1 and len(names) == 1) or names <= {"string", "int"}:
        return [_value(child) for child in element.children]
    return {child.name: _value(child) for child in element.children}


def parse_soap_response(content: bytes, operation: str, *, status_code: int = 200) -> Any:
    """The ``{operation}Response/Response`` value of a NetServer answer (pure).

    A SOAP Fault, or the header ``Succeeded=false`` with ``ExceptionInfo``, raises
    :class:`~toolkit.errors.SoapFaultError` (message redacted).
    """
    root = parse_xml(content)
    if root.namespace != SOAP_ENVELOPE_NAMESPACE or root.name != "Envelope":
        namespaces = {"http://www.w3.org/2003/05/soap-envelope"}
        if root.name != "Envelope" or root.namespace not in namespaces:
            raise UnexpectedResponseError("the answer is not a SOAP Envelope")
    body = root.find(root.namespace, "Body")
    header = root.find(root.namespace, "Header")
    if body is None:
        raise UnexpectedResponseError("the SOAP answer has no Body")
    fault = body.find(None, "Fault")
    if fault is not None:
        raise _fault_error(fault, status_code)
    if header is not None:
        succeeded = header.find(None, "Succeeded")
        if succeeded is not None and succeeded.text.strip().lower() == "false":
            info = header.find(None, "ExceptionInfo")
            code = message = None
            if info is not None:
                code = _leaf(info, "ExceptionType")
                message = _leaf(info, "Message")
            shown = redact_text(message) if message else None
            raise SoapFaultError(
                f"{operation}: NetServer refused the call: {code or 'error'}: {shown or ''}",
                fault_code=code,
                fault_string=shown,
                status_code=status_code,
            )
    answer = body.find(None, f"{operation}Response")
    if answer is None:
        raise UnexpectedResponseError(f"the SOAP answer holds no {operation}Response")
    response = answer.find(None, "Response")
    return None if response is None else _value(response)


def _leaf(element: XmlElement, name: str) -> str | None:
    found = element.find(None, name)
    return None if found is None else found.text or None


def _fault_error(fault: XmlElement, status_code: int) -> SoapFaultError:
    # SOAP 1.1: faultcode / faultstring; SOAP 1.2: Code/Value, Reason/Text.
    code = _leaf(fault, "faultcode")
    reason = _leaf(fault, "faultstring")
    if code is None:
        code_element = fault.find(None, "Code")
        code = None if code_element is None else _leaf(code_element, "Value")
    if reason is None:
        reason_element = fault.find(None, "Reason")
        reason = None if reason_element is None else _leaf(reason_element, "Text")
    shown = redact_text(reason) if reason else None
    return SoapFaultError(
        f"SOAP fault {code or ''}: {shown or ''}".strip(),
        fault_code=code,
        fault_string=shown,
        status_code=status_code,
    )


# --------------------------------------------------------------------------------------------
# The caller


class SoapClient:
    """NetServer SOAP services of one tenant with one credential (§5).

    ``netserver_url`` is the SOAP root (``https://host/Cust12345/Remote/Services88/``);
    ``ticket`` the ``7T:`` ticket or ``8A:`` access token, or a callable giving a current one
    (e.g. ``lambda: manager.ticket(app, ctx).ticket``); ``application_token`` the client secret.
    ``retry`` applies to connect errors only (SOAP calls are POSTs).
    """

    def __init__(
        self,
        http: httpx.Client,
        netserver_url: str,
        *,
        application_token: str,
        ticket: str | Callable[[], str],
        retry: RetryPolicy | None = None,
    ) -> None:
        self.http = http
        self.netserver_url = netserver_url
        self._application_token = application_token
        self._ticket = ticket
        self.retry = retry

    def __repr__(self) -> str:
        return f"SoapClient({url_for_error(self.netserver_url)!r}, credentials={REDACTED!r})"

    def call(
        self,
        service: str,
        operation: str,
        parameters: Mapping[str, str | int | bool] | None = None,
    ) -> Any:
        """Call ``operation`` on ``{service}.svc``; its ``Response`` value (text/dict/list)."""
        ticket = self._ticket() if callable(self._ticket) else self._ticket
        request = build_soap_request(
            self.netserver_url,
            service,
            operation,
            application_token=self._application_token,
            ticket=ticket,
            parameters=parameters,
        )
        response = send_request(
            self.http,
            "POST",
            request.url,
            what=f"SOAP {service}.{operation}",
            retry=self.retry,
            headers=dict(request.headers),
            content=request.content,
        )
        content_type = response.headers.get("content-type", "")
        if response.status_code not in (200, 500) or "xml" not in content_type.lower():
            raise UnexpectedResponseError(
                f"SOAP {service}.{operation}: HTTP {response.status_code} "
                f"({content_type or 'no content type'}) from {url_for_error(request.url)}",
                url=url_for_error(request.url),
                status_code=response.status_code,
            )
        return parse_soap_response(response.content, operation, status_code=response.status_code)

    def get_user(self, user_id: int) -> dict[str, Any] | None:
        """``User.svc`` ``GetUser``: the ``User`` record (a dict), None when there is none."""
        value = self.call(USER_SERVICE, GET_USER_OPERATION, {"UserId": user_id})
        if value is not None and not isinstance(value, dict):
            raise UnexpectedResponseError("GetUser answered no User")
        return value

    def current_principal(self) -> dict[str, Any]:
        """Who the credential is: ``GetUser`` with ``UserId`` 0, as SuperOffice's system user
        SOAP example asks (SD:sysuser); a ``User`` record (``AssociateId``, ``Name``, ``Type``
        e.g. ``SystemAssociate``, ``UserName``, ...)."""
        value = self.get_user(CURRENT_USER_ID)
        if value is None:
            raise UnexpectedResponseError("GetUser answered no User for the caller")
        return value
