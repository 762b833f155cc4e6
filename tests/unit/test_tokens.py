import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from toolkit.auth.jwks import JwksCache
from toolkit.auth.tokens import MAX_TOKEN_BYTES, ValidationPolicy, validate_id_token
from toolkit.claims import IdTokenClaims
from toolkit.config import Settings
from toolkit.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    ConfigurationError,
    InvalidSignatureError,
    IssuerMismatchError,
    KeySetError,
    MalformedTokenError,
    MissingClaimError,
    NonceMismatchError,
    SigningKeyNotFoundError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenValidationError,
)
from toolkit.http import create_client

ISSUER = "https://sod.superoffice.com"
CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
OTHER_CLIENT_ID = "0f0e0d0c0b0a09080706050403020100"
NONCE = "n-0S6_WzA2Mj"
JWKS_URI = "https://sod.superoffice.com/login/.well-known/jwks"
IAT = 1581665207  # SD:validate's example id_token
NOW = datetime.fromtimestamp(IAT + 10, tz=UTC)
PREFIX = "http://schemes.superoffice.net/identity/"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


@pytest.fixture(scope="module")
def signing_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_jwk(key: RSAPrivateKey, kid: str | None) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"use": "sig", "alg": "RS256"})
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def superid_payload(**overrides: Any) -> dict[str, Any]:
    """Shaped like SD:validate's example: iat as a string, nbf = iat - 60, exp = iat + 300."""
    payload: dict[str, Any] = {
        "sub": "tony@superoffice.com",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": str(IAT),
        "nbf": IAT - 60,
        "exp": IAT + 300,
        "nonce": NONCE,
        PREFIX + "associateid": "5",
        PREFIX + "ctx": "Cust26759",
        PREFIX + "is_administrator": "False",
        PREFIX + "system_token": "SuperOffice DevNet Node OIDC-8k8Q7DmBgo",
        PREFIX + "webapi_url": "https://sod.superoffice.com/Cust26759/api/",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


@dataclass
class Env:
    key: RSAPrivateKey
    attacker: RSAPrivateKey
    keys: list[dict[str, Any]]
    requests: list[str]
    cache: JwksCache
    client: httpx.Client

    def sign(
        self,
        payload: dict[str, Any] | None = None,
        *,
        headers: dict[str, Any] | None = None,
        key: RSAPrivateKey | None = None,
        alg: str = "RS256",
    ) -> str:
        return jwt.encode(
            superid_payload() if payload is None else payload,
            key or self.key,
            algorithm=alg,
            headers={"kid": "k1"} if headers is None else headers,
        )

    def sign_raw(self, payload: Any, header: dict[str, Any]) -> str:
        """RS256 without PyJWT's encode-time checks, for claims and headers it refuses to write."""
        body = b64(payload) if isinstance(payload, bytes) else b64json(payload)
        signing_input = f"{b64json({'alg': 'RS256', **header})}.{body}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    def validate(self, token: str, *, nonce: str | None = NONCE, **kwargs: Any) -> IdTokenClaims:
        kwargs.setdefault("now", lambda: NOW)
        return validate_id_token(
            token, keys=self.cache, issuer=ISSUER, client_id=CLIENT_ID, nonce=nonce, **kwargs
        )


@pytest.fixture
def env(signing_key: RSAPrivateKey, attacker_key: RSAPrivateKey) -> Env:
    keys = [rsa_jwk(signing_key, "k1")]
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        if str(request.url) != JWKS_URI:
            return httpx.Response(404)
        return httpx.Response(200, json={"keys": keys})

    client = create_client(transport=httpx.MockTransport(handler))
    cache = JwksCache(JWKS_URI, client, now=lambda: NOW)
    return Env(signing_key, attacker_key, keys, requests, cache, client)


# ---------------------------------------------------------------------------- accepted


def test_valid_id_token_returns_typed_claims(env: Env) -> None:
    claims = env.validate(env.sign())
    assert claims.subject == "tony@superoffice.com"
    assert claims.issuer == ISSUER
    assert claims.audience == (CLIENT_ID,)
    assert claims.issued_at == datetime.fromtimestamp(IAT, tz=UTC)  # numeric string accepted
    assert claims.context_identifier == "Cust26759"
    assert claims.associate_id == 5
    assert claims.is_administrator is False
    assert claims.nonce == NONCE
    assert env.requests == [JWKS_URI]


@pytest.mark.parametrize("iat", [IAT, str(IAT), float(IAT), f" {IAT} "])
def test_iat_as_number_or_numeric_string_is_accepted(env: Env, iat: Any) -> None:
    assert env.validate(env.sign(superid_payload(iat=iat))).issued_at.timestamp() == IAT


def test_expired_within_leeway_is_accepted(env: Env) -> None:
    token = env.sign(superid_payload(exp=IAT - 40))  # 50 s ago, leeway 60 s
    assert env.validate(token).subject


def test_nbf_within_leeway_and_no_nbf_are_accepted(env: Env) -> None:
    assert env.validate(env.sign(superid_payload(nbf=IAT + 60)))
    assert env.validate(env.sign(superid_payload(nbf=None))).not_before is None


def test_audience_list_with_matching_azp_is_accepted(env: Env) -> None:
    token = env.sign(superid_payload(aud=[CLIENT_ID, OTHER_CLIENT_ID], azp=CLIENT_ID))
    assert env.validate(token).audience == (CLIENT_ID, OTHER_CLIENT_ID)


def test_single_audience_list_needs_no_azp(env: Env) -> None:
    assert env.validate(env.sign(superid_payload(aud=[CLIENT_ID])))


def test_nonce_not_expected_means_not_required(env: Env) -> None:
    assert env.validate(env.sign(superid_payload(nonce=None)), nonce=None).nonce is None
    assert env.validate(env.sign(), nonce=None).nonce == NONCE


def test_no_kid_uses_the_single_key(env: Env) -> None:
    assert env.validate(env.sign(headers={}))


def test_no_kid_with_two_keys_is_refused(env: Env) -> None:
    env.keys.append(rsa_jwk(env.attacker, "k2"))
    with pytest.raises(SigningKeyNotFoundError):
        env.validate(env.sign(headers={}))


def test_key_rotation_is_followed(env: Env) -> None:
    now = [NOW]
    env.cache = JwksCache(env.cache.jwks_uri, env.client, now=lambda: now[0])
    env.validate(env.sign())
    env.keys[:] = [rsa_jwk(env.attacker, "k2")]  # SuperID rotated to a new key
    now[0] += timedelta(minutes=5)
    token = env.sign(headers={"kid": "k2"}, key=env.attacker)
    assert env.validate(token, now=lambda: NOW).subject
    assert env.cache.fetch_count == 2


def test_unknown_kid_refetches_once_then_not_again_within_the_interval(env: Env) -> None:
    now = [NOW]
    env.cache = JwksCache(env.cache.jwks_uri, env.client, now=lambda: now[0])
    env.validate(env.sign())
    now[0] += timedelta(minutes=5)
    with pytest.raises(SigningKeyNotFoundError):
        env.validate(env.sign(headers={"kid": "unknown-1"}))
    assert env.cache.fetch_count == 2
    with pytest.raises(SigningKeyNotFoundError):
        env.validate(env.sign(headers={"kid": "unknown-2"}))
    assert env.cache.fetch_count == 2
    assert env.requests == [JWKS_URI, JWKS_URI]


def test_key_location_headers_are_never_followed(env: Env) -> None:
    attacker_jwk = rsa_jwk(env.attacker, "evil")
    pointing_elsewhere = {
        "kid": "k1",
        "jku": "https://evil.test/jwks",
        "x5u": "https://evil.test/cert.pem",
        "jwk": attacker_jwk,
    }
    # Signed by the real key: accepted, but nothing other than our JWKS was fetched.
    assert env.validate(env.sign(headers=pointing_elsewhere))
    # Signed by the attacker, embedding the attacker's key: refused, still nothing fetched.
    for headers in (
        {"kid": "evil", "jku": "https://evil.test/jwks", "jwk": attacker_jwk},
        {"kid": "k1", "x5u": "https://evil.test/cert.pem", "jwk": attacker_jwk},
        {"jwk": attacker_jwk},
    ):
        with pytest.raises((SigningKeyNotFoundError, InvalidSignatureError)):
            env.validate(env.sign(headers=headers, key=env.attacker))
    assert set(env.requests) == {JWKS_URI}


# ---------------------------------------------------------------------------- refused


def _unsigned(env: Env) -> str:
    header = b64json({"alg": "none", "typ": "JWT", "kid": "k1"})
    return f"{header}.{b64json(superid_payload())}."


def _hs256_with_public_pem(env: Env) -> str:
    pem = env.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{b64json(superid_payload())}"
    )
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _flip_signature_byte(env: Env) -> str:
    header, payload, signature = env.sign().split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    return f"{header}.{payload}.{b64(bytes(raw))}"


