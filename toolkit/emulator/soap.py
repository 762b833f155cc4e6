"""SOAP envelopes for the emulated WCF services: a safe parser and the answers.

Parsing uses expat directly (no dependency beyond the standard library) and refuses any DOCTYPE,
entity declaration or external reference, so no entity expansion or external fetch can happen;
the body size is bounded before parsing. Faults follow SOAP 1.1 §4.4 (`s:Client` / `s:Server`,
HTTP 500, SOAP 1.1 §6.2) or SOAP 1.2 (`s:Sender`) when the request used the 1.2 envelope.

A WCF dispatcher refuses a message with a fault code of its own namespace (`a:ActionNotSupported`,
`a:DeserializationFailed`, `faultstring xml:lang="en-US"`) and a request whose Content-Type is
not the binding's with HTTP 415 and no envelope at all (`wcf_content_type_refusal`). Those shapes
are WCF's documented and widely seen behaviour, not SuperOffice's documentation [I].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from toolkit.emulator.errors import BadRequestError
from toolkit.emulator.wire import read_body

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_CONTENT_TYPE = "text/xml"
SOAP12_CONTENT_TYPE = "application/soap+xml"
# An envelope here carries a few tokens; anything bigger is refused before it is parsed.
MAX_ENVELOPE_BYTES = 64 * 1024
MAX_DEPTH = 32  # no legitimate envelope of ours nests deeper


# WCF's dispatcher fault codes live in this namespace (e.g. `a:DeserializationFailed`). [I]
WCF_DISPATCHER_NS = (
    "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher"
)


class SoapFault(Exception):
    """Ends a SOAP request with a Fault. `client` = the sender's fault (s:Client / s:Sender);
    `wcf_code` = a WCF dispatcher code (`ActionNotSupported`, ...) instead of those."""

    def __init__(
        self, reason: str, *, client: bool = True, status: int = 500, wcf_code: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client = client
        self.status = status
        self.wcf_code = wcf_code


def action_not_supported(action: str) -> SoapFault:
    """WCF's answer to a SOAPAction no operation of the endpoint has (ContractFilter). [I]"""
    return SoapFault(
        f"The message with Action '{action}' cannot be processed at the receiver, due to a "
        "ContractFilter mismatch at the EndpointDispatcher. This may be because of either a "
        "contract mismatch (mismatched Actions between sender and receiver) or a "
        "binding/security mismatch between the sender and the receiver.  Check that sender and "
        "receiver have the same contract and the same binding (including security requirements, "
        "e.g. Message, Transport, None).",
        wcf_code="ActionNotSupported",
    )


def deserialization_failed(inner: str) -> SoapFault:
    """WCF's answer to a body its formatter cannot deserialize (wrong element, bad enum). [I]"""
    return SoapFault(
        f"The formatter threw an exception while trying to deserialize the message: {inner}",
        wcf_code="DeserializationFailed",
    )


def wcf_content_type_refusal(received: str, expected: str) -> Response:
    """HTTP 415 for a Content-Type the binding does not take (a SOAP 1.2 request to a SOAP 1.1
    basicHttpBinding). WCF sends no body and puts this sentence in the HTTP status line; ASGI
    cannot set a reason phrase, so the emulator sends the sentence as a text/plain body. [I]"""
    message = (
        f"Cannot process the message because the content type '{received}' was not the "
        f"expected type '{expected}'."
    )
    return Response(message, 415, media_type="text/plain; charset=utf-8")


@dataclass
class Element:
    ns: str
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def child(self, ns: str, name: str) -> Element | None:
        found = [c for c in self.children if c.ns == ns and c.name == name]
        if len(found) > 1:
            raise SoapFault(f"element {name} appears more than once")
        return found[0] if found else None

    def value(self, ns: str, name: str) -> str | None:
        """Text of a simple child element; None when absent. Child elements are refused."""
        element = self.child(ns, name)
        if element is None:
            return None
        if element.children:
            raise SoapFault(f"element {name} must hold text only")
        return element.text


@dataclass
class Envelope:
    version_ns: str  # SOAP11_NS or SOAP12_NS
    headers: list[Element]  # SOAP header blocks, plus blocks placed directly in the Envelope
    body: Element  # the single element inside Body

    def header(self, ns: str, name: str) -> Element | None:
        found = [h for h in self.headers if h.ns == ns and h.name == name]
        if len(found) > 1:
            raise SoapFault(f"header {name} appears more than once")
        return found[0] if found else None

    def header_value(self, ns: str, name: str) -> str | None:
        element = self.header(ns, name)
        if element is None:
            return None
        if element.children:
            raise SoapFault(f"header {name} must hold text only")
        return element.text


def _split(qualified: str) -> tuple[str, str]:
    ns, sep, name = qualified.rpartition("}")
    return (ns, name) if sep else ("", qualified)


