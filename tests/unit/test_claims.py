from datetime import UTC, datetime

import pytest

from toolkit import claims
from toolkit.claims import IdTokenClaims
from toolkit.errors import MalformedTokenError

PREFIX = "http://schemes.superoffice.net/identity/"


def superid_payload(**overrides: object) -> dict[str, object]:
    """An id_token payload shaped like SD:validate's example: SuperOffice values as strings."""
    payload: dict[str, object] = {
        "sub": "tony@superoffice.com",
        "iss": "https://sod.superoffice.com",
        "aud": "6cf25376616343b38d14ddcd804f2891",
        "iat": "1581665207",
        "nbf": 1581665147,
        "exp": 1581665507,
        "nonce": "n-0S6_WzA2Mj",
        PREFIX + "associateid": "5",
        PREFIX + "company_name": "Tonys Developer Network",
        PREFIX + "ctx": "Cust26759",
        PREFIX + "email": "tony@superoffice.com",
        PREFIX + "identityprovider": "central-superid",
        PREFIX + "initials": "TY",
        PREFIX + "is_administrator": "False",
        PREFIX + "netserver_url": "https://sod.superoffice.com/Cust26759/Remote/Services86/",
        PREFIX + "serial": "1801550193",
        PREFIX + "so_primary_email_address": "tony@superoffice.com",
        PREFIX + "system_token": "SuperOffice DevNet Node OIDC-8k8Q7DmBgo",
        PREFIX + "upn": "tony@superoffice.com",
        PREFIX + "webapi_url": "https://sod.superoffice.com/Cust26759/api/",
    }
    payload.update(overrides)
    return payload


def test_claim_uris_are_the_documented_literals() -> None:
    assert claims.CONTEXT_IDENTIFIER == "http://schemes.superoffice.net/identity/ctx"
    assert claims.SYSTEM_TOKEN == "http://schemes.superoffice.net/identity/system_token"
    assert claims.IS_ADMINISTRATOR == "http://schemes.superoffice.net/identity/is_administrator"
    assert claims.WEBAPI_URL == "http://schemes.superoffice.net/identity/webapi_url"
    assert claims.PRIMARY_EMAIL_ADDRESS == (
        "http://schemes.superoffice.net/identity/so_primary_email_address"
    )
    assert all(uri.startswith(PREFIX) for uri in claims.ALL_CLAIMS)
    assert len(set(claims.ALL_CLAIMS)) == len(claims.ALL_CLAIMS)


def test_string_values_become_python_types() -> None:
    view = IdTokenClaims.from_payload(superid_payload())
    assert view.is_administrator is False
    assert view.associate_id == 5
    assert view.issued_at == datetime(2020, 2, 14, 7, 26, 47, tzinfo=UTC)
    assert view.expires_at == datetime(2020, 2, 14, 7, 31, 47, tzinfo=UTC)
    assert view.context_identifier == "Cust26759"
    assert view.serial == "1801550193"
    assert view.webapi_url == "https://sod.superoffice.com/Cust26759/api/"
    assert view.audience == ("6cf25376616343b38d14ddcd804f2891",)
    assert view.has_system_user_token


@pytest.mark.parametrize(("wire", "value"), [("True", True), ("true", True), ("FALSE", False)])
def test_is_administrator_accepts_any_case(wire: str, value: bool) -> None:
    view = IdTokenClaims.from_payload(superid_payload(**{PREFIX + "is_administrator": wire}))
    assert view.is_administrator is value


def test_system_user_token_never_shows_in_repr_or_public_claims() -> None:
    view = IdTokenClaims.from_payload(superid_payload())
    assert "8k8Q7DmBgo" not in repr(view)
    assert "8k8Q7DmBgo" not in str(view)
    assert "8k8Q7DmBgo" not in str(view.public_claims())
    assert view.public_claims()[claims.SYSTEM_TOKEN] == claims.REDACTED
    assert view.system_user_token == "SuperOffice DevNet Node OIDC-8k8Q7DmBgo"


def test_a_token_without_the_system_token_claim() -> None:
    payload = superid_payload()
    del payload[claims.SYSTEM_TOKEN]
    view = IdTokenClaims.from_payload(payload)
    assert view.system_user_token is None
    assert not view.has_system_user_token


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        (PREFIX + "is_administrator", "yes"),
        (PREFIX + "associateid", "five"),
        (PREFIX + "ctx", 26759),
        ("iat", "yesterday"),
        ("exp", True),
    ],
)
def test_malformed_values_name_the_claim(claim: str, value: object) -> None:
    with pytest.raises(MalformedTokenError) as caught:
        IdTokenClaims.from_payload(superid_payload(**{claim: value}))
    assert caught.value.claim == claim
