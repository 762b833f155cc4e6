"""Hostile security tokens: every token kind refuses garbage with a typed TokenValidationError,
and each kind has a maximum age, so a genuine token minted long ago is refused even while its
``exp`` lies far ahead."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from hostile_strategies import hostile_text, json_values
from hypothesis import example, given
from hypothesis import strategies as st

from toolkit.auth.tokens import (
    ID_TOKEN_MAX_AGE,
    STATE_CHANGE_TOKEN_MAX_AGE,
    SYSTEM_USER_TOKEN_MAX_AGE,
    validate_id_token,
    validate_state_change_token,
    validate_system_user_token,
)
from toolkit.errors import SigningKeyNotFoundError, TokenExpiredError, TokenValidationError

ISSUER = "https://sod.superoffice.com"
CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
CTX = "Cust12345"
PREFIX = "http://schemes.superoffice.net/identity/"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class StaticKeys:
    """SuperID's one signing key, as a JWKS would give it."""

    def __init__(self, key: RSAPrivateKey) -> None:
        self.jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)

    def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        if kid not in (None, "k1"):
            raise SigningKeyNotFoundError(f"no key {kid!r}")
        return jwt.PyJWK({**self.jwk, "kid": "k1"}, algorithm=alg)


KEYS = StaticKeys(KEY)


def sign(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, KEY, algorithm="RS256", headers={"kid": "k1"})


def at(seconds: float) -> int:
    return int((NOW + timedelta(seconds=seconds)).timestamp())


def id_token(iat: int, exp: int) -> str:
    return sign({"sub": "a@b.c", "iss": ISSUER, "aud": CLIENT_ID, "iat": iat, "exp": exp})


def system_user_jwt(exp: int, **times: int) -> str:
    return sign(
        {
            "iss": "SuperOffice AS",
            "aud": "spn:1801550193",
            PREFIX + "serial": "1801550193",
            PREFIX + "ctx": CTX,
            PREFIX + "ticket": "7T:abc",
            "exp": exp,
            **times,
        }
    )


def state_change_token(exp: int, **times: int) -> str:
    return sign({"iss": ISSUER, "exp": exp, **times})


def validate(kind: str, token: str) -> object:
    now = lambda: NOW  # noqa: E731 - the injectable clock
    if kind == "id_token":
        return validate_id_token(
            token, keys=KEYS, issuer=ISSUER, client_id=CLIENT_ID, nonce=None, now=now
        )
    if kind == "system_user":
        return validate_system_user_token(token, keys=KEYS, context_identifier=CTX, now=now)
    return validate_state_change_token(
        token, keys=KEYS, issuer=ISSUER, client_id=CLIENT_ID, context_identifier=CTX, now=now
    )


def test_each_kind_has_a_maximum_age_of_ten_minutes() -> None:
    assert timedelta(minutes=10) == ID_TOKEN_MAX_AGE
    assert timedelta(minutes=10) == SYSTEM_USER_TOKEN_MAX_AGE
    assert timedelta(minutes=10) == STATE_CHANGE_TOKEN_MAX_AGE


@pytest.mark.parametrize(
    ("kind", "token"),
    [
        ("id_token", id_token(iat=at(-86_400), exp=at(3_600))),
        ("id_token", id_token(iat=at(-660 - 61), exp=at(60))),
        ("system_user", system_user_jwt(exp=at(3_600), iat=at(-86_400))),
        ("system_user", system_user_jwt(exp=at(3_600), nbf=at(-86_400))),
        ("state_change", state_change_token(exp=at(3_600), iat=at(-86_400))),
        ("state_change", state_change_token(exp=at(3_600), nbf=at(-7_200))),
    ],
)
def test_a_token_minted_long_ago_is_refused_while_exp_is_ahead(kind: str, token: str) -> None:
    with pytest.raises(TokenExpiredError, match="older than 600 s") as caught:
        validate(kind, token)
    assert caught.value.claim in ("iat", "nbf")


@pytest.mark.parametrize(
    ("kind", "token"),
    [
        ("id_token", id_token(iat=at(-600), exp=at(60))),  # within the age + leeway
        ("system_user", system_user_jwt(exp=at(300))),  # no iat, no nbf: exp alone
        ("system_user", system_user_jwt(exp=at(300), iat=at(-30), nbf=at(-90))),
        ("state_change", state_change_token(exp=at(300), iat=at(-1))),
    ],
)
def test_a_fresh_token_of_each_kind_is_accepted(kind: str, token: str) -> None:
    assert validate(kind, token) is not None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@st.composite
def mangled_tokens(draw: st.DrawFn) -> str:
    """Three-part tokens with hostile headers, payloads and signatures, and plain garbage."""
    shape = draw(st.sampled_from(["garbage", "parts", "signed"]))
    if shape == "garbage":
        return draw(st.one_of(hostile_text, st.text(alphabet="ab.-_=", max_size=60)))
    header = draw(st.one_of(json_values, st.just({"alg": "RS256", "kid": "k1"})))
    payload = draw(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"iss": st.just(ISSUER), "exp": st.integers(-(2**70), 2**70)},
                optional={"iat": json_values, "nbf": json_values, "aud": json_values},
            ),
        )
    )
    if shape == "signed" and isinstance(payload, dict):
        return sign({**payload, **({"exp": at(60)} if "exp" not in payload else {})})
    parts = [
        b64(json.dumps(header, ensure_ascii=True).encode()),
        b64(json.dumps(payload, ensure_ascii=True).encode()),
        draw(st.one_of(st.just(""), st.binary(max_size=300).map(b64), hostile_text)),
    ]
    return ".".join(parts)


@given(token=mangled_tokens(), kind=st.sampled_from(["id_token", "system_user", "state_change"]))
@example(token="a.b.c", kind="id_token")
@example(token="e30.e30.", kind="system_user")
@example(token="." * 5000, kind="state_change")
@example(token="eyJhbGciOiJub25lIn0.e30.", kind="id_token")  # alg none
def test_garbage_is_a_typed_token_error(token: str, kind: str) -> None:
    with pytest.raises((TokenValidationError, SigningKeyNotFoundError)):
        validate(kind, token)
