"""toolkit.keys: loading Developer Portal keys (XML and PEM) and signing the system user token."""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from toolkit.errors import InputFileError, InvalidSignatureError, KeyFormatError
from toolkit.keys import (
    MAX_KEY_BYTES,
    MIN_KEY_SIZE,
    MIN_PUBLIC_EXPONENT,
    RSA_KEY_VALUE_ELEMENTS,
    SYSTEM_USER_TIMESTAMP_FORMAT,
    key_fingerprint,
    load_private_key,
    load_private_key_file,
    private_key_to_pem,
    private_key_to_rsa_key_value,
    public_key_to_pem,
    rsa_key_value_to_pem,
    sign_system_user_token,
    verify_system_user_token_signature,
)

ELEMENTS = list(RSA_KEY_VALUE_ELEMENTS)
SYSTEM_USER_TOKEN = "SuperOffice DevNet Node OIDC-8k8Q7DmBgo"
FIXED = datetime(2026, 11, 27, 5, 7, 42, tzinfo=UTC)


def _b64(value: int, width: int = 0) -> str:
    length = max(width, (value.bit_length() + 7) // 8)
    return base64.b64encode(value.to_bytes(length, "big")).decode("ascii")


def _values(key: rsa.RSAPrivateKey) -> dict[str, int]:
    n = key.private_numbers()
    return {
        "Modulus": n.public_numbers.n,
        "Exponent": n.public_numbers.e,
        "P": n.p,
        "Q": n.q,
        "DP": n.dmp1,
        "DQ": n.dmq1,
        "InverseQ": n.iqmp,
        "D": n.d,
    }


def _xml(parts: list[tuple[str, str]]) -> str:
    """Compact RSAKeyValue XML from (element, base64 text) pairs, in the given order."""
    return "<RSAKeyValue>" + "".join(f"<{k}>{v}</{k}>" for k, v in parts) + "</RSAKeyValue>"


def _xml_for(key: rsa.RSAPrivateKey, **override: str) -> str:
    values = {name: _b64(value) for name, value in _values(key).items()}
    values.update(override)
    return _xml(list(values.items()))


def _portal_file_bytes(key: rsa.RSAPrivateKey) -> bytes:
    """As a Windows editor saves it: BOM, declaration, CRLF, indentation, base64 wrapped."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<RSAKeyValue>"]
    for name, value in _values(key).items():
        text = _b64(value)
        chunks = [text[i : i + 40] for i in range(0, len(text), 40)]
        lines += [f"  <{name}>", *(f"    {chunk}" for chunk in chunks), f"  </{name}>"]
    lines.append("</RSAKeyValue>")
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _same_numbers(a: rsa.RSAPrivateKey, b: rsa.RSAPrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def _clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


@pytest.fixture(scope="session")
def key() -> rsa.RSAPrivateKey:
    # 1024 bits, like SuperOffice's DNO sample keys, and fast to generate.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


# --------------------------------------------------------------------------------------------
# RSAKeyValue XML


def test_portal_xml_with_bom_declaration_and_wrapped_base64_loads_and_signs(
    key: rsa.RSAPrivateKey,
) -> None:
    data = _portal_file_bytes(key)
    assert data.startswith(b"\xef\xbb\xbf<?xml")
    assert b"\r\n    " in data

    loaded = load_private_key(data)

    assert _same_numbers(loaded, key)
    signature = loaded.sign(b"hello", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())


def test_xml_as_text_with_bom_character_and_surrounding_whitespace_loads(
    key: rsa.RSAPrivateKey,
) -> None:
    text = _portal_file_bytes(key).decode("utf-8-sig")
    assert _same_numbers(load_private_key("\ufeff\n  " + text + "\t\n"), key)


def test_xml_saved_as_utf16_with_bom_loads(key: rsa.RSAPrivateKey) -> None:
    text = _portal_file_bytes(key).decode("utf-8-sig").replace('"utf-8"', '"utf-16"')
    assert _same_numbers(load_private_key(text.encode("utf-16")), key)


def test_xml_to_pem_round_trip_keeps_the_numbers(key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key_value_to_pem(_portal_file_bytes(key))

    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert _same_numbers(load_private_key(pem), key)
    reloaded = serialization.load_pem_private_key(pem.encode(), None)
    assert isinstance(reloaded, rsa.RSAPrivateKey)
    assert _same_numbers(reloaded, key)


def test_private_key_to_rsa_key_value_is_dotnet_layout_and_round_trips(
    key: rsa.RSAPrivateKey,
) -> None:
    xml = private_key_to_rsa_key_value(key)

    assert re.findall(r"<(\w+)>", xml) == ["RSAKeyValue", *ELEMENTS]
    values = dict(re.findall(r"<(\w+)>([^<]+)</\1>", xml))
    assert values["Exponent"] == "AQAB"
    # .NET ToXmlString pads Modulus/D to the modulus length and the CRT parts to half of it.
    assert len(base64.b64decode(values["Modulus"])) == 128
    assert len(base64.b64decode(values["D"])) == 128
    for name in ("P", "Q", "DP", "DQ", "InverseQ"):
        assert len(base64.b64decode(values[name])) == 64
    assert _same_numbers(load_private_key(xml), key)


def test_namespaced_xml_loads(key: rsa.RSAPrivateKey) -> None:
    xml = _xml_for(key).replace(
        "<RSAKeyValue>", '<RSAKeyValue xmlns="http://www.w3.org/2000/09/xmldsig#">', 1
    )
    assert _same_numbers(load_private_key(xml), key)


@pytest.mark.parametrize("element", ELEMENTS)
def test_missing_element_is_named(key: rsa.RSAPrivateKey, element: str) -> None:
    values = {name: _b64(value) for name, value in _values(key).items()}
    del values[element]
    with pytest.raises(KeyFormatError, match="missing") as info:
        load_private_key(_xml(list(values.items())))
    assert info.value.element == element


@pytest.mark.parametrize("element", ELEMENTS)
def test_inconsistent_element_is_named(key: rsa.RSAPrivateKey, element: str) -> None:
    corrupted = _b64(_values(key)[element] ^ 2)  # flip one bit; stays odd where it was odd
    with pytest.raises(KeyFormatError) as info:
        load_private_key(_xml_for(key, **{element: corrupted}))
    assert info.value.element == element
    assert corrupted not in str(info.value)
    assert corrupted not in repr(info.value)


@pytest.mark.parametrize("element", ELEMENTS)
def test_bad_base64_is_named(key: rsa.RSAPrivateKey, element: str) -> None:
    good = _b64(_values(key)[element])
    bad = good[:2] + "*!" + good[2:]
    with pytest.raises(KeyFormatError, match="base64") as info:
        load_private_key(_xml_for(key, **{element: bad}))
    assert info.value.element == element
    assert good not in str(info.value)


@pytest.mark.parametrize("element", ELEMENTS)
def test_url_safe_base64_is_refused(key: rsa.RSAPrivateKey, element: str) -> None:
    with pytest.raises(KeyFormatError, match="base64") as info:
        load_private_key(_xml_for(key, **{element: "ab-_"}))
    assert info.value.element == element


@pytest.mark.parametrize("element", ELEMENTS)
def test_duplicated_element_is_named(key: rsa.RSAPrivateKey, element: str) -> None:
    parts = [(name, _b64(value)) for name, value in _values(key).items()]
    parts.append((element, _b64(_values(key)[element])))
    with pytest.raises(KeyFormatError, match="more than once") as info:
        load_private_key(_xml(parts))
    assert info.value.element == element


@pytest.mark.parametrize("element", ELEMENTS)
def test_empty_element_is_named(key: rsa.RSAPrivateKey, element: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        load_private_key(_xml_for(key, **{element: "  \r\n  "}))
    assert info.value.element == element


def test_inverse_q_computed_the_pycryptodome_way_is_refused(key: rsa.RSAPrivateKey) -> None:
    # PyCryptodome's "u" is p⁻¹ mod q; .NET's InverseQ is q⁻¹ mod p (protocol §4.2).
    v = _values(key)
    u = pow(v["P"], -1, v["Q"])
    assert u != v["InverseQ"]
    with pytest.raises(KeyFormatError) as info:
        load_private_key(_xml_for(key, InverseQ=_b64(u)))
    assert info.value.element == "InverseQ"


def test_swapped_p_and_q_is_refused_on_inverse_q(key: rsa.RSAPrivateKey) -> None:
    v = _values(key)
    swapped = _xml_for(key, P=_b64(v["Q"]), Q=_b64(v["P"]), DP=_b64(v["DQ"]), DQ=_b64(v["DP"]))
    with pytest.raises(KeyFormatError) as info:
        load_private_key(swapped)
    assert info.value.element == "InverseQ"


def test_unknown_element_is_refused(key: rsa.RSAPrivateKey) -> None:
    xml = _xml_for(key).replace("</RSAKeyValue>", "<Inverseq>AQAB</Inverseq></RSAKeyValue>")
    with pytest.raises(KeyFormatError, match="unexpected") as info:
        load_private_key(xml)
    assert info.value.element == "Inverseq"


def test_key_below_minimum_size_is_refused(key: rsa.RSAPrivateKey) -> None:
    small = _b64(_values(key)["Modulus"] >> 600)
    with pytest.raises(KeyFormatError, match=str(MIN_KEY_SIZE)) as info:
        load_private_key(_xml_for(key, Modulus=small))
    assert info.value.element == "Modulus"


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE RSAKeyValue [<!ENTITY x "AQAB">]>',
        '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE RSAKeyValue SYSTEM "file:///etc/passwd">',
        "<!-- <!ENTITY x 'y'> -->",
    ],
)
def test_dtd_and_entities_are_refused(key: rsa.RSAPrivateKey, prolog: str) -> None:
    xml = '<?xml version="1.0"?>\n' + prolog + "\n" + _xml_for(key)
    with pytest.raises(KeyFormatError, match="DOCTYPE or ENTITY"):
        load_private_key(xml)


def test_public_only_xml_is_refused_asking_for_private_key(key: rsa.RSAPrivateKey) -> None:
    v = _values(key)
    public = _xml([("Modulus", _b64(v["Modulus"])), ("Exponent", _b64(v["Exponent"]))])
    with pytest.raises(KeyFormatError, match="private key is needed"):
        load_private_key(public)


def test_wrong_root_element_is_refused(key: rsa.RSAPrivateKey) -> None:
    xml = _xml_for(key).replace("RSAKeyValue", "DSAKeyValue")
    with pytest.raises(KeyFormatError, match="RSAKeyValue"):
        load_private_key(xml)


# --------------------------------------------------------------------------------------------
# PEM


@pytest.mark.parametrize(
    ("private_format", "header"),
    [
        (serialization.PrivateFormat.TraditionalOpenSSL, "-----BEGIN RSA PRIVATE KEY-----"),
        (serialization.PrivateFormat.PKCS8, "-----BEGIN PRIVATE KEY-----"),
    ],
    ids=["pkcs1", "pkcs8"],
)
@pytest.mark.parametrize("as_text", [True, False], ids=["str", "bytes"])
def test_pem_pkcs1_and_pkcs8_load(
    key: rsa.RSAPrivateKey,
    private_format: serialization.PrivateFormat,
    header: str,
    as_text: bool,
) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    )
    assert pem.decode().startswith(header)
    data: str | bytes = "\n  " + pem.decode() + "\n" if as_text else b"\xef\xbb\xbf" + pem
    assert _same_numbers(load_private_key(data), key)


@pytest.mark.parametrize(
    "private_format",
    [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8],
    ids=["pkcs1", "pkcs8"],
)
def test_encrypted_pem_is_refused(
    key: rsa.RSAPrivateKey, private_format: serialization.PrivateFormat
) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        private_format,
        serialization.BestAvailableEncryption(b"correct horse"),
    )
    with pytest.raises(KeyFormatError, match="encrypted"):
        load_private_key(pem)


def test_public_key_pem_is_refused_asking_for_private_key(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KeyFormatError, match="private key is needed"):
        load_private_key(public_key_to_pem(key))


def test_non_rsa_pem_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyFormatError, match="not an RSA private key"):
        load_private_key(pem)


def test_corrupted_pem_is_refused(key: rsa.RSAPrivateKey) -> None:
    pem = private_key_to_pem(key)
    lines = pem.splitlines()
    lines[3] = lines[3][::-1]
    with pytest.raises(KeyFormatError, match="PEM") as info:
        load_private_key("\n".join(lines))
    assert lines[3] not in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   \r\n",
        "hello, I am not a key",
        b"\x30\x82\x02\x5c\x02\x01\x00\xff\xfe",
        "<RSAKeyValue><Modulus>AQAB",
        '{"kty": "RSA"}',
    ],
    ids=["empty", "blank", "text", "binary", "truncated-xml", "json"],
)
def test_garbage_is_refused(data: str | bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_private_key(data)


def test_private_key_to_pem_is_pkcs1(key: rsa.RSAPrivateKey) -> None:
    pem = private_key_to_pem(key)
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert pem.rstrip().endswith("-----END RSA PRIVATE KEY-----")
    assert _same_numbers(load_private_key(pem), key)


def test_public_key_to_pem_accepts_private_and_public(key: rsa.RSAPrivateKey) -> None:
    pem = public_key_to_pem(key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert public_key_to_pem(key.public_key()) == pem
    loaded = serialization.load_pem_public_key(pem.encode())
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == key.public_key().public_numbers()


# --------------------------------------------------------------------------------------------
# Files and fingerprints


def test_load_private_key_file_reads_xml_and_pem(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    xml_file = tmp_path / "partnerprivatekey.xml"
    xml_file.write_bytes(_portal_file_bytes(key))
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(private_key_to_pem(key))

    assert _same_numbers(load_private_key_file(xml_file), key)
    assert _same_numbers(load_private_key_file(str(pem_file)), key)


def test_load_private_key_file_error_names_the_file(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "broken-key.xml"
    path.write_text(_xml_for(key, DQ=_b64(_values(key)["DQ"] ^ 2)))
    with pytest.raises(KeyFormatError, match=r"broken-key\.xml") as info:
        load_private_key_file(path)
    assert info.value.element == "DQ"


def test_load_private_key_file_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file") as info:
        load_private_key_file(tmp_path / "nope.xml")
    assert isinstance(info.value, OSError)
    assert info.value.path == str(tmp_path / "nope.xml")


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory"])
def test_load_private_key_file_refuses_what_is_not_a_regular_file(
    tmp_path: Path, special: str
) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "key.fifo"
        os.mkfifo(path)  # nobody writes: reading it would hang
    elif special == "directory":
        path = tmp_path
    with pytest.raises(InputFileError, match="not a regular file"):
        load_private_key_file(path)


def test_load_private_key_file_refuses_an_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + b"A" * MAX_KEY_BYTES)
    with pytest.raises(InputFileError, match="larger than"):
        load_private_key_file(path)
    with pytest.raises(KeyFormatError, match="larger than"):
        load_private_key(path.read_bytes())


def _key_with_exponent(exponent: int) -> rsa.RSAPrivateKey:
    """A real RSA key whose public exponent is ``exponent`` (cryptography makes only 3, 65537)."""
    while True:
        numbers = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_numbers()
        p, q = numbers.p, numbers.q
        lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
        if math.gcd(exponent, lam) == 1:
            break
    d = pow(exponent, -1, lam)
    return rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=d % (p - 1),
        dmq1=d % (q - 1),
        iqmp=pow(q, -1, p),
        public_numbers=rsa.RSAPublicNumbers(e=exponent, n=p * q),
    ).private_key()


@pytest.mark.parametrize("exponent", [3, 17, 257, 65535])
def test_a_public_exponent_below_65537_is_refused(exponent: int) -> None:
    key = _key_with_exponent(exponent)
    with pytest.raises(KeyFormatError, match="65537") as info:
        load_private_key(_xml_for(key))
    assert info.value.element == "Exponent"
    with pytest.raises(KeyFormatError, match="65537"):
        load_private_key(private_key_to_pem(key))
    assert MIN_PUBLIC_EXPONENT == 65537


def test_key_fingerprint_is_short_stable_and_public(
    key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    fingerprint = key_fingerprint(key)

    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)
    assert key_fingerprint(key.public_key()) == fingerprint
    assert key_fingerprint(load_private_key(private_key_to_rsa_key_value(key))) == fingerprint
    assert key_fingerprint(other_key) != fingerprint


# --------------------------------------------------------------------------------------------
# Signing the system user token (protocol §4.3)


def test_signed_token_format_with_fixed_clock(key: rsa.RSAPrivateKey) -> None:
    signed = sign_system_user_token(SYSTEM_USER_TOKEN, key, now=_clock(FIXED))

    token, timestamp, signature = signed.rsplit(".", 2)
    assert token == SYSTEM_USER_TOKEN
    assert timestamp == "202611270507"
    assert signed.startswith(f"{SYSTEM_USER_TOKEN}.202611270507.")
    assert len(base64.b64decode(signature, validate=True)) == 128


def test_signature_verifies_over_exact_token_dot_timestamp_bytes(key: rsa.RSAPrivateKey) -> None:
    signed = sign_system_user_token(SYSTEM_USER_TOKEN, key, now=_clock(FIXED))
    signature = base64.b64decode(signed.rsplit(".", 1)[1], validate=True)

    key.public_key().verify(
        signature,
        f"{SYSTEM_USER_TOKEN}.202611270507".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            signature, SYSTEM_USER_TOKEN.encode(), padding.PKCS1v15(), hashes.SHA256()
        )


def test_signing_is_pkcs1v15_sha256_and_deterministic(key: rsa.RSAPrivateKey) -> None:
    signed = sign_system_user_token(SYSTEM_USER_TOKEN, key, now=_clock(FIXED))
    expected = key.sign(
        f"{SYSTEM_USER_TOKEN}.202611270507".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert signed == f"{SYSTEM_USER_TOKEN}.202611270507.{base64.b64encode(expected).decode()}"


def test_token_with_spaces_dots_and_non_ascii_is_signed_as_given(key: rsa.RSAPrivateKey) -> None:
    token = "  My App v1.2 (Ærøskøbing).Edition-pzqc70604i "
    signed = sign_system_user_token(token, key, now=_clock(FIXED))

    assert signed.startswith(token + ".202611270507.")
    signature = base64.b64decode(signed.rsplit(".", 1)[1])
    key.public_key().verify(
        signature,
        (token + ".202611270507").encode("utf-8"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert verify_system_user_token_signature(signed, key.public_key()) == (
        token,
        datetime(2026, 11, 27, 5, 7, tzinfo=UTC),
    )


def test_signature_is_standard_base64_with_padding(key: rsa.RSAPrivateKey) -> None:
    # 128-byte signatures encode to 172 characters ending in one "=". PKCS#1 v1.5 is
    # deterministic, so walking the clock gives different signatures to look at.
    seen = ""
    for minute in range(30):
        moment = FIXED + timedelta(minutes=minute)
        signature = sign_system_user_token("t", key, now=_clock(moment)).rsplit(".", 1)[1]
        assert re.fullmatch(r"[A-Za-z0-9+/]{171}=", signature)
        seen += signature
    assert "+" in seen
    assert "/" in seen
    assert "-" not in seen
    assert "_" not in seen


def test_timestamp_is_24_hour_zero_padded_utc(key: rsa.RSAPrivateKey) -> None:
    afternoon = datetime(2026, 1, 2, 17, 4, 59, 999999, tzinfo=UTC)
    assert ".202601021704." in sign_system_user_token("t", key, now=_clock(afternoon))

    oslo_winter = timezone(timedelta(hours=1))
    local = datetime(2026, 1, 1, 0, 30, tzinfo=oslo_winter)  # 2025-12-31 23:30 UTC
    assert ".202512312330." in sign_system_user_token("t", key, now=_clock(local))


def test_timestamp_format_constant() -> None:
    assert SYSTEM_USER_TIMESTAMP_FORMAT == "%Y%m%d%H%M"
    assert FIXED.strftime(SYSTEM_USER_TIMESTAMP_FORMAT) == "202611270507"


def test_default_clock_is_now(key: rsa.RSAPrivateKey) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    signed = sign_system_user_token("t", key)
    after = datetime.now(UTC)
    _, moment = verify_system_user_token_signature(signed, key)
    assert before <= moment <= after


def test_naive_clock_is_refused(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="naive"):
        sign_system_user_token("t", key, now=_clock(datetime(2026, 11, 27, 5, 7)))


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_token_is_refused(key: rsa.RSAPrivateKey, token: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        sign_system_user_token(token, key, now=_clock(FIXED))


def test_signing_with_xml_loaded_key_verifies_with_public_key(key: rsa.RSAPrivateKey) -> None:
    loaded = load_private_key(_portal_file_bytes(key))
    signed = sign_system_user_token(SYSTEM_USER_TOKEN, loaded, now=_clock(FIXED))
    assert verify_system_user_token_signature(signed, key.public_key()) == (
        SYSTEM_USER_TOKEN,
        datetime(2026, 11, 27, 5, 7, tzinfo=UTC),
    )


# --------------------------------------------------------------------------------------------
# Verifying


def test_verify_rejects_a_tampered_token_or_timestamp(key: rsa.RSAPrivateKey) -> None:
    signed = sign_system_user_token(SYSTEM_USER_TOKEN, key, now=_clock(FIXED))
    token, timestamp, signature = signed.rsplit(".", 2)

    with pytest.raises(InvalidSignatureError):
        verify_system_user_token_signature(f"{token}x.{timestamp}.{signature}", key)
    with pytest.raises(InvalidSignatureError):
        verify_system_user_token_signature(f"{token}.202611270508.{signature}", key)


def test_verify_rejects_another_key(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    signed = sign_system_user_token(SYSTEM_USER_TOKEN, key, now=_clock(FIXED))
    with pytest.raises(InvalidSignatureError):
        verify_system_user_token_signature(signed, other_key.public_key())


@pytest.mark.parametrize(
    "signed",
    [
        "no-dots-at-all",
        "only.one",
        ".202611270507.AAAA",
        "token.20261127050.AAAA",
        "token.2026112705070.AAAA",
        "token.202613270507.AAAA",
        "token.202611270507.not base64!",
        "token.202611270507.AAA",
        "token.202611270507.ab-_",
    ],
)
def test_verify_rejects_malformed_values(key: rsa.RSAPrivateKey, signed: str) -> None:
    with pytest.raises(ValueError, match="signed system user token"):
        verify_system_user_token_signature(signed, key)