def _tampered_payload(env: Env) -> str:
    header, _payload, signature = env.sign().split(".")
    return f"{header}.{b64json(superid_payload(sub='admin@superoffice.com'))}.{signature}"


def _raw(header: Any, payload: Any, signature: str = "c2ln") -> str:
    return f"{b64json(header)}.{b64json(payload)}.{signature}"


def _with_issuer(iss: str) -> Callable[[Env], str]:
    return lambda e: e.sign(superid_payload(iss=iss))


Case = tuple[str, Callable[[Env], str], type[Exception], str | None]

REFUSED: list[Case] = [
    # algorithm
    ("alg none (unsigned)", _unsigned, AlgorithmNotAllowedError, None),
    ("HS256 signed with the public PEM", _hs256_with_public_pem, AlgorithmNotAllowedError, None),
    ("RS512 not in allow-list", lambda e: e.sign(alg="RS512"), AlgorithmNotAllowedError, None),
    (
        "alg missing",
        lambda e: _raw({"kid": "k1"}, superid_payload()),
        AlgorithmNotAllowedError,
        None,
    ),
    (
        "alg not a string",
        lambda e: _raw({"alg": ["RS256"], "kid": "k1"}, superid_payload()),
        AlgorithmNotAllowedError,
        None,
    ),
    # signature
    ("flipped signature byte", _flip_signature_byte, InvalidSignatureError, None),
    ("tampered payload", _tampered_payload, InvalidSignatureError, None),
    ("signed by another key", lambda e: e.sign(key=e.attacker), InvalidSignatureError, None),
    ("empty signature", lambda e: e.sign().rsplit(".", 1)[0] + ".", InvalidSignatureError, None),
    # issuer
    *[
        (
            f"issuer {iss}",
            _with_issuer(iss),
            IssuerMismatchError,
            "iss",
        )
        for iss in (
            "https://sod.superoffice.com/",
            "https://online.superoffice.com",
            "https://qaonline.superoffice.com",
            "https://sod.superoffice.com.evil.test",
            "https://sod.superoffice.com/login",
            "http://sod.superoffice.com",
            "https://SOD.superoffice.com",
            "SuperOffice AS",
        )
    ],
    (
        "issuer not a string",
        lambda e: e.sign_raw(superid_payload(iss=[ISSUER]), {"kid": "k1"}),
        IssuerMismatchError,
        "iss",
    ),
    ("issuer missing", lambda e: e.sign(superid_payload(iss=None)), MissingClaimError, "iss"),
    # audience
    (
        "another audience",
        lambda e: e.sign(superid_payload(aud=OTHER_CLIENT_ID)),
        AudienceMismatchError,
        "aud",
    ),
    (
        "audience list without us",
        lambda e: e.sign(superid_payload(aud=[OTHER_CLIENT_ID], azp=OTHER_CLIENT_ID)),
        AudienceMismatchError,
        "aud",
    ),
    (
        "audience list without azp",
        lambda e: e.sign(superid_payload(aud=[CLIENT_ID, OTHER_CLIENT_ID])),
        AudienceMismatchError,
        "azp",
    ),
    (
        "audience list with wrong azp",
        lambda e: e.sign(superid_payload(aud=[CLIENT_ID, OTHER_CLIENT_ID], azp=OTHER_CLIENT_ID)),
        AudienceMismatchError,
        "azp",
    ),
    (
        "single audience with wrong azp",
        lambda e: e.sign(superid_payload(azp=OTHER_CLIENT_ID)),
        AudienceMismatchError,
        "azp",
    ),
    ("audience a number", lambda e: e.sign(superid_payload(aud=42)), AudienceMismatchError, "aud"),
    ("audience missing", lambda e: e.sign(superid_payload(aud=None)), MissingClaimError, "aud"),
    # required claims
    ("sub missing", lambda e: e.sign(superid_payload(sub=None)), MissingClaimError, "sub"),
    ("iat missing", lambda e: e.sign(superid_payload(iat=None)), MissingClaimError, "iat"),
    ("exp missing", lambda e: e.sign(superid_payload(exp=None)), MissingClaimError, "exp"),
    ("sub empty", lambda e: e.sign(superid_payload(sub="")), MalformedTokenError, "sub"),
    ("iat not a date", lambda e: e.sign(superid_payload(iat="soon")), MalformedTokenError, "iat"),
    ("exp a boolean", lambda e: e.sign(superid_payload(exp=True)), MalformedTokenError, "exp"),
    # time
    (
        "expired beyond leeway",
        lambda e: e.sign(superid_payload(exp=IAT - 51)),  # 61 s ago
        TokenExpiredError,
        "exp",
    ),
    (
        "expired long ago",
        lambda e: e.sign(superid_payload(exp=IAT - 86400)),
        TokenExpiredError,
        "exp",
    ),
    (
        "nbf in the future",
        lambda e: e.sign(superid_payload(nbf=IAT + 120)),
        TokenNotYetValidError,
        "nbf",
    ),
    (
        "iat far in the future",
        lambda e: e.sign(superid_payload(iat=str(IAT + 3600), exp=IAT + 3900, nbf=None)),
        TokenNotYetValidError,
        "iat",
    ),
    # nonce
    ("wrong nonce", lambda e: e.sign(superid_payload(nonce="other")), NonceMismatchError, "nonce"),
    ("nonce missing", lambda e: e.sign(superid_payload(nonce=None)), NonceMismatchError, "nonce"),
    ("nonce a number", lambda e: e.sign(superid_payload(nonce=7)), NonceMismatchError, "nonce"),
    # size and shape
    (
        "oversized",
        lambda e: e.sign(superid_payload(padding="x" * MAX_TOKEN_BYTES)),
        MalformedTokenError,
        None,
    ),
    ("empty", lambda e: "", MalformedTokenError, None),
    ("two parts", lambda e: e.sign().rsplit(".", 1)[0], MalformedTokenError, None),
    ("four parts", lambda e: e.sign() + ".extra", MalformedTokenError, None),
    ("bad base64", lambda e: "!!!." + e.sign().split(".", 1)[1], MalformedTokenError, None),
    ("base64 with padding", lambda e: _raw({"alg": "RS256"}, {}) + "==", MalformedTokenError, None),
    ("non-ASCII", lambda e: e.sign() + "é", MalformedTokenError, None),
    (
        "header not JSON",
        lambda e: f"{b64(b'not json')}.{b64json(superid_payload())}.c2ln",
        MalformedTokenError,
        None,
    ),
    ("header a list", lambda e: _raw(["RS256"], superid_payload()), MalformedTokenError, None),
    (
        "payload a list",
        lambda e: e.sign().split(".")[0] + "." + b64json([1, 2]) + ".c2ln",
        MalformedTokenError,
        None,
    ),
    (
        "payload not JSON",
        lambda e: e.sign().split(".")[0] + "." + b64(b"{nope") + ".c2ln",
        MalformedTokenError,
        None,
    ),
    (
        "duplicate claim",
        lambda e: e.sign_raw(
            json.dumps(superid_payload())[:-1].encode() + b', "sub": "admin"}', {"kid": "k1"}
        ),
        MalformedTokenError,
        None,
    ),
    (
        "crit header",
        lambda e: e.sign(headers={"kid": "k1", "crit": ["exp"], "exp": 1}),
        MalformedTokenError,
        None,
    ),
    (
        "b64 header",
        lambda e: _raw({"alg": "RS256", "kid": "k1", "b64": False}, superid_payload()),
        MalformedTokenError,
        None,
    ),
    (
        "kid not a string",
        lambda e: e.sign_raw(superid_payload(), {"kid": 1}),
        MalformedTokenError,
        None,
    ),
    # keys
    (
        "unknown kid",
        lambda e: e.sign(headers={"kid": "nobody"}),
        SigningKeyNotFoundError,
        None,
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "claim"),
    [pytest.param(make, error, claim, id=name) for name, make, error, claim in REFUSED],
)
def test_refused(
    env: Env, make: Callable[[Env], str], error: type[Exception], claim: str | None
) -> None:
    token = make(env)
    with pytest.raises(error) as info:
        env.validate(token)
    assert type(info.value) is error
    if isinstance(info.value, TokenValidationError):
        assert info.value.claim == claim
    if token:
        message = str(info.value)
        assert token not in message
        for part in token.split("."):
            if len(part) > 8:
                assert part not in message