def parse_xml(data: bytes) -> Element:
    """Parse one XML document into `Element`s; refuses DTDs, entities and deep nesting."""
    parser = expat.ParserCreate(namespace_separator="}")
    stack: list[Element] = []
    root: list[Element] = []

    def refuse(*_: object) -> Any:
        raise SoapFault("DOCTYPE and entity declarations are not allowed")

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise SoapFault("the XML nests too deeply")
        ns, local = _split(name)
        element = Element(ns, local, {_split(k)[1]: v for k, v in attrs.items()})
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(_: str) -> None:
        stack.pop()

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
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.errors.messages[exc.code]
        raise SoapFault(f"the request is not well-formed XML ({reason})") from exc
    if len(root) != 1:
        raise SoapFault("the request is not one XML document")
    _strip(root[0])
    return root[0]


def _strip(element: Element) -> None:
    # Whitespace between child elements is formatting, not content.
    if element.children:
        if element.text.strip():
            raise SoapFault(f"element {element.name} mixes text and elements")
        element.text = ""
        for child in element.children:
            _strip(child)


async def read_envelope(request: Request, versions: tuple[str, ...] = (SOAP11_NS,)) -> Envelope:
    """Read, bound and parse a SOAP envelope of one of `versions`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = {SOAP11_NS: SOAP11_CONTENT_TYPE, SOAP12_NS: SOAP12_CONTENT_TYPE}
    if content_type not in {allowed[v] for v in versions}:
        wanted = " or ".join(allowed[v] for v in versions)
        raise SoapFault(f"Content-Type must be {wanted}", status=415)
    try:
        data = await read_body(request, MAX_ENVELOPE_BYTES)
    except BadRequestError as exc:
        raise SoapFault(exc.detail, status=exc.status) from exc
    root = parse_xml(data)
    if root.name != "Envelope" or root.ns not in versions:
        raise SoapFault("the document is not a SOAP Envelope of a supported version")
    if allowed[root.ns] != content_type:
        raise SoapFault("the Content-Type does not match the SOAP version")
    headers: list[Element] = []
    bodies = []
    header_blocks = 0
    for child in root.children:
        if child.ns == root.ns and child.name == "Header":
            header_blocks += 1
            headers.extend(child.children)
        elif child.ns == root.ns and child.name == "Body":
            bodies.append(child)
        elif child.ns == root.ns:
            raise SoapFault(f"unexpected envelope element {child.name}")
        else:
            # NetServer's documented samples put ApplicationToken and Credentials directly
            # inside the Envelope (protocol §5), so such blocks count as headers.
            headers.append(child)
    if header_blocks > 1 or len(bodies) != 1:
        raise SoapFault("the Envelope needs one Body and at most one Header")
    if len(bodies[0].children) != 1:
        raise SoapFault("the Body must hold exactly one element")
    for header in headers:
        if header.attrs.get("mustUnderstand") in ("1", "true"):
            raise SoapFault(f"header {header.name} is not understood")
    return Envelope(root.ns, headers, bodies[0].children[0])


def text_element(prefix: str, name: str, value: str | None) -> str:
    """`<p:Name>value</p:Name>`, or an xsi:nil element for None."""
    if value is None:
        return f'<{prefix}:{name} i:nil="true"/>'
    return f"<{prefix}:{name}>{escape(value)}</{prefix}:{name}>"


def envelope(
    version_ns: str, body: str, *, headers: str = "", namespaces: dict[str, str] | None = None
) -> str:
    declared = "".join(
        f' xmlns:{prefix}="{escape(uri)}"' for prefix, uri in (namespaces or {}).items()
    )
    header_xml = f"<s:Header>{headers}</s:Header>" if headers else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{version_ns}"'
        ' xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
        f"{declared}>{header_xml}<s:Body>{body}</s:Body></s:Envelope>"
    )


def soap_response(version_ns: str, xml: str, status: int = 200) -> Response:
    media = SOAP12_CONTENT_TYPE if version_ns == SOAP12_NS else SOAP11_CONTENT_TYPE
    return Response(xml, status, media_type=f"{media}; charset=utf-8")


def fault_response(fault: SoapFault, version_ns: str = SOAP11_NS) -> Response:
    reason = escape(fault.reason)
    if version_ns == SOAP12_NS:
        code = "s:Sender" if fault.client else "s:Receiver"
        body = (
            f"<s:Fault><s:Code><s:Value>{code}</s:Value></s:Code>"
            f'<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>'
        )
    elif fault.wcf_code is not None:
        body = (
            f'<s:Fault><faultcode xmlns:a="{WCF_DISPATCHER_NS}">a:{fault.wcf_code}</faultcode>'
            f'<faultstring xml:lang="en-US">{reason}</faultstring></s:Fault>'
        )
    else:
        code = "s:Client" if fault.client else "s:Server"
        body = (
            f"<s:Fault><faultcode>{code}</faultcode>"
            f'<faultstring xml:lang="en">{reason}</faultstring></s:Fault>'
        )
    return soap_response(version_ns, envelope(version_ns, body), fault.status)
