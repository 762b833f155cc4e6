"""Security token validation, in one place, with the rules of each token kind.

Every kind goes through one private core, :func:`_decode_verified`: size bound, well-formedness,
the algorithm allow-list (checked before any key is touched), no ``crit`` extensions, and the
signature against SuperID's JWKS. Claim checks are small shared helpers; each public function
applies the rules of its kind:

* :func:`validate_id_token`: the OIDC id_token (protocol §2.5, "Validation SuperOffice asks
  for"): issuer ``https://{env}.superoffice.com``, audience = client id, ``sub``/``iat``/``exp``,
  nonce.
* :func:`validate_system_user_token`: the system user JWT the PartnerSystemUser exchange
  returns (§4.6): issuer ``SuperOffice AS``, audience ``spn:`` + its own ``serial`` claim,
  ``exp``; ``iat``/``nbf`` only when present; ``ctx`` = the tenant asked for, a ``7T:`` ticket.
* :func:`validate_state_change_token`: the ``Token`` of a state-change webhook (§6): a SuperID
  token, issuer ``https://{env}.superoffice.com``, signed with SuperID's keys (SuperOffice's own
  sample, SuperOfficeDocs ``docs/apps/tenant-status/includes/api-controller.md``); its audience
  is undocumented (open question 16), so ``aud`` is checked only when the token has one.

Time checks use the injected ``now`` clock, never PyJWT's own (PyJWT is only asked to verify
the signature). Messages never contain the token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import jwt

from toolkit.auth.jwks import SigningKeySource
from toolkit.claims import (
    CONTEXT_IDENTIFIER,
    REDACTED,
    SERIAL,
    SUPEROFFICE_CLAIM_PREFIX,
    TICKET,
    IdTokenClaims,
    SystemUserClaims,
    parse_numeric_date,
)
from toolkit.config import DEFAULT_ALGORITHMS, DEFAULT_LEEWAY_SECONDS, MAX_LEEWAY_SECONDS
from toolkit.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    ConfigurationError,
    ContextMismatchError,
    InvalidSignatureError,
    IssuerMismatchError,
    MalformedTokenError,
    MissingClaimError,
    NonceMismatchError,
    NotificationMismatchError,
    TokenExpiredError,
    TokenNotYetValidError,
)

if TYPE_CHECKING:
    from toolkit.config import Settings

# SuperID id_tokens are a few kB (header + ~20 claims); anything far larger is not one of
# them, and bounding the size first keeps hostile input from costing base64/JSON/RSA work.
MAX_TOKEN_BYTES = 16 * 1024
# Asymmetric algorithms only: with HS*, anyone holding the (public) key could forge tokens.
ALLOWED_ALGORITHM_VALUES = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
DEFAULT_LEEWAY = timedelta(seconds=DEFAULT_LEEWAY_SECONDS)
# The system user JWT's issuer: a fixed name, not a URL (SD:validate, SUC handler; §4.6). [C]
SYSTEM_USER_ISSUER = "SuperOffice AS"
# Its audience is this prefix + the token's own serial claim (§4.6). [C]
SYSTEM_USER_AUDIENCE_PREFIX = "spn:"
# A system user ticket is "7T:" + base64 (SUT, SD:ctx; §4.7). [C]
SYSTEM_USER_TICKET_PREFIX = "7T:"
MAX_LEEWAY = timedelta(seconds=MAX_LEEWAY_SECONDS)
# How old (now - iat, or now - nbf without iat) each token kind may be when it is validated,
# beyond the policy's leeway; exp alone would let a token minted long ago pass if its exp is far.
# SuperID's id_token lives 5 minutes (exp = iat + 300 in the example of SuperOfficeDocs
# docs/en/api/authentication/online/validate-security-tokens.md, §2.5) and is validated as soon
# as the code is exchanged: twice its lifetime covers a slow sign-in; older is a replayed token.
ID_TOKEN_MAX_AGE = timedelta(minutes=10)
# The system user JWT is validated the moment the PartnerSystemUser exchange returns it (§4.6;
# a mirroring sample shows exp - nbf = 360 s [S]): one minted 10 minutes earlier is not that one.
SYSTEM_USER_TOKEN_MAX_AGE = timedelta(minutes=10)
# A state-change notification is sent when the tenant's state changes and no redelivery is
# documented (§6), so its token is fresh when it arrives; an older one is a replay [I].
STATE_CHANGE_TOKEN_MAX_AGE = timedelta(minutes=10)
# Claims a state-change token might carry to bind it to its message (open question 16: none is
# documented); checked only when present. [I]
STATE_CHANGE_CONTEXT_CLAIMS = (CONTEXT_IDENTIFIER, "ctx")
STATE_CHANGE_TYPE_CLAIMS = (SUPEROFFICE_CLAIM_PREFIX + "change_type", "change_type")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ValidationPolicy:
    """How strictly tokens are checked; the defaults are SuperID's (RS256, 60 s skew).

    ``leeway`` is the clock skew tolerated on ``exp`` and ``nbf``; ``max_future_iat`` is how far
    in the future ``iat`` may lie. Both are bounded (at most 5 minutes) so a typo cannot switch
    expiry off.
    """

    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway: timedelta = DEFAULT_LEEWAY
    max_token_bytes: int = MAX_TOKEN_BYTES
    max_future_iat: timedelta = DEFAULT_LEEWAY

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        bad = [alg for alg in self.algorithms if alg not in ALLOWED_ALGORITHM_VALUES]
        if bad or not self.algorithms:
            raise ConfigurationError(
                f"algorithms must be a non-empty subset of {sorted(ALLOWED_ALGORITHM_VALUES)}"
            )
        for name in ("leeway", "max_future_iat"):
            value = getattr(self, name)
            if value < timedelta(0) or value > MAX_LEEWAY:
                raise ConfigurationError(f"{name} must be between 0 and {MAX_LEEWAY_SECONDS} s")
        if self.max_token_bytes <= 0:
            raise ConfigurationError("max_token_bytes must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> ValidationPolicy:
        """Algorithms from ``allowed_algorithms``, leeway and future-iat bound from
        ``token_leeway_seconds``."""
        leeway = timedelta(seconds=settings.token_leeway_seconds)
        return cls(
            algorithms=tuple(settings.allowed_algorithms),
            leeway=leeway,
            max_future_iat=leeway,
        )


DEFAULT_POLICY = ValidationPolicy()


def validate_id_token(
    token: str,
    *,
    keys: SigningKeySource,
    issuer: str,
    client_id: str,
    nonce: str | None,
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: Callable[[], datetime] = _utc_now,
) -> IdTokenClaims:
    """Validate a SuperID id_token and return its claims.

    ``keys`` is normally a :class:`~toolkit.auth.jwks.JwksCache`. ``issuer`` must be the
    environment's issuer exactly (``https://sod.superoffice.com``: no trailing slash, no
    ``/login``). ``aud`` must be ``client_id``, or a list containing it; a list with more than
    one audience also needs ``azp`` == ``client_id`` (an ``azp`` present must always match).
    ``sub``, ``iat`` and ``exp`` are required; ``iat`` may be a numeric string, as in SuperID's
    documented example. When ``nonce`` is given, the claim must be present and equal; when it
    is None the claim is not required.

    Replay is the caller's concern: this function checks the nonce, it does not remember it.
    The sign-in keeps each nonce single-use (it is bound to a single-use ``state``).

    Raises a :class:`~toolkit.errors.TokenValidationError` subclass naming the failed rule, or
    :class:`~toolkit.errors.KeySetError` (:class:`~toolkit.errors.SigningKeyNotFoundError`)
    when no key can verify the token.
    """
    _header, payload = _decode_verified(token, keys, policy)
    _check_issuer(payload, issuer)
    _check_audience(payload, client_id)
    _require_claims(payload, "sub", "iat", "exp")
    if not isinstance(payload["sub"], str) or not payload["sub"]:
        raise MalformedTokenError("claim sub is not a non-empty string", claim="sub")
    _check_times(payload, policy, _aware(now()), max_age=ID_TOKEN_MAX_AGE)
    if nonce is not None:
        _check_nonce(payload, nonce)
    return IdTokenClaims.from_payload(payload)


def validate_system_user_token(
    token: str,
    *,
    keys: SigningKeySource,
    context_identifier: str,
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: Callable[[], datetime] = _utc_now,
) -> SystemUserClaims:
    """Validate the JWT the PartnerSystemUser exchange returned and return its claims (§4.6).

    Rules: the signature verifies against SuperID's JWKS (``keys``); ``iss`` is exactly
    ``SuperOffice AS``; ``aud`` is ``spn:`` + the token's own ``serial`` claim, which must be a
    non-empty string; ``ctx`` equals ``context_identifier`` (compared case-insensitively, as ctx
    paths are; [I]); the ``ticket`` claim is present and starts with ``7T:``; ``exp`` is
    required; ``iat`` and ``nbf`` are checked only when present (SuperOffice documents
    signature, issuer, audience and expiry for this token, SD:validate and SUC
    ``Tokens/SystemUserTokenHandler.cs``; its other time claims are open question 4), all with
    the policy's bounded leeway.

    SuperOffice's own handler (SUC) reads ``serial`` from the *unverified* payload to build the
    expected audience, then validates. Here the shared core verifies the signature first and the
    serial is read from that same, now verified, payload: the same rule, never trusting an
    unverified value.

    Raises a :class:`~toolkit.errors.TokenValidationError` subclass naming the failed rule
    (:class:`~toolkit.errors.ContextMismatchError` for ``ctx``,
    :class:`~toolkit.errors.MissingClaimError` with ``claim`` = the ticket URI for a reply
    without a ticket), or :class:`~toolkit.errors.KeySetError` when no key can verify it.
    """
    if not context_identifier:
        raise ConfigurationError("context_identifier is required to validate a system user JWT")
    _header, payload = _decode_verified(token, keys, policy)
    _check_issuer(payload, SYSTEM_USER_ISSUER)
    _require_claims(payload, SERIAL)
    serial = payload[SERIAL]
    if not isinstance(serial, str) or not serial.strip():
        raise MalformedTokenError("claim serial is not a non-empty string", claim=SERIAL)
    _check_audience(payload, SYSTEM_USER_AUDIENCE_PREFIX + serial)
    _require_claims(payload, CONTEXT_IDENTIFIER)
    ctx = payload[CONTEXT_IDENTIFIER]
    if not isinstance(ctx, str) or ctx.casefold() != context_identifier.casefold():
        shown = ctx[:100] if isinstance(ctx, str) else type(ctx).__name__
        raise ContextMismatchError(
            f"token ctx {shown!r} is not the tenant asked for ({context_identifier!r})",
            claim=CONTEXT_IDENTIFIER,
        )
    _require_claims(payload, TICKET)
    ticket = payload[TICKET]
    if not isinstance(ticket, str) or not ticket.startswith(SYSTEM_USER_TICKET_PREFIX):
        raise MalformedTokenError(
            f"claim ticket is not a {SYSTEM_USER_TICKET_PREFIX} ticket", claim=TICKET
        )
    if len(ticket) <= len(SYSTEM_USER_TICKET_PREFIX) or any(c.isspace() for c in ticket):
        raise MalformedTokenError("claim ticket is empty or contains whitespace", claim=TICKET)
    _require_claims(payload, "exp")  # iat and nbf: checked by _check_times when present
    _check_times(payload, policy, _aware(now()), max_age=SYSTEM_USER_TOKEN_MAX_AGE)
    return SystemUserClaims.from_payload(payload)


@dataclass(frozen=True, repr=False)
class StateChangeClaims:
    """The claims of a validated state-change webhook token (protocol §6, open question 16).

    ``audience`` is empty when the token has no ``aud``; ``issued_at`` is None without ``iat``;
    ``context_identifier`` and ``change_type`` are the token's own claims when it has them
    (None otherwise); ``token_id`` is its ``jti`` (None without one). ``raw`` keeps the payload.
    """

    issuer: str
    audience: tuple[str, ...]
    issued_at: datetime | None
    expires_at: datetime
    not_before: datetime | None
    context_identifier: str | None
    change_type: int | None
    token_id: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"StateChangeClaims(context_identifier={self.context_identifier!r}, "
            f"change_type={self.change_type!r}, "
            f"issued_at={None if self.issued_at is None else self.issued_at.isoformat()!r}, "
            f"token={REDACTED!r})"
        )

    __str__ = __repr__


def validate_state_change_token(
    token: str,
    *,
    keys: SigningKeySource,
    issuer: str,
    client_id: str,
    context_identifier: str,
    change_type: int | None = None,
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: Callable[[], datetime] = _utc_now,
) -> StateChangeClaims:
    """Validate the ``Token`` of a state-change webhook and return its claims (protocol §6).

    The token is a SuperID token (SuperOffice's sample validates it with ``SuperIdTokenHandler``,
    SuperID's federated-login certificate and ``ValidIssuer = "https://sod.superoffice.com"``:
    SuperOfficeDocs ``docs/apps/tenant-status/includes/api-controller.md``). Rules: the
    signature verifies against the environment's SuperID JWKS (``keys``) with an allowed
    algorithm (RS256 by default); ``iss`` is exactly ``issuer`` (``https://{env}.superoffice.com``,
    as for the id_token); ``exp`` is required and checked with the policy's bounded leeway
    (``nbf`` and ``iat`` when present). The sample sets no audience and none is documented (open
    question 16): ``aud`` is checked only when the token has one, and then it must name
    ``client_id`` (the application the notification's URL identifies) [I]. The claims binding
    the token to its message are undocumented too and checked only when present [I]: a ``ctx``
    claim must equal
    ``context_identifier`` (the body's ``ContextIdentifier``, case-insensitively, as ctx paths
    are) and a ``change_type`` claim must equal ``change_type`` (the body's ``ChangeType``)
    when that is given.

    Raises a :class:`~toolkit.errors.TokenValidationError` subclass naming the failed rule
    (:class:`~toolkit.errors.ContextMismatchError` for ``ctx``,
    :class:`~toolkit.errors.NotificationMismatchError` for ``change_type``), or
    :class:`~toolkit.errors.KeySetError` when no key can verify it.
    """
    if not issuer:
        raise ConfigurationError("issuer is required to validate a state-change token")
    if not client_id:
        raise ConfigurationError("client_id is required to validate a state-change token")
    if not context_identifier:
        raise ConfigurationError("context_identifier is required to validate a state-change token")
    _header, payload = _decode_verified(token, keys, policy)
    _check_issuer(payload, issuer)
    if payload.get("aud") is not None:
        _check_audience(payload, client_id)
    _require_claims(payload, "exp")
    _check_times(payload, policy, _aware(now()), max_age=STATE_CHANGE_TOKEN_MAX_AGE)
    ctx = _first_claim(payload, STATE_CHANGE_CONTEXT_CLAIMS)
    if ctx is not None and (
        not isinstance(ctx, str) or ctx.casefold() != context_identifier.casefold()
    ):
        shown = ctx[:100] if isinstance(ctx, str) else type(ctx).__name__
        raise ContextMismatchError(
            f"token ctx {shown!r} is not the message's tenant ({context_identifier[:100]!r})",
            claim=CONTEXT_IDENTIFIER,
        )
    claimed_change = _first_claim(payload, STATE_CHANGE_TYPE_CLAIMS)
    claimed_number: int | None = None
    if claimed_change is not None:
        if isinstance(claimed_change, bool) or not isinstance(claimed_change, int | str):
            raise MalformedTokenError("claim change_type is not a number", claim="change_type")
        text = str(claimed_change).strip()
        if not text.isdigit():
            raise MalformedTokenError("claim change_type is not a number", claim="change_type")
        claimed_number = int(text)
        if change_type is not None and claimed_number != change_type:
            raise NotificationMismatchError(
                "token change_type is not the message's ChangeType", claim="change_type"
            )
    jti = payload.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 256):
        raise MalformedTokenError("claim jti is not a short non-empty string", claim="jti")
    aud = payload.get("aud")
    nbf, iat = payload.get("nbf"), payload.get("iat")
    return StateChangeClaims(
        issuer=str(payload["iss"]),
        audience=() if aud is None else (aud,) if isinstance(aud, str) else tuple(aud),
        issued_at=None if iat is None else parse_numeric_date(iat, "iat"),
        expires_at=parse_numeric_date(payload["exp"], "exp"),
        not_before=None if nbf is None else parse_numeric_date(nbf, "nbf"),
        context_identifier=ctx if isinstance(ctx, str) else None,
        change_type=claimed_number,
        token_id=jti,
        raw=dict(payload),
    )


def _first_claim(payload: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if payload.get(name) is not None:
            return payload[name]
    return None


# --------------------------------------------------------------------------------------------
# The core shared by every token kind
# --------------------------------------------------------------------------------------------


# One compiled match instead of a Python-level test per character: a system user JWT's three
# segments went through ~800 calls each, a tenth of an exchange's client CPU (issue 14).
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


def _b64url_decode(segment: str, part: str) -> bytes:
    """Strict base64url (no padding, no foreign characters) as JWS compact form requires."""
    if len(segment) % 4 == 1 or _BASE64URL.fullmatch(segment) is None:
        raise MalformedTokenError(f"token {part} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedTokenError(f"token {part} is not base64url") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            # Two values for one claim: parsers disagree on which wins, so refuse both.
            raise ValueError("duplicate member name")
        result[name] = value
    return result


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedTokenError(f"token {part} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"token {part} is not a JSON object")
    return value


def _decode_verified(
    token: str, keys: SigningKeySource, policy: ValidationPolicy
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a well-formed token whose signature verifies; no claim checks.

    Order matters: size, shape, and the algorithm allow-list are all checked before any key is
    looked up, so hostile input never reaches the key set or the RSA code. Header members that
    point at keys (``jku``, ``x5u``, ``jwk``, ``x5c``) are ignored: keys come from ``keys``.
    """
    if not isinstance(token, str) or not token:
        raise MalformedTokenError("token is not a non-empty string")
    if not token.isascii():
        raise MalformedTokenError("token contains non-ASCII characters")
    if len(token) > policy.max_token_bytes:
        raise MalformedTokenError(f"token is larger than {policy.max_token_bytes} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedTokenError(f"token has {len(parts)} parts, a signed JWT has 3")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(_b64url_decode(header_b64, "header"), "header")
    payload_raw = _b64url_decode(payload_b64, "payload")
    signature = _b64url_decode(signature_b64, "signature")

    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in policy.algorithms:
        shown = alg[:20] if isinstance(alg, str) else type(alg).__name__
        raise AlgorithmNotAllowedError(
            f"token alg {shown!r} is not allowed (allowed: {', '.join(policy.algorithms)})"
        )
    if "crit" in header:
        raise MalformedTokenError("token header has critical extensions (crit); none are supported")
    if "b64" in header:
        raise MalformedTokenError("token header uses the unencoded-payload option (b64)")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedTokenError("token header kid is not a string")
    payload = _json_object(payload_raw, "payload")
    if not signature:
        raise InvalidSignatureError("token has an empty signature")

    key = keys.signing_key(kid, alg)
    if key.algorithm_name != alg:  # the key must be bound to the very algorithm allowed above
        raise AlgorithmNotAllowedError(f"signing key is bound to {key.algorithm_name}, not {alg}")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    try:
        verified = key.Algorithm.verify(
            signing_input, key.Algorithm.prepare_key(key.key), signature
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidSignatureError("token signature cannot be verified") from exc
    if not verified:
        raise InvalidSignatureError("token signature does not verify")
    return header, payload


def _require_claims(payload: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if payload.get(name) is None:
            raise MissingClaimError(f"token has no {name} claim", claim=name)


def _check_issuer(payload: Mapping[str, Any], issuer: str) -> None:
    _require_claims(payload, "iss")
    actual = payload["iss"]
    if not isinstance(actual, str) or actual != issuer:
        shown = actual[:100] if isinstance(actual, str) else type(actual).__name__
        raise IssuerMismatchError(
            f"token issuer {shown!r} is not the expected {issuer!r}", claim="iss"
        )


def _check_audience(payload: Mapping[str, Any], audience: str) -> None:
    """``aud`` is ``audience`` or a list holding it; several audiences need ``azp``."""
    _require_claims(payload, "aud")
    aud = payload["aud"]
    if isinstance(aud, str):
        audiences = [aud]
    elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        audiences = list(aud)
    else:
        raise AudienceMismatchError(
            "token aud is neither a string nor a list of strings", claim="aud"
        )
    if audience not in audiences:
        raise AudienceMismatchError("token audience is not this application", claim="aud")
    azp = payload.get("azp")
    if len(audiences) > 1 and azp is None:
        raise AudienceMismatchError(
            "token has several audiences but no azp naming this application", claim="azp"
        )
    if azp is not None and azp != audience:
        raise AudienceMismatchError("token azp is not this application", claim="azp")


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ConfigurationError("the now() clock must return timezone-aware datetimes")
    return moment


def _check_times(
    payload: Mapping[str, Any], policy: ValidationPolicy, now: datetime, *, max_age: timedelta
) -> None:
    """``exp`` (required), ``nbf`` and ``iat`` (each when present) against ``now``, and the
    token's age: ``now`` - ``iat`` (or - ``nbf`` without ``iat``) at most ``max_age`` + leeway.

    Callers whose token kind requires ``iat`` say so with ``_require_claims`` first.
    """
    expires_at = parse_numeric_date(payload["exp"], "exp")
    if now >= expires_at + policy.leeway:
        raise TokenExpiredError("token has expired", claim="exp")
    if payload.get("nbf") is not None:
        not_before = parse_numeric_date(payload["nbf"], "nbf")
        if now + policy.leeway < not_before:
            raise TokenNotYetValidError("token is not valid yet (nbf)", claim="nbf")
    if payload.get("iat") is not None:
        issued_at = parse_numeric_date(payload["iat"], "iat")
        if issued_at > now + policy.max_future_iat:
            raise TokenNotYetValidError("token was issued in the future (iat)", claim="iat")
    origin = "iat" if payload.get("iat") is not None else "nbf"
    if payload.get(origin) is not None:
        minted = parse_numeric_date(payload[origin], origin)
        if now - minted > max_age + policy.leeway:
            raise TokenExpiredError(
                f"token is older than {int(max_age.total_seconds())} s ({origin})", claim=origin
            )


def _check_nonce(payload: Mapping[str, Any], expected: str) -> None:
    actual = payload.get("nonce")
    if actual is None:
        raise NonceMismatchError("token has no nonce but one was expected", claim="nonce")
    if not isinstance(actual, str) or not hmac.compare_digest(
        actual.encode("utf-8"), expected.encode("utf-8")
    ):
        raise NonceMismatchError("token nonce does not match this sign-in", claim="nonce")
