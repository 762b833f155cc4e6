"""The PartnerSystemUser WSDL the emulator serves at `?wsdl` and `?singleWsdl` (protocol §4.5).

Written from the protocol reference's schema facts and the structure of SuperOffice's published
WSDL (SuperOffice/devnet-python-system-user `PartnerSystemUserService.wsdl`; SuperOfficeDocs
`docs/en/api/authentication/online/auth-application/get-system-user-ticket.md` links the same
file as `partnersystemuserservice.zip`): one document/literal operation `Authenticate` on the
contract `IPartnerSystemUserService`, a SOAP 1.1 `BasicHttpBinding_IPartnerSystemUserService`,
the literal SOAP headers `ApplicationToken` and `ContextIdentifier`, and the two body elements
with their `xs:sequence` order.

Differences from the published file, all [I]: the service address is the emulator's own; only
the plain-HTTP port is described, because the emulator serves no TLS (the published file adds a
second binding, `...1`, with a transport-security policy for its https port); WCF's generic
serialization schema (`anyType`, `guid`, `duration`, ...), which no part of this service uses,
is left out. `?wsdl` and `?singleWsdl` get the same single document: WCF's `?wsdl` may split the
schemas into `?xsd=xsdN` imports, which describe the same thing [I].
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

SERVICE_NAMESPACE = "http://www.superoffice.com/superid/partnersystemuser/0.1"
CONTRACT = "IPartnerSystemUserService"
OPERATION = "Authenticate"
INPUT_ACTION = f"{SERVICE_NAMESPACE}/{CONTRACT}/{OPERATION}"
OUTPUT_ACTION = f"{SERVICE_NAMESPACE}/{CONTRACT}/{OPERATION}Response"
BINDING = f"BasicHttpBinding_{CONTRACT}"
SERVICE = "PartnerSystemUserService"
# The enumeration of `ReturnTokenType` (simple type `TokenType`), exactly as in the schema.
TOKEN_TYPES = ("Jwt", "Saml")

_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_SOAP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"
_WSAW_NS = "http://www.w3.org/2006/05/addressing/wsdl"
_HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"


def _schema() -> str:
    enumeration = "".join(f'<xs:enumeration value="{value}"/>' for value in TOKEN_TYPES)
    return (
        f'<xs:schema elementFormDefault="qualified" targetNamespace="{SERVICE_NAMESPACE}">'
        # Request body: both members optional; the token nillable, the type an enumeration.
        '<xs:element name="AuthenticationRequest"><xs:complexType><xs:sequence>'
        '<xs:element minOccurs="0" name="SignedSystemToken" nillable="true" type="xs:string"/>'
        '<xs:element minOccurs="0" name="ReturnTokenType" type="tns:TokenType"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        f'<xs:simpleType name="TokenType"><xs:restriction base="xs:string">{enumeration}'
        "</xs:restriction></xs:simpleType>"
        '<xs:element name="TokenType" nillable="true" type="tns:TokenType"/>'
        # The two SOAP headers.
        '<xs:element name="ApplicationToken" nillable="true" type="xs:string"/>'
        '<xs:element name="ContextIdentifier" nillable="true" type="xs:string"/>'
        # Response body, in this order: IsSuccessful, Token, ErrorMessage.
        '<xs:element name="AuthenticationResponse"><xs:complexType><xs:sequence>'
        '<xs:element minOccurs="0" name="IsSuccessful" type="xs:boolean"/>'
        '<xs:element minOccurs="0" name="Token" nillable="true" type="xs:string"/>'
        '<xs:element minOccurs="0" name="ErrorMessage" nillable="true" type="xs:string"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:schema>"
    )


def partner_system_user_wsdl(address: str) -> str:
    """The WSDL 1.1 document for the service at `address` (the emulator's own `.svc` URL)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<wsdl:definitions name="{SERVICE}" targetNamespace="{SERVICE_NAMESPACE}"'
        f' xmlns:wsdl="{_WSDL_NS}" xmlns:soap="{_SOAP_BINDING_NS}" xmlns:xs="{_XSD_NS}"'
        f' xmlns:wsaw="{_WSAW_NS}" xmlns:tns="{SERVICE_NAMESPACE}">'
        f"<wsdl:types>{_schema()}</wsdl:types>"
        # Messages: the body wrapper, the two headers, the answer.
        '<wsdl:message name="AuthenticationRequest">'
        '<wsdl:part name="parameters" element="tns:AuthenticationRequest"/></wsdl:message>'
        '<wsdl:message name="AuthenticationRequest_Headers">'
        '<wsdl:part name="ApplicationToken" element="tns:ApplicationToken"/>'
        '<wsdl:part name="ContextIdentifier" element="tns:ContextIdentifier"/></wsdl:message>'
        '<wsdl:message name="AuthenticationResponse">'
        '<wsdl:part name="parameters" element="tns:AuthenticationResponse"/></wsdl:message>'
        f'<wsdl:portType name="{CONTRACT}"><wsdl:operation name="{OPERATION}">'
        f'<wsdl:input wsaw:Action="{INPUT_ACTION}" name="AuthenticationRequest"'
        ' message="tns:AuthenticationRequest"/>'
        f'<wsdl:output wsaw:Action="{OUTPUT_ACTION}" name="AuthenticationResponse"'
        ' message="tns:AuthenticationResponse"/>'
        "</wsdl:operation></wsdl:portType>"
        # SOAP 1.1 over HTTP, document/literal, the two headers literal.
        f'<wsdl:binding name="{BINDING}" type="tns:{CONTRACT}">'
        f'<soap:binding transport="{_HTTP_TRANSPORT}"/>'
        f'<wsdl:operation name="{OPERATION}">'
        f'<soap:operation soapAction="{INPUT_ACTION}" style="document"/>'
        '<wsdl:input name="AuthenticationRequest">'
        '<soap:header message="tns:AuthenticationRequest_Headers" part="ApplicationToken"'
        ' use="literal"/>'
        '<soap:header message="tns:AuthenticationRequest_Headers" part="ContextIdentifier"'
        ' use="literal"/>'
        '<soap:body use="literal"/></wsdl:input>'
        '<wsdl:output name="AuthenticationResponse"><soap:body use="literal"/></wsdl:output>'
        "</wsdl:operation></wsdl:binding>"
        f'<wsdl:service name="{SERVICE}">'
        f'<wsdl:port name="{BINDING}" binding="tns:{BINDING}">'
        f"<soap:address location={quoteattr(address)}/></wsdl:port>"
        "</wsdl:service></wsdl:definitions>"
    )
