"""State-change webhooks: SuperOffice tells an application that a tenant changed (protocol §6).

SuperOffice POSTs a ``NotificationMessage`` (``ChangeType``, ``ContextIdentifier``,
``VersionName``, ``FileVersion``, ``Token``, ``PublicEndpoint``) to the "Customer state change"
URL of each application the tenant has approved. :meth:`TenantEvents.receive` takes the raw
body and:

1. parses it strictly (:class:`NotificationMessage`);
2. finds the application by the token's audience, ``spn:{client_id}`` [I] (open question 16:
   issuer, audience and claims are undocumented). The audience is read from the *unverified*
   payload only to choose whose keys and client id to validate with, as SuperOffice's own
   system user handler does with ``serial``; nothing else is trusted before validation;
3. validates the token with :func:`~toolkit.auth.tokens.validate_state_change_token` against
   that application's environment JWKS;
4. applies the change to the store in one transaction
   (:meth:`~toolkit.store.Repository.apply_state_change`): idempotent (a redelivered
   notification, recognised by its ``jti`` or its token's hash, is a ``duplicate``), ordered
   (a notification older than the known state is ``stale``), audited (actor ``webhook``).

Effects per ``ChangeType`` (the documented names; the effects on the record are the toolkit's
reading [I]):

* ``Suspend``: state ``Suspended``; an active authorization becomes ``suspended``;
* ``Delete``: state ``Deleted``; an active or suspended authorization becomes ``deleted``;
* ``Resume``: state ``Running``; a suspended or deleted authorization is ``active`` again
  (``revoked`` and ``needs_reconsent`` are about consent and stay);
* ``Move``: the endpoint becomes ``{scheme}://{PublicEndpoint}/{ctx}`` (PublicEndpoint is a host
  name, e.g. ``sod3.superoffice.com``; the scheme is the environment's) [I];
* ``Upgrade``: the version becomes ``VersionName``; ``BackupRestored``: recorded.

Anything forged (bad signature, wrong issuer or audience, unknown application or tenant,
expired, malformed) changes nothing and raises :class:`~toolkit.errors.NotificationRejectedError`
(:class:`~toolkit.errors.MalformedNotificationError` for a body that is not a message); a
``rejected`` history row is recorded only when the audience named one of our applications.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from toolkit.auth.jwks import JwksCache
from toolkit.auth.oidc import validate_context_identifier
from toolkit.auth.tokens import (
    STATE_CHANGE_AUDIENCE_PREFIX,
    StateChangeClaims,
    ValidationPolicy,
    validate_state_change_token,
)
from toolkit.auth.transactions import utc_now
from toolkit.claims import REDACTED
from toolkit.config import Environment, require_secure_url
from toolkit.errors import (
    ConfigurationError,
    MalformedNotificationError,
    NotFoundError,
    NotificationRejectedError,
    SignInError,
    SigningKeyNotFoundError,
    TokenValidationError,
)
from toolkit.installation import application_environment
from toolkit.store import (
    Application,
    Repository,
    StateChange,
    StateChangeOutcome,
    TenantStateRecord,
)
from toolkit.tenant.status import RUNNING_STATES, TenantState, TenantStatus
from toolkit.text import UnsafeTextError, control_character, loads_json

__all__ = [
    "MAX_NOTIFICATION_BYTES",
    "WEBHOOK_ACTOR",
    "ChangeType",
    "NotificationMessage",
    "StateChangeResult",
    "TenantEvents",
    "is_running_state",
    "parse_notification",
]

logger = logging.getLogger("toolkit.tenant_events")

# A NotificationMessage is a handful of short fields and one JWT (a few kB); 64 KiB bounds
# anything that is not one before it is parsed.
MAX_NOTIFICATION_BYTES = 64 * 1024
# The audit actor of every change a webhook makes.
WEBHOOK_ACTOR = "webhook"
# Bounds on the message's text fields: generous, they only keep junk out of the store.
MAX_FIELD_LENGTH = 200
# PublicEndpoint is a host name (protocol §6: "sod3.superoffice.com"), optionally with a port
# (the emulator's loopback hosts); nothing else (no scheme, path or user info) is accepted.
_HOST_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")
_MESSAGE_FIELDS = frozenset(
    {"ChangeType", "ContextIdentifier", "VersionName", "FileVersion", "Token", "PublicEndpoint"}
)


def is_running_state(state: str | None) -> bool:
    """Whether a stored state name (the state API's ``State``) is one the API is available in:
    Running or OnlineMaintenance (§6: ``IsRunning`` is true only for these)."""
    return state is not None and TenantState.from_wire(state) in RUNNING_STATES


class ChangeType(IntEnum):
    """``CustomerStateChangeNotificationType`` (protocol §6)."""

    Upgrade = 0
    BackupRestored = 1
    Suspend = 2
    Resume = 3
    Delete = 4
    Move = 5


@dataclass(frozen=True)
class _Effect:
    state: str | None = None
    status: str | None = None
    status_from: frozenset[str] = frozenset()


# The state API names (§6) a change leads to, and the authorization status it sets [I].
_EFFECTS: dict[ChangeType, _Effect] = {
    ChangeType.Upgrade: _Effect(),
    ChangeType.BackupRestored: _Effect(),
    ChangeType.Suspend: _Effect("Suspended", "suspended", frozenset({"active"})),
    ChangeType.Resume: _Effect("Running", "active", frozenset({"suspended", "deleted"})),
    ChangeType.Delete: _Effect("Deleted", "deleted", frozenset({"active", "suspended"})),
    ChangeType.Move: _Effect(),
}


@dataclass(frozen=True, repr=False)
class NotificationMessage:
    """A parsed ``NotificationMessage``; ``token`` is the JWT (never shown in the repr)."""

    change_type: ChangeType
    context_identifier: str
    version_name: str | None
    file_version: str | None
    token: str
    public_endpoint: str | None

    def __repr__(self) -> str:
        return (
            f"NotificationMessage(change_type={self.change_type.name}, context_identifier="
            f"{self.context_identifier!r}, version_name={self.version_name!r}, "
            f"public_endpoint={self.public_endpoint!r}, token={REDACTED!r})"
        )

    __str__ = __repr__


def _optional_text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH:
        raise MalformedNotificationError(f"{name} is not a short string")
    if control_character(value) is not None:
        raise MalformedNotificationError(f"{name} contains control characters")
    return value or None


def parse_notification(body: bytes | str | dict[str, Any]) -> NotificationMessage:
    """Parse a ``NotificationMessage`` strictly; :class:`MalformedNotificationError` if not one.

    ``ChangeType`` must be one of the six documented numbers; ``ContextIdentifier`` a context
    identifier; ``Token`` a non-empty string; ``PublicEndpoint`` (Move only) a host name.
    Member names are matched exactly, as SuperOffice sends them; unknown members are ignored.
    """
    if isinstance(body, dict):
        document: Any = body
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if len(raw) > MAX_NOTIFICATION_BYTES:
            raise MalformedNotificationError("the message is too large", reason="too_large")
        try:
            document = loads_json(raw)  # bounded nesting; no NUL or lone surrogate to store
        except UnsafeTextError:
            raise MalformedNotificationError("the body is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedNotificationError("the body is not a JSON object")
    change = document.get("ChangeType")
    if isinstance(change, bool) or not isinstance(change, int):
        raise MalformedNotificationError("ChangeType is not a number")
    try:
        change_type = ChangeType(change)
    except ValueError:
        raise MalformedNotificationError("ChangeType is not a known change") from None
    ctx = document.get("ContextIdentifier")
    if not isinstance(ctx, str):
        raise MalformedNotificationError("ContextIdentifier is missing")
    try:
        ctx = validate_context_identifier(ctx)
    except SignInError:
        raise MalformedNotificationError("ContextIdentifier is not a context identifier") from None
    token = document.get("Token")
    if not isinstance(token, str) or not token.strip():
        raise MalformedNotificationError("Token is missing")
    public_endpoint = _optional_text(document, "PublicEndpoint")
    if public_endpoint is not None and not _HOST_PATTERN.fullmatch(public_endpoint):
        raise MalformedNotificationError("PublicEndpoint is not a host name")
    if change_type is ChangeType.Move and public_endpoint is None:
        raise MalformedNotificationError("a Move carries no PublicEndpoint")
    return NotificationMessage(
        change_type=change_type,
        context_identifier=ctx,
        version_name=_optional_text(document, "VersionName"),
        file_version=_optional_text(document, "FileVersion"),
        token=token,
        public_endpoint=public_endpoint,
    )


def _unverified_audiences(token: str) -> list[str]:
    """The ``aud`` of a token whose signature is not checked yet: only to pick an application."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > MAX_NOTIFICATION_BYTES:
        return []
    segment = parts[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return []
    aud = payload.get("aud") if isinstance(payload, dict) else None
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def _fingerprint(token: str, claims: StateChangeClaims) -> str:
    """What recognises a redelivery: SHA-256 of the ``jti``, or of the whole token."""
    basis = f"jti:{claims.token_id}" if claims.token_id else f"token:{token}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StateChangeResult:
    """What :meth:`TenantEvents.receive` did: the history row it recorded."""

    application: Application
    message: NotificationMessage
    change: StateChange

    @property
    def outcome(self) -> StateChangeOutcome:
        return self.change.outcome


class TenantEvents:
    """Receives state-change webhooks and keeps the tenants' last known state (protocol §6).

    ``on_change(environment, context_identifier)`` is called after a change was applied (the
    workspace uses it to drop the tenant's cached state API answer). Thread-safe.
    """

    def __init__(
        self,
        repository: Repository,
        http: httpx.Client,
        *,
        policy: ValidationPolicy | None = None,
        now: Callable[[], datetime] | None = None,
        on_change: Callable[[Environment, str], None] | None = None,
    ) -> None:
        self._repository = repository
        self._http = http
        self._policy = policy if policy is not None else ValidationPolicy()
        self._now = now or utc_now
        self._on_change = on_change
        self._lock = threading.Lock()
        self._key_sets: dict[str, JwksCache] = {}

    def __repr__(self) -> str:
        return f"TenantEvents(key_sets={len(self._key_sets)})"

    def keys_for(self, environment: Environment) -> JwksCache:
        """The (cached) SuperID key set of ``environment``, fetched through the toolkit's client."""
        with self._lock:
            cache = self._key_sets.get(environment.base_url)
            if cache is None:
                cache = JwksCache(environment.jwks_url, self._http, now=self._now)
                self._key_sets[environment.base_url] = cache
            return cache

    # -- receiving -------------------------------------------------------------------------

    def receive(self, body: bytes | str | dict[str, Any]) -> StateChangeResult:
        """Validate one webhook body and apply it. See the module docstring for the rules.

        Raises :class:`~toolkit.errors.MalformedNotificationError` for a body that is not a
        message and :class:`~toolkit.errors.NotificationRejectedError` (``reason``) for one
        that is not SuperOffice's for one of our tenants; in both cases nothing changed.
        A key set that cannot be fetched (:class:`~toolkit.errors.KeySetError`) or a store
        error propagates: that is our outage, not a forgery, and the sender may deliver again.
        """
        message = parse_notification(body)
        candidates = self._candidates(message.token)
        if not candidates:
            raise NotificationRejectedError(
                "the token's audience is none of our applications", reason="unknown_application"
            )
        claims, app, failure = None, candidates[0], None
        for candidate in candidates:
            try:
                claims = self._validate(candidate, message)
            except (TokenValidationError, SigningKeyNotFoundError) as exc:
                # A key set that cannot be fetched (KeySetError) is our outage, not a forgery:
                # it propagates, so the sender sees a 5xx and may deliver again.
                failure = failure or exc
                continue
            app = candidate
            break
        if claims is None:
            reason = getattr(failure, "reason", None) or "keys"
            self._reject(app, message, reason)
            raise NotificationRejectedError(
                f"the state-change token was refused ({reason})",
                reason=reason,
                application=app.name,
            ) from failure
        return self._apply(app, message, claims)

    def _candidates(self, token: str) -> list[Application]:
        client_ids = [
            aud[len(STATE_CHANGE_AUDIENCE_PREFIX) :]
            for aud in _unverified_audiences(token)
            if aud.startswith(STATE_CHANGE_AUDIENCE_PREFIX)
        ]
        if not client_ids:
            return []
        return [a for a in self._repository.list_applications() if a.client_id in client_ids]

    def _validate(self, app: Application, message: NotificationMessage) -> StateChangeClaims:
        environment = application_environment(app)
        return validate_state_change_token(
            message.token,
            keys=self.keys_for(environment),
            client_id=app.client_id,
            context_identifier=message.context_identifier,
            change_type=int(message.change_type),
            policy=self._policy,
            now=self._now,
        )

    def _reject(
        self,
        app: Application,
        message: NotificationMessage,
        reason: str,
        *,
        issued_at: datetime | None = None,
    ) -> StateChange:
        logger.warning(
            "state-change webhook for %s (%s, %s) rejected: %s",
            app.name,
            message.context_identifier,
            message.change_type.name,
            reason,
        )
        return self._repository.record_state_change(
            app.id,
            outcome=StateChangeOutcome.REJECTED,
            reason=reason,
            context_identifier=message.context_identifier,
            change_type=message.change_type.name,
            version_name=message.version_name,
            file_version=message.file_version,
            public_endpoint=message.public_endpoint,
            issued_at=issued_at,
            actor=WEBHOOK_ACTOR,
        )

    def _apply(
        self, app: Application, message: NotificationMessage, claims: StateChangeClaims
    ) -> StateChangeResult:
        effect = _EFFECTS[message.change_type]
        environment = application_environment(app)
        endpoint = api = None
        if message.change_type is ChangeType.Move and message.public_endpoint is not None:
            endpoint = self.endpoint_for(environment, message)
            api = f"{endpoint}/api"
        try:
            change = self._repository.apply_state_change(
                app.id,
                message.context_identifier,
                change_type=message.change_type.name,
                issued_at=claims.issued_at,
                fingerprint=_fingerprint(message.token, claims),
                version_name=message.version_name,
                file_version=message.file_version,
                public_endpoint=message.public_endpoint,
                state=effect.state,
                endpoint=endpoint,
                api=api,
                status=effect.status,
                status_from=effect.status_from,
                actor=WEBHOOK_ACTOR,
            )
        except NotFoundError:
            # A genuine token, but no authorization of this application in that tenant.
            self._reject(app, message, "unknown_tenant", issued_at=claims.issued_at)
            raise NotificationRejectedError(
                "no authorization for this tenant", reason="unknown_tenant", application=app.name
            ) from None
        logger.info(
            "state-change webhook for %s (%s, %s): %s",
            app.name,
            message.context_identifier,
            message.change_type.name,
            change.outcome.value,
        )
        if change.outcome is StateChangeOutcome.APPLIED and self._on_change is not None:
            try:
                self._on_change(environment, message.context_identifier)
            except Exception:  # pragma: no cover - a cache hook must not undo a stored change
                logger.exception("state-change hook failed for %s", message.context_identifier)
        return StateChangeResult(application=app, message=message, change=change)

    @staticmethod
    def endpoint_for(environment: Environment, message: NotificationMessage) -> str:
        """The tenant root after a Move: ``{scheme}://{PublicEndpoint}/{ctx}`` [I].

        The reference shows ``PublicEndpoint`` as a bare host name; the scheme is the
        environment's (https, or http for a loopback emulator).
        """
        if message.public_endpoint is None:
            raise ConfigurationError("only a Move has a PublicEndpoint")
        scheme = urlsplit(environment.base_url).scheme
        url = f"{scheme}://{message.public_endpoint}/{message.context_identifier}"
        try:
            return require_secure_url(url, what="PublicEndpoint")
        except ConfigurationError:
            raise MalformedNotificationError("PublicEndpoint cannot be used") from None

    # -- the state API side ----------------------------------------------------------------

    def record_status(
        self, application: str, status: TenantStatus, *, actor: str | None = None
    ) -> bool:
        """Store a state API answer as the tenant's last known state; True if it changed."""
        _, changed = self._repository.put_tenant_state(
            application,
            status.context_identifier,
            state=status.state_name or status.state.name,
            endpoint=status.endpoint,
            api=status.api,
            version=status.version,
            valid_until=status.valid_until,
            observed_at=self._now(),
            source="state-api",
            actor=actor,
        )
        return changed

    def history(
        self,
        *,
        application: str | None = None,
        context_identifier: str | None = None,
        limit: int = 100,
    ) -> list[StateChange]:
        """The webhook history, newest first."""
        return self._repository.list_state_changes(
            application=application, context_identifier=context_identifier, limit=limit
        )

    def known_states(
        self, application: str | None = None
    ) -> dict[tuple[str, str], TenantStateRecord]:
        """The last known state of every authorization that has one (or of one application's),
        keyed by ``(application_id, context_identifier.casefold())``; from the store only."""
        return {
            (record.application_id, record.context_identifier.casefold()): record
            for record in self._repository.list_tenant_states(application)
        }

    def stored_status(self, application: str, context_identifier: str) -> TenantStatus | None:
        """The stored state API answer while its ``ValidUntil`` is still ahead, else None.

        ``ValidUntil`` is "when to check next time" (§6): until then a front end may show the
        stored answer instead of asking again. A state without ``ValidUntil`` (one a webhook
        set) or past it is None: ask the state API. Never calls the network.
        """
        record = self._repository.get_tenant_state(application, context_identifier)
        if record is None or record.valid_until is None or record.valid_until <= self._now():
            return None
        state = TenantState.from_wire(record.state)
        return TenantStatus(
            context_identifier=record.context_identifier,
            endpoint=record.endpoint,
            state=state,
            is_running=state in RUNNING_STATES,
            valid_until=record.valid_until,
            api=record.api,
            version=record.version,
            state_name=record.state,
        )
