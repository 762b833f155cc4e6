"""Bring your own key: `/__emulator__/apps` takes the public half of the partner's own key
(RSAKeyValue XML or PEM), so the system user exchange is signed with the production key; and
the "Customer state change" setting of a registered app (protocol §4.2, §6, §8)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.emulator import Emulator
from toolkit.emulator.credentials import load_public_key
from toolkit.emulator.errors import WorldError

pytestmark = pytest.mark.emulator

APPS = "/__emulator__/apps"
REDIRECT = "http://127.0.0.1:8000/callback"


def b64(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()


def public_rsa_key_value(key: rsa.RSAPrivateKey) -> str:
    """The public part of .NET's RSAKeyValue: Modulus and Exponent, standard Base64 (§4.2)."""
    numbers = key.public_key().public_numbers()
    return (
        "\ufeff<RSAKeyValue>\n  <Modulus>"
        + b64(numbers.n)
        + "</Modulus>\n  <Exponent>"
        + b64(numbers.e)
        + "</Exponent>\n</RSAKeyValue>\n"
    )


def private_rsa_key_value(key: rsa.RSAPrivateKey) -> str:
    private = key.private_numbers()
    fields = {
        "Modulus": private.public_numbers.n,
        "Exponent": private.public_numbers.e,
        "P": private.p,
        "Q": private.q,
        "DP": private.dmp1,
        "DQ": private.dmq1,
        "InverseQ": private.iqmp,
        "D": private.d,
    }
    return (
        "<RSAKeyValue>"
        + "".join(f"<{k}>{b64(v)}</{k}>" for k, v in fields.items())
        + ("</RSAKeyValue>")
    )


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def own_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def register(http: httpx.Client, **fields: Any) -> httpx.Response:
    # json.dumps escapes non-ASCII (\ud800 stays an escape, as an attacker would send it).
    body = json.dumps({"name": "Own Key App", "redirect_urls": [REDIRECT], **fields})
    return http.post(APPS, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("form", ["xml", "pem"])
def test_an_app_registered_with_its_own_public_key_signs_with_its_own_private_key(
    http: httpx.Client, flow: Any, system_user: Any, own_key: rsa.RSAPrivateKey, form: str
) -> None:
    public = public_rsa_key_value(own_key) if form == "xml" else public_pem(own_key)
    response = register(http, public_key=public)
    assert response.status_code == 201, response.text
    issued = response.json()
    # The emulator never had the private half, so it hands none out.
    assert "private_key_xml" not in issued
    assert "private_key_pem" not in issued
    assert issued["public_key_pem"] == public_pem(own_key)
    listed = {a["client_id"]: a for a in http.get(APPS).json()["apps"]}
    assert listed[issued["client_id"]]["public_key_pem"] == public_pem(own_key)

    # conftest's exchange helper (signs with plain cryptography), for this app and its own key.
    own = type(system_user)(flow, {**issued, "private_key_pem": private_pem(own_key)})
    assert own.jwt()  # PartnerSystemUser accepts the token signed with the own key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = own.authenticate(
        SignedSystemToken=own.signed(private_key_pem=private_pem(other))
    ).json()
    assert refused["IsSuccessful"] is False


def test_unusable_keys_are_a_json_400_and_register_nothing(
    http: httpx.Client, own_key: rsa.RSAPrivateKey
) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_exponent = rsa.RSAPublicNumbers(3, small.public_key().public_numbers().n).public_key()
    weak_pem = weak_exponent.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    tiny = rsa.RSAPublicNumbers(65537, (1 << 511) + 1).public_key()  # 512 bits
    curve = ec.generate_private_key(ec.SECP256R1())
    modulus_only = f"<RSAKeyValue><Modulus>{b64(small.public_key().public_numbers().n)}</Modulus>"
    cases: list[tuple[Any, str]] = [
        (private_pem(own_key), "invalid_key"),  # a private key never travels to the emulator
        (private_rsa_key_value(own_key), "invalid_key"),
        (modulus_only + "</RSAKeyValue>", "invalid_key"),
        (modulus_only + "<Exponent>not base64!</Exponent></RSAKeyValue>", "invalid_key"),
        ('<!DOCTYPE x [<!ENTITY e "AQAB">]><RSAKeyValue></RSAKeyValue>', "invalid_key"),
        ("<RSAKeyValue><Modulus>", "invalid_key"),
        ("<KeyValue/>", "invalid_key"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "invalid_key"),
        ("ssh-rsa AAAAB3NzaC1yc2E", "invalid_key"),
        ("", "invalid_key"),
        # A JSON escape that decodes to a lone surrogate: refused with the body (wire.py).
        ("<RSAKeyValue>\ud800</RSAKeyValue>", "invalid_json"),
        (42, "invalid_key"),
        ("<RSAKeyValue>" + "A" * 20000 + "</RSAKeyValue>", "invalid_key"),
        (public_pem(curve), "unsupported_key"),
        (weak_pem, "unsupported_key"),
        (
            tiny.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode(),
            "unsupported_key",
        ),
    ]
    before = len(http.get(APPS).json()["apps"])
    for public_key, error in cases:
        response = register(http, public_key=public_key)
        assert response.status_code == 400, (public_key, response.text)
        body = response.json()
        assert body["error"] == error, (public_key, body)
        assert isinstance(body["detail"], str)
        assert "Traceback" not in response.text
    assert len(http.get(APPS).json()["apps"]) == before


