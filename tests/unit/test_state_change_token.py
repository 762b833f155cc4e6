"""validate_state_change_token: the state-change webhook's JWT, a SuperID token (protocol §6:
issuer https://{env}.superoffice.com, SuperID's keys; audience undocumented, open question 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from toolkit.auth.tokens import ValidationPolicy, validate_state_change_token
from toolkit.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    ConfigurationError,
    ContextMismatchError,
    InvalidSignatureError,
    IssuerMismatchError,
    MalformedTokenError,
    MissingClaimError,
    NotificationMismatchError,
    SigningKeyNotFoundError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenValidationError,
)

CLIENT_ID = "6cf25376616343b38d14ddcd804f2891"
# SuperOffice's sample: ValidIssuer = "https://sod.superoffice.com" (SuperOfficeDocs
# docs/apps/tenant-status/includes/api-controller.md); the id_token's issuer, no /login.
ISSUER = "https://sod.superoffice.com"
CTX = "Cust12345"
PREFIX = "http://schemes.superoffice.net/identity/"
IAT = 1_760_000_000
NOW = datetime.fromtimestamp(IAT + 5, tz=UTC)
KID = "superid-1"


@pytest.fixture(scope="module")
def key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Keys:
    """A SigningKeySource holding one public key under KID."""

    def __init__(self, private: RSAPrivateKey) -> None:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
        self.key = jwt.PyJWK(jwk)

    def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        if kid not in (KID, None):
            raise SigningKeyNotFoundError("no such kid", kid=kid)
        return self.key


@pytest.fixture(scope="module")
def keys(key: RSAPrivateKey) -> Keys:
    return Keys(key)


def claims(**overrides: Any) -> dict[str, Any]:
    """A SuperID-issued notification token: no audience (none is documented), no claim binding
    it to the message (the emulator's [I] shape; tests add them where they matter)."""
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "iat": IAT,
        "nbf": IAT - 60,
        "exp": IAT + 300,
        "jti": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def sign(payload: dict[str, Any], private: RSAPrivateKey, **header: Any) -> str:
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": KID, **header})


def validate(token: str, keys: Keys, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "keys": keys,
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "context_identifier": CTX,
        "change_type": 2,
        "now": lambda: NOW,
    }
    options.update(kwargs)
    return validate_state_change_token(token, **options)


def test_a_superid_issued_token_validates(key: RSAPrivateKey, keys: Keys) -> None:
    result = validate(sign(claims(), key), keys)
    assert result.issuer == "https://sod.superoffice.com"
    assert result.audience == ()
    assert (result.context_identifier, result.change_type) == (None, None)
    assert result.token_id == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert result.issued_at == datetime.fromtimestamp(IAT, tz=UTC)
    assert "redacted" in repr(result)


def test_the_old_superoffice_as_token_is_refused(key: RSAPrivateKey, keys: Keys) -> None:
    # What both sides used before issue 11: the system user JWT's issuer and audience form.
    old = claims(iss="SuperOffice AS", aud=f"spn:{CLIENT_ID}")
    with pytest.raises(IssuerMismatchError):
        validate(sign(old, key), keys)
    with pytest.raises(AudienceMismatchError):  # spn:{client_id} is not the client id
        validate(sign(claims(aud=f"spn:{CLIENT_ID}"), key), keys)


@pytest.mark.parametrize("aud", [CLIENT_ID, [CLIENT_ID]])
def test_an_audience_is_checked_when_present(key: RSAPrivateKey, keys: Keys, aud: Any) -> None:
    assert validate(sign(claims(aud=aud), key), keys).audience == (CLIENT_ID,)


@pytest.mark.parametrize(
    "aud", ["0" * 32, ["0" * 32], [CLIENT_ID, "0" * 32], "", 12345, {"client": CLIENT_ID}]
)
def test_an_audience_present_and_wrong_is_refused(key: RSAPrivateKey, keys: Keys, aud: Any) -> None:
    with pytest.raises(AudienceMismatchError):  # several audiences also need azp
        validate(sign(claims(aud=aud), key), keys)


def test_iat_is_optional_exp_is_not(key: RSAPrivateKey, keys: Keys) -> None:
    assert validate(sign(claims(iat=None, nbf=None), key), keys).issued_at is None
    with pytest.raises(MissingClaimError):
        validate(sign(claims(exp=None), key), keys)


def test_claims_binding_the_message_are_checked_when_present(
    key: RSAPrivateKey, keys: Keys
) -> None:
    bound = claims(**{PREFIX + "ctx": "cust12345", PREFIX + "change_type": 2})
    result = validate(sign(bound, key), keys)  # ctx compared case-insensitively
    assert (result.context_identifier, result.change_type) == ("cust12345", 2)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (claims(iss="SuperOffice AS"), IssuerMismatchError),
        (claims(iss="https://sod.superoffice.com/"), IssuerMismatchError),
        (claims(iss="https://sod.superoffice.com/login"), IssuerMismatchError),
        (claims(iss="https://online.superoffice.com"), IssuerMismatchError),
        (claims(iss=None), MissingClaimError),
        (claims(aud=f"spn:{'0' * 32}"), AudienceMismatchError),
        (claims(exp=IAT - 120), TokenExpiredError),
        (claims(exp=None), MissingClaimError),
        (claims(iat=IAT + 3600, nbf=None), TokenNotYetValidError),
        (claims(nbf=IAT + 3600), TokenNotYetValidError),
        (claims(**{PREFIX + "ctx": "Cust54321"}), ContextMismatchError),
        (claims(**{PREFIX + "ctx": 12345}), ContextMismatchError),
        (claims(**{PREFIX + "change_type": 4}), NotificationMismatchError),
        (claims(**{PREFIX + "change_type": "Delete"}), MalformedTokenError),
        (claims(jti=""), MalformedTokenError),
    ],
)
def test_every_forged_claim_is_a_typed_error(
    key: RSAPrivateKey, keys: Keys, payload: dict[str, Any], error: type[TokenValidationError]
) -> None:
    with pytest.raises(error):
        validate(sign(payload, key), keys)


