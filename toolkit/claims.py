"""SuperOffice claim URIs and typed, redacting views of validated claims.

SuperID puts its own claims under ``http://schemes.superoffice.net/identity/`` and sends every
value as a string (protocol §2.5, SD:validate): ``is_administrator`` is ``"True"``/``"False"``,
``associateid`` is ``"5"``. :class:`IdTokenClaims` converts them once, after validation, and never
shows the secret ``system_token`` in its repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from toolkit.errors import MalformedTokenError

SUPEROFFICE_CLAIM_PREFIX = "http://schemes.superoffice.net/identity/"

# Documented in the SD:validate claim table (protocol §2.5). [C]
ASSOCIATE_ID = SUPEROFFICE_CLAIM_PREFIX + "associateid"
COMPANY_NAME = SUPEROFFICE_CLAIM_PREFIX + "company_name"
CONTEXT_IDENTIFIER = SUPEROFFICE_CLAIM_PREFIX + "ctx"
EMAIL = SUPEROFFICE_CLAIM_PREFIX + "email"
FIRST_NAME = SUPEROFFICE_CLAIM_PREFIX + "firstname"  # legacy federated flow only
LAST_NAME = SUPEROFFICE_CLAIM_PREFIX + "lastname"  # legacy federated flow only
IDENTITY_PROVIDER = SUPEROFFICE_CLAIM_PREFIX + "identityprovider"
INITIALS = SUPEROFFICE_CLAIM_PREFIX + "initials"
IS_ADMINISTRATOR = SUPEROFFICE_CLAIM_PREFIX + "is_administrator"
NETSERVER_URL = SUPEROFFICE_CLAIM_PREFIX + "netserver_url"
REMEMBER_ME_EXPIRES = SUPEROFFICE_CLAIM_PREFIX + "remember_me_expires"  # unused by SuperID
SERIAL = SUPEROFFICE_CLAIM_PREFIX + "serial"
PRIMARY_EMAIL_ADDRESS = SUPEROFFICE_CLAIM_PREFIX + "so_primary_email_address"
SYSTEM_TOKEN = SUPEROFFICE_CLAIM_PREFIX + "system_token"
TICKET = SUPEROFFICE_CLAIM_PREFIX + "ticket"  # legacy tokens and the system user JWT only
UPN = SUPEROFFICE_CLAIM_PREFIX + "upn"
WEBAPI_URL = SUPEROFFICE_CLAIM_PREFIX + "webapi_url"

# Seen only in a third-party client's constants, not in the docs table (protocol §2.5). [S]
SUPERID_UPN = SUPEROFFICE_CLAIM_PREFIX + "superid-upn"
TENANT_ID = SUPEROFFICE_CLAIM_PREFIX + "tenantId"
SECONDARY_IDENTITY_PROVIDER = SUPEROFFICE_CLAIM_PREFIX + "secondaryidentityprovider"
PERSON_ID = SUPEROFFICE_CLAIM_PREFIX + "personid"
COMPANY_ID = SUPEROFFICE_CLAIM_PREFIX + "company_id"

ALL_CLAIMS = (
    ASSOCIATE_ID,
    COMPANY_ID,
    COMPANY_NAME,
    CONTEXT_IDENTIFIER,
    EMAIL,
    FIRST_NAME,
    IDENTITY_PROVIDER,
    INITIALS,
    IS_ADMINISTRATOR,
    LAST_NAME,
    NETSERVER_URL,
    PERSON_ID,
    PRIMARY_EMAIL_ADDRESS,
    REMEMBER_ME_EXPIRES,
    SECONDARY_IDENTITY_PROVIDER,
    SERIAL,
    SUPERID_UPN,
    SYSTEM_TOKEN,
    TENANT_ID,
    TICKET,
    UPN,
    WEBAPI_URL,
)
# Claims whose values are credentials: never shown, logged or exported.
SECRET_CLAIMS = frozenset({SYSTEM_TOKEN, TICKET})

REDACTED = "<redacted>"


def parse_numeric_date(value: Any, claim: str) -> datetime:
    """A JWT NumericDate as an aware UTC datetime.

    SuperID's example id_token carries ``iat`` as a numeric *string* (SD:validate), so digits in
    a string are accepted; anything else is malformed.
    """
    if isinstance(value, bool):
        raise MalformedTokenError(f"claim {claim} is not a NumericDate", claim=claim)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise MalformedTokenError(f"claim {claim} is not a NumericDate", claim=claim) from None
    if not isinstance(value, int | float):
        raise MalformedTokenError(f"claim {claim} is not a NumericDate", claim=claim)
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedTokenError(f"claim {claim} is out of range", claim=claim) from None


def parse_bool(value: Any, claim: str) -> bool | None:
    """SuperOffice's ``"True"``/``"False"`` strings (any case); real booleans pass through."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise MalformedTokenError(f"claim {claim} is not True or False", claim=claim)


