"""Hostile private keys: whatever bytes a key file holds, loading it gives an RSA key of at
least 1024 bits with public exponent 65537 or more, or a KeyFormatError; never another error,
never a hang on huge numbers, never an entity expansion."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hostile_strategies import hostile_text
from hypothesis import example, given
from hypothesis import strategies as st

from toolkit.errors import KeyFormatError
from toolkit.keys import (
    MAX_KEY_BYTES,
    MIN_KEY_SIZE,
    MIN_PUBLIC_EXPONENT,
    RSA_KEY_VALUE_ELEMENTS,
    load_private_key,
    private_key_to_pem,
    private_key_to_rsa_key_value,
)

GOOD = rsa.generate_private_key(public_exponent=65537, key_size=1024)
GOOD_XML = private_key_to_rsa_key_value(GOOD)
GOOD_PEM = private_key_to_pem(GOOD)


def check(data: str | bytes) -> None:
    try:
        key = load_private_key(data)
    except KeyFormatError:
        return
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size >= MIN_KEY_SIZE
    assert key.public_key().public_numbers().e >= MIN_PUBLIC_EXPONENT


def b64_int(value: int) -> str:
    return base64.b64encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")).decode()


element_values = st.one_of(
    hostile_text,
    st.integers(min_value=0, max_value=2**2048).map(b64_int),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
)


@st.composite
def rsa_key_values(draw: st.DrawFn) -> str:
    """RSAKeyValue XML with elements dropped, repeated, replaced or reordered."""
    names = draw(st.lists(st.sampled_from([*RSA_KEY_VALUE_ELEMENTS, "Extra", "D"]), max_size=10))
    body = "".join(f"<{n}>{draw(element_values)}</{n}>" for n in names)
    return f"<RSAKeyValue>{body}</RSAKeyValue>"


def replace_element(name: str, value: str) -> str:
    start = GOOD_XML.index(f"<{name}>") + len(name) + 2
    end = GOOD_XML.index(f"</{name}>")
    return GOOD_XML[:start] + value + GOOD_XML[end:]


@given(
    data=st.one_of(
        st.binary(max_size=600),
        hostile_text,
        rsa_key_values(),
        st.tuples(st.sampled_from(RSA_KEY_VALUE_ELEMENTS), element_values).map(
            lambda pair: replace_element(*pair)
        ),
        st.integers(0, len(GOOD_PEM)).map(lambda cut: GOOD_PEM[:cut]),
        st.tuples(st.integers(0, len(GOOD_PEM) - 1), hostile_text).map(
            lambda pair: GOOD_PEM[: pair[0]] + pair[1] + GOOD_PEM[pair[0] + 1 :]
        ),
    )
)
@example(data=replace_element("Exponent", "Aw=="))  # e = 3
@example(data=replace_element("Modulus", "A" * 40_000))  # a 240,000-bit "modulus"
@example(data='<!DOCTYPE x [<!ENTITY a "aaaa">]><RSAKeyValue>&a;</RSAKeyValue>')
@example(data=b"\xff\xfe" + "<RSAKeyValue/>".encode("utf-16-le"))
@example(data=b"\xff\xfe\x00")
@example(data="<RSAKeyValue>" + "<a>" * 10_000 + "</a>" * 10_000 + "</RSAKeyValue>")
def test_any_key_text_is_a_usable_key_or_a_key_format_error(data: str | bytes) -> None:
    check(data)


def test_a_key_larger_than_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(KeyFormatError, match="larger than"):
        load_private_key(b" " * (MAX_KEY_BYTES + 1) + GOOD_PEM.encode())