def test_another_key_is_an_invalid_signature(attacker: RSAPrivateKey, keys: Keys) -> None:
    with pytest.raises(InvalidSignatureError):
        validate(sign(claims(), attacker), keys)


def test_an_unknown_kid_finds_no_key(key: RSAPrivateKey, keys: Keys) -> None:
    with pytest.raises(SigningKeyNotFoundError):
        validate(sign(claims(), key, kid="attacker"), keys)


def test_symmetric_and_none_algorithms_are_refused(keys: Keys) -> None:
    hs = jwt.encode(claims(), "the-public-key-used-as-an-hmac-secret!", algorithm="HS256")
    with pytest.raises(AlgorithmNotAllowedError):
        validate(hs, keys)
    unsigned = jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(AlgorithmNotAllowedError):
        validate(unsigned, keys)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "x" * 20000, "é.é.é"])
def test_malformed_tokens(keys: Keys, token: str) -> None:
    with pytest.raises(MalformedTokenError):
        validate(token, keys)


def test_a_tampered_payload_does_not_verify(key: RSAPrivateKey, keys: Keys) -> None:
    genuine = sign(claims(), key)
    other = sign(claims(aud=CLIENT_ID), key)
    header, _, signature = genuine.split(".")
    forged = ".".join([header, other.split(".")[1], signature])
    with pytest.raises(InvalidSignatureError):
        validate(forged, keys)


def test_leeway_is_bounded_and_applied(key: RSAPrivateKey, keys: Keys) -> None:
    token = sign(claims(exp=IAT), key)  # expired 5 s before NOW
    assert validate(token, keys)  # within the default 60 s leeway
    strict = ValidationPolicy(leeway=timedelta(0))
    with pytest.raises(TokenExpiredError):
        validate(token, keys, policy=strict)
    with pytest.raises(ConfigurationError):
        ValidationPolicy(leeway=timedelta(hours=1))


def test_change_type_is_checked_only_when_given(key: RSAPrivateKey, keys: Keys) -> None:
    token = sign(claims(**{PREFIX + "change_type": 4}), key)
    assert validate(token, keys, change_type=None).change_type == 4


def test_arguments_are_required(key: RSAPrivateKey, keys: Keys) -> None:
    with pytest.raises(ConfigurationError):
        validate(sign(claims(), key), keys, issuer="")
    with pytest.raises(ConfigurationError):
        validate(sign(claims(), key), keys, client_id="")
    with pytest.raises(ConfigurationError):
        validate(sign(claims(), key), keys, context_identifier="")
