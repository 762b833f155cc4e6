"""The baseline: what SuperOffice's Python sample does (devnet-python-system-user), per tenant.

Sequential; a new HTTP client (so a new connection) for every request; the system user token
signed with the application's RSA key (PKCS#1 v1.5, SHA-256 over ``token.yyyyMMddHHmm``,
protocol §4.3); the answer's JWT validated with a key set fetched again for every validation;
no ticket cache. Written here on purpose, independent of the toolkit's exchange code: only the
toolkit's key loader is used, once, outside the timed loop (the sample converts the RSAKeyValue
XML to PEM once, too).

Deliberately generous to the baseline: it shares one prebuilt SSL context (building one costs
tens of milliseconds of CPU per client), and on the emulator's plain-HTTP loopback a new
connection costs a TCP handshake only. Against SuperOffice Online each new connection is also a
TLS handshake, one or two more round trips per request, so the real gap is wider.
"""

from __future__ import annotations

import base64
import ssl
from datetime import UTC, datetime

import httpx
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from benchmarks.counting import CountingTransport, RequestCounter

AUTHENTICATE_PATH = "/Login/api/PartnerSystemUser/Authenticate"
JWKS_PATH = "/login/.well-known/jwks"
TICKET_CLAIM = "http://schemes.superoffice.net/identity/ticket"
SYSTEM_USER_ISSUER = "SuperOffice AS"
TIMEOUT_SECONDS = 30.0

_SSL = ssl.create_default_context()


def _client(counter: RequestCounter) -> httpx.Client:
    # A fresh client and transport: a new connection for this one request.
    transport = CountingTransport(httpx.HTTPTransport(verify=_SSL), counter)
    return httpx.Client(transport=transport, timeout=TIMEOUT_SECONDS)


def sign(system_user_token: str, private_key: rsa.RSAPrivateKey) -> str:
    timestamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
    data = f"{system_user_token}.{timestamp}"
    signature = private_key.sign(data.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return f"{data}.{base64.b64encode(signature).decode('ascii')}"


def sample_exchange(
    base_url: str,
    *,
    application_token: str,
    private_key: rsa.RSAPrivateKey,
    context_identifier: str,
    system_user_token: str,
    counter: RequestCounter,
) -> str:
    """One tenant's exchange, the sample's way; returns the ticket."""
    body = {
        "SignedSystemToken": sign(system_user_token, private_key),
        "ApplicationToken": application_token,
        "ContextIdentifier": context_identifier,
        "ReturnTokenType": "JWT",
    }
    with _client(counter) as client:
        answer = client.post(base_url + AUTHENTICATE_PATH, json=body)
    answer.raise_for_status()
    document = answer.json()
    if not document.get("IsSuccessful"):
        raise RuntimeError(f"exchange refused: {document.get('ErrorMessage')}")
    token = document["Token"]
    with _client(counter) as client:
        key_set = client.get(base_url + JWKS_PATH)
    key_set.raise_for_status()
    kid = jwt.get_unverified_header(token).get("kid")
    keys = key_set.json()["keys"]
    chosen = next((k for k in keys if k.get("kid") == kid), keys[0])
    claims = jwt.decode(
        token,
        key=jwt.PyJWK(chosen, algorithm="RS256"),
        algorithms=["RS256"],
        issuer=SYSTEM_USER_ISSUER,
        options={"verify_aud": False},
    )
    return str(claims[TICKET_CLAIM])