def parse_int(value: Any, claim: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise MalformedTokenError(f"claim {claim} is not an integer", claim=claim)


def _text(payload: Mapping[str, Any], claim: str) -> str | None:
    value = payload.get(claim)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedTokenError(f"claim {claim} is not a string", claim=claim)
    return value


@dataclass(frozen=True, repr=False)
class IdTokenClaims:
    """The claims of a validated SuperID id_token, converted to Python types.

    Build it only from a payload that :func:`toolkit.auth.tokens.validate_id_token` accepted.
    ``raw`` keeps the payload as received, for claims this view does not name.
    """

    subject: str
    issuer: str
    audience: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    not_before: datetime | None
    nonce: str | None
    context_identifier: str | None
    serial: str | None
    associate_id: int | None
    email: str | None
    is_administrator: bool | None
    webapi_url: str | None
    netserver_url: str | None
    company_name: str | None
    identity_provider: str | None
    initials: str | None
    upn: str | None
    primary_email_address: str | None
    system_user_token: str | None = field(default=None)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> IdTokenClaims:
        aud = payload.get("aud")
        audience = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        nbf = payload.get("nbf")
        return cls(
            subject=str(payload["sub"]),
            issuer=str(payload["iss"]),
            audience=audience,
            issued_at=parse_numeric_date(payload["iat"], "iat"),
            expires_at=parse_numeric_date(payload["exp"], "exp"),
            not_before=None if nbf is None else parse_numeric_date(nbf, "nbf"),
            nonce=_text(payload, "nonce"),
            context_identifier=_text(payload, CONTEXT_IDENTIFIER),
            serial=_text(payload, SERIAL),
            associate_id=parse_int(payload.get(ASSOCIATE_ID), ASSOCIATE_ID),
            email=_text(payload, EMAIL),
            is_administrator=parse_bool(payload.get(IS_ADMINISTRATOR), IS_ADMINISTRATOR),
            webapi_url=_text(payload, WEBAPI_URL),
            netserver_url=_text(payload, NETSERVER_URL),
            company_name=_text(payload, COMPANY_NAME),
            identity_provider=_text(payload, IDENTITY_PROVIDER),
            initials=_text(payload, INITIALS),
            upn=_text(payload, UPN),
            primary_email_address=_text(payload, PRIMARY_EMAIL_ADDRESS),
            system_user_token=_text(payload, SYSTEM_TOKEN),
            raw=dict(payload),
        )

    @property
    def has_system_user_token(self) -> bool:
        return bool(self.system_user_token)

    def public_claims(self) -> dict[str, Any]:
        """The raw claims with every secret claim replaced by a marker: safe to show or log."""
        return {k: (REDACTED if k in SECRET_CLAIMS else v) for k, v in self.raw.items()}

    def __repr__(self) -> str:
        token = REDACTED if self.system_user_token else None
        return (
            f"IdTokenClaims(subject={self.subject!r}, context_identifier="
            f"{self.context_identifier!r}, is_administrator={self.is_administrator!r}, "
            f"associate_id={self.associate_id!r}, system_user_token={token!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class SystemUserClaims:
    """The claims of a validated system user JWT (the PartnerSystemUser answer, protocol §4.6).

    Build it only from a payload that :func:`toolkit.auth.tokens.validate_system_user_token`
    accepted. ``ticket`` is the secret credential (``7T:...``) and never shown by ``repr``;
    ``webapi_url`` is [I] (open question 4), so it may be None; so is ``issued_at`` (``iat`` is
    not among the claims SuperOffice documents for this token).
    """

    issuer: str
    audience: tuple[str, ...]
    serial: str
    context_identifier: str
    ticket: str
    issued_at: datetime | None
    expires_at: datetime
    not_before: datetime | None
    subject: str | None
    netserver_url: str | None
    webapi_url: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SystemUserClaims:
        aud = payload.get("aud")
        audience = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        nbf, iat = payload.get("nbf"), payload.get("iat")
        return cls(
            issuer=str(payload["iss"]),
            audience=audience,
            serial=str(payload[SERIAL]),
            context_identifier=str(payload[CONTEXT_IDENTIFIER]),
            ticket=str(payload[TICKET]),
            issued_at=None if iat is None else parse_numeric_date(iat, "iat"),
            expires_at=parse_numeric_date(payload["exp"], "exp"),
            not_before=None if nbf is None else parse_numeric_date(nbf, "nbf"),
            subject=_text(payload, "sub"),
            netserver_url=_text(payload, NETSERVER_URL),
            webapi_url=_text(payload, WEBAPI_URL),
            raw=dict(payload),
        )

    def public_claims(self) -> dict[str, Any]:
        """The raw claims with every secret claim replaced by a marker: safe to show or log."""
        return {k: (REDACTED if k in SECRET_CLAIMS else v) for k, v in self.raw.items()}

    def __repr__(self) -> str:
        return (
            f"SystemUserClaims(context_identifier={self.context_identifier!r}, "
            f"serial={self.serial!r}, expires_at={self.expires_at.isoformat()!r}, "
            f"ticket={REDACTED!r})"
        )

    __str__ = __repr__