def test_customer_state_change_url_can_be_set_and_cleared(
    emu: Emulator, http: httpx.Client
) -> None:
    issued = register(http, state_change_url="http://127.0.0.1:8000/state-change").json()
    path = f"{APPS}/{issued['client_id']}"
    assert http.get(path).json()["state_change_url"] == "http://127.0.0.1:8000/state-change"
    assert "client_secret_sha256" not in http.get(path).json()
    changed = http.patch(path, json={"state_change_url": "http://127.0.0.1:8001/state-change/a"})
    assert changed.status_code == 200, changed.text
    assert emu.world.apps[issued["client_id"]].state_change_url.endswith("/state-change/a")
    assert http.patch(path, json={"state_change_url": None}).json()["state_change_url"] is None
    for body in ({"state_change_url": "not a url"}, {"name": "x"}, {}):
        refused = http.patch(path, json=body)
        assert refused.status_code == 400, body
        assert refused.json()["error"] == "invalid_app"
    assert http.patch(f"{APPS}/nope", json={"state_change_url": None}).status_code == 404
    assert http.get(f"{APPS}/nope").json()["error"] == "not_found"


# -- hostile input to the key parser: every refusal is a WorldError (a JSON 400), nothing else --

_KEY_PIECES = st.sampled_from(
    [
        "<RSAKeyValue>",
        "</RSAKeyValue>",
        "<Modulus>",
        "</Modulus>",
        "<Exponent>AQAB</Exponent>",
        "<D>AQAB</D>",
        "<!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>",
        "&x;",
        "<![CDATA[AQAB]]>",
        "-----BEGIN PUBLIC KEY-----\n",
        "-----END PUBLIC KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\n",
        "-----BEGIN EC PRIVATE KEY-----\n",
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
        "\x00",
        "\ud800",
        "\ufeff",
        "=",
        "A" * 300,
    ]
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=400), st.lists(_KEY_PIECES, max_size=12).map("".join)))
def test_the_key_parser_refuses_hostile_text_with_its_own_error(text: str) -> None:
    refusal: WorldError | None = None
    try:
        pem = load_public_key(text)
    except WorldError as exc:
        refusal = exc
    else:  # only a real public key gets through
        assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    if refusal is not None:
        assert refusal.error in ("invalid_key", "unsupported_key")
        assert refusal.status == 400


def test_a_lone_surrogate_escape_is_a_400_before_anything_is_stored(
    emu: Emulator, http: httpx.Client, system_rest: httpx.Client
) -> None:
    """`"\\ud800"` is valid JSON that no UTF-8 answer can carry: refused, never a 500."""
    before = len(http.get(APPS).json()["apps"])
    refused = register(http, name="Bad \ud800 name")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_json"
    assert len(http.get(APPS).json()["apps"]) == before
    deep = http.post(APPS, content=b"[" * 200_000, headers={"Content-Type": "application/json"})
    assert deep.status_code == 400
    panels = len(system_rest.get("/List/WebPanel/Items").json())
    body = json.dumps({"Name": "Panel \udfff", "ProgId": "acme.bad"})
    answer = system_rest.post("/List/WebPanel/Items", content=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["ErrorType"] == "SoException"
    assert len(system_rest.get("/List/WebPanel/Items").json()) == panels