@pytest.mark.parametrize(
    "make",
    [_unsigned, _hs256_with_public_pem, lambda e: e.sign(alg="RS512"), lambda e: "a.b"],
    ids=["none", "hs256", "rs512", "malformed"],
)
def test_bad_algorithms_and_shapes_never_reach_the_key_set(
    env: Env, make: Callable[[Env], str]
) -> None:
    with pytest.raises(TokenValidationError):
        env.validate(make(env))
    assert env.cache.fetch_count == 0
    assert env.requests == []


def test_oversized_token_is_refused_before_parsing(env: Env) -> None:
    with pytest.raises(MalformedTokenError, match="larger"):
        env.validate("x" * (MAX_TOKEN_BYTES + 1))
    policy = ValidationPolicy(max_token_bytes=100)
    with pytest.raises(MalformedTokenError, match="larger"):
        env.validate(env.sign(), policy=policy)


def test_leeway_is_configurable(env: Env) -> None:
    token = env.sign(superid_payload(exp=IAT - 20))  # expired 30 s ago
    with pytest.raises(TokenExpiredError):
        env.validate(token, policy=ValidationPolicy(leeway=timedelta(seconds=10)))
    assert env.validate(token, policy=ValidationPolicy(leeway=timedelta(seconds=31)))


def test_key_set_failure_is_not_a_token_error(
    signing_key: RSAPrivateKey, attacker_key: RSAPrivateKey
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    client = create_client(transport=transport)
    cache = JwksCache(JWKS_URI, client, now=lambda: NOW)
    env = Env(signing_key, attacker_key, [], [], cache, client)
    with pytest.raises(KeySetError):
        env.validate(env.sign())


def test_naive_clock_is_refused(env: Env) -> None:
    with pytest.raises(ConfigurationError, match="timezone"):
        env.validate(env.sign(), now=lambda: NOW.replace(tzinfo=None))


# ---------------------------------------------------------------------------- policy


def test_policy_defaults() -> None:
    policy = ValidationPolicy()
    assert policy.algorithms == ("RS256",)
    assert policy.leeway == timedelta(seconds=60)
    assert policy.max_token_bytes == 16 * 1024
    assert policy.max_future_iat == timedelta(seconds=60)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"leeway": timedelta(minutes=5, seconds=1)},
        {"leeway": timedelta(seconds=-1)},
        {"max_future_iat": timedelta(hours=1)},
        {"algorithms": ("HS256",)},
        {"algorithms": ("none",)},
        {"algorithms": ("RS256", "HS256")},
        {"algorithms": ()},
        {"max_token_bytes": 0},
    ],
)
def test_policy_refuses_unsafe_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ValidationPolicy(**kwargs)


def test_policy_from_settings() -> None:
    settings = Settings(
        _env_file=None, allowed_algorithms=("RS256", "PS256"), token_leeway_seconds=30
    )
    policy = ValidationPolicy.from_settings(settings)
    assert policy.algorithms == ("RS256", "PS256")
    assert policy.leeway == timedelta(seconds=30)
    assert policy.max_future_iat == timedelta(seconds=30)


def test_ps256_is_accepted_when_allowed(env: Env) -> None:
    env.keys[0].pop("alg")
    policy = ValidationPolicy(algorithms=("RS256", "PS256"))
    assert env.validate(env.sign(alg="PS256"), policy=policy)
