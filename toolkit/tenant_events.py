"""State-change webhooks: SuperOffice tells an application that a tenant changed (protocol §6).

SuperOffice POSTs a ``NotificationMessage`` (``ChangeType``, ``ContextIdentifier``,
``VersionName``, ``FileVersion``, ``Token``, ``PublicEndpoint``) to the "Customer state change"
URL of each application the tenant has approved. Handling has two halves, kept apart so that
processing can run elsewhere than the request (a durable workflow):

:meth:`TenantEvents.validate`, in the request, decides whether this is SuperOffice's
notification for one of our tenants:

1. the body is parsed strictly (:class:`NotificationMessage`);
2. the application is the one the URL names: each application has its own state-change URL,
   ``/state-change/{client_id}`` (:func:`state_change_path`); the bare ``/state-change`` serves a
   deployment with exactly one application. The token's audience is undocumented (open question
   16), so the token cannot name the application;
3. the ``Token`` is validated as the SuperID token it is
   (:func:`~toolkit.auth.tokens.validate_state_change_token`): issuer
   ``https://{env}.superoffice.com`` of the application's environment, that environment's
   SuperID JWKS, ``aud`` only when present (then it must be the application's client id);
4. the application must be authorized in the tenant.

:meth:`TenantEvents.process` is a plain function of the validated notification. The body's
``ContextIdentifier`` and ``ChangeType`` are not shown to be bound to the token (open question
16), so a notification is a signal, never an order:

1. a redelivery (the same ``jti``, or the same token) is a ``duplicate``: nothing is asked;
2. the tenant's state is asked from the state API (fresh, not from the cache);
3. the notification and that answer are recorded together
   (:meth:`~toolkit.store.Repository.apply_state_change`): the tenant's known state becomes the
   state API's answer, and the authorization's status changes only when the answer confirms the
   change (:func:`confirms`); otherwise the outcome is ``unconfirmed`` and no status changes.
   A replayed or altered body therefore cannot suspend, delete or move a tenant that the state
   API reports running where it was.

Effects of a confirmed change on the authorization (the documented change names; the effects
are the toolkit's reading [I]): ``Suspend`` makes an active authorization ``suspended``;
``Delete`` makes an active or suspended one ``deleted``; ``Resume`` makes a suspended or
deleted one ``active`` again (``revoked`` and ``needs_reconsent`` are about consent and stay);
``Move``, ``Upgrade`` and ``BackupRestored`` change only the known state (endpoint, version).

Anything forged (bad signature, wrong issuer or audience, unknown tenant, expired, malformed)
changes nothing and raises :class:`~toolkit.errors.NotificationRejectedError`
(:class:`~toolkit.errors.MalformedNotificationError` for a body that is not a message,
:class:`~toolkit.errors.NotificationApplicationError` for a URL that names no application of
ours); a ``rejected`` history row is recorded once the application is known.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from toolkit.auth.jwks import JwksCache
from toolkit.auth.oidc import validate_context_identifier
from toolkit.auth.tokens import (
    StateChangeClaims,
    ValidationPolicy,
    validate_state_change_token,
)
from toolkit.auth.transactions import utc_now
from toolkit.claims import REDACTED
from toolkit.config import Environment
from toolkit.errors import (
    MalformedNotificationError,
    NotFoundError,
    NotificationApplicationError,
    NotificationRejectedError,
    SignInError,
    SigningKeyNotFoundError,
    TokenValidationError,
    ToolkitError,
)
from toolkit.installation import application_environment
from toolkit.store import (
    Application,
    Repository,
    StateChange,
    StateChangeOutcome,
    TenantStateRecord,
)
from toolkit.tenant.status import RUNNING_STATES, TenantState, TenantStatus, TenantStatusClient
from toolkit.text import UnsafeTextError, control_character, loads_json

__all__ = [
    "MAX_NOTIFICATION_BYTES",
    "STATE_CHANGE_PATH",
    "WEBHOOK_ACTOR",
    "ChangeType",
    "NotificationMessage",
    "StateChangeResult",
    "TenantEvents",
    "ValidatedNotification",
    "confirms",
    "is_running_state",
    "parse_notification",
    "record_tenant_status",
    "state_change_path",
]

logger = logging.getLogger("toolkit.tenant_events")

# A NotificationMessage is a handful of short fields and one JWT (a few kB); 64 KiB bounds
# anything that is not one before it is parsed.
MAX_NOTIFICATION_BYTES = 64 * 1024
# The audit actor of every change a webhook makes.
WEBHOOK_ACTOR = "webhook"
# The partner endpoint notifications arrive at; one application's is STATE_CHANGE_PATH/{client_id}.
STATE_CHANGE_PATH = "/state-change"
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


def state_change_path(client_id: str) -> str:
    """The state-change URL path of one application: ``/state-change/{client_id}``.

    The client id names the application because SuperOffice knows it by that id, it is
    URL-safe, and it survives a rename or a new store; register ``{public_url}`` + this path as
    the application's "Customer state change" URL in the Developer Portal.
    """
    return f"{STATE_CHANGE_PATH}/{quote(client_id, safe='')}"


def _same_host(endpoint: str | None, public_endpoint: str | None) -> bool:
    """Whether the tenant root ``endpoint`` is on the host ``PublicEndpoint`` names (a host
    name, optionally with a port: §6 shows ``sod3.superoffice.com``)."""
    if not endpoint or not public_endpoint:
        return False
    try:
        where, named = urlsplit(endpoint), urlsplit(f"//{public_endpoint}")
        port = where.port or {"https": 443, "http": 80}.get(where.scheme)
        named_port = named.port
    except ValueError:
        return False
    if where.hostname is None or named.hostname is None:
        return False
    return where.hostname == named.hostname and named_port in (None, port)


def confirms(message: NotificationMessage, status: TenantStatus) -> bool:
    """Whether the state API's answer confirms what the notification says happened [I].

    Suspend: the tenant is ``Suspended``. Delete: ``Deleting`` or ``Deleted``. Resume: it is
    running (``IsRunning`` and Running / OnlineMaintenance). Move: its ``Endpoint`` is on the
    host the message's ``PublicEndpoint`` names. Upgrade (sent when the upgrade is about to
    start, so any state may follow) and BackupRestored: the state API knows the tenant.
    """
    change = message.change_type
    if change is ChangeType.Suspend:
        return status.state is TenantState.Suspended
    if change is ChangeType.Delete:
        return status.state in (TenantState.Deleting, TenantState.Deleted)
    if change is ChangeType.Resume:
        return status.is_available
    if change is ChangeType.Move:
        return _same_host(status.endpoint, message.public_endpoint)
    return status.state is not TenantState.Unknown


@dataclass(frozen=True)
class ValidatedNotification:
    """A notification whose token was validated for ``application`` (:meth:`TenantEvents.
    validate`): the input of :meth:`TenantEvents.process`. Never shows the token."""

    application: Application
    message: NotificationMessage
    claims: StateChangeClaims

    @property
    def fingerprint(self) -> str:
        """What recognises a redelivery (SHA-256 of the ``jti``, or of the whole token)."""
        jti = self.claims.token_id
        basis = f"jti:{jti}" if jti else f"token:{self.message.token}"
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StateChangeResult:
    """What :meth:`TenantEvents.process` did: the history row it recorded, and the state API's
    answer it acted on (None when the state API was not asked or could not be)."""

    application: Application
    message: NotificationMessage
    change: StateChange
    status: TenantStatus | None = None

    @property
    def outcome(self) -> StateChangeOutcome:
        return self.change.outcome


def record_tenant_status(
    repository: Repository,
    application: str,
    status: TenantStatus,
    *,
    observed_at: datetime,
    actor: str | None = None,
) -> bool:
    """Store a state API answer as the tenant's last known state (what every worker weighs
    against its own cached answer); True if it changed."""
    _, changed = repository.put_tenant_state(
        application,
        status.context_identifier,
        state=status.state_name or status.state.name,
        endpoint=status.endpoint,
        api=status.api,
        version=status.version,
        valid_until=status.valid_until,
        observed_at=observed_at,
        source="state-api",
        actor=actor,
    )
    return changed


class TenantEvents:
    """Receives state-change webhooks and keeps the tenants' last known state (protocol §6).

    ``status_client(environment)`` gives the state API client a notification is confirmed
    with (the workspace passes its tenants' shared, cached clients); without it, one client
    per environment is made here. Thread-safe.
    """

    def __init__(
        self,
        repository: Repository,
        http: httpx.Client,
        *,
        policy: ValidationPolicy | None = None,
        now: Callable[[], datetime] | None = None,
        status_client: Callable[[Environment], TenantStatusClient] | None = None,
    ) -> None:
        self._repository = repository
        self._http = http
        self._policy = policy if policy is not None else ValidationPolicy()
        self._now = now or utc_now
        self._lock = threading.Lock()
        self._key_sets: dict[str, JwksCache] = {}
        self._status_clients: dict[str, TenantStatusClient] = {}
        self._status_client = status_client or self._own_status_client

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

    def _own_status_client(self, environment: Environment) -> TenantStatusClient:
        with self._lock:
            client = self._status_clients.get(environment.base_url)
            if client is None:
                client = TenantStatusClient(self._http, environment, now=self._now)
                self._status_clients[environment.base_url] = client
            return client

    # -- receiving -------------------------------------------------------------------------

    def receive(
        self, body: bytes | str | dict[str, Any], *, application: str | None = None
    ) -> StateChangeResult:
        """:meth:`validate` then :meth:`process`: one webhook, handled in the caller's thread."""
        return self.process(self.validate(body, application=application))

    def application_for(self, client_id: str | None) -> Application:
        """The application a state-change URL names: ``client_id`` from
        ``/state-change/{client_id}``, or None for the bare URL (the only application).

        Raises :class:`~toolkit.errors.NotificationApplicationError` (``unknown_application``,
        or ``ambiguous_application`` for the bare URL with several applications, or a client id
        registered in several environments).
        """
        applications = self._repository.list_applications()
        if client_id is not None:
            applications = [a for a in applications if a.client_id == client_id]
        if len(applications) == 1:
            return applications[0]
        if not applications:
            raise NotificationApplicationError(
                "the state-change URL names none of our applications",
                reason="unknown_application",
            )
        raise NotificationApplicationError(
            "several applications could be meant: register each application's own "
            f"{STATE_CHANGE_PATH}/{{client_id}} URL",
            reason="ambiguous_application",
        )

    def validate(
        self, body: bytes | str | dict[str, Any], *, application: str | None = None
    ) -> ValidatedNotification:
        """Check that ``body`` is SuperOffice's notification for one of our tenants.

        ``application`` is the client id from the URL the notification arrived at (None for
        the bare ``/state-change``). Raises :class:`~toolkit.errors.MalformedNotificationError`
        for a body that is not a message, :class:`~toolkit.errors.NotificationApplicationError`
        when the URL names no application of ours, and
        :class:`~toolkit.errors.NotificationRejectedError` (``reason``) for a token that is not
        SuperOffice's or a tenant without an authorization (recorded as ``rejected``). Nothing
        changes in any case. A key set that cannot be fetched
        (:class:`~toolkit.errors.KeySetError`) or a store error propagates: that is our outage,
        not a forgery, and the sender may deliver again.
        """
        message = parse_notification(body)
        app = self.application_for(application)
        environment = application_environment(app)
        try:
            claims = validate_state_change_token(
                message.token,
                keys=self.keys_for(environment),
                issuer=environment.issuer,
                client_id=app.client_id,
                context_identifier=message.context_identifier,
                change_type=int(message.change_type),
                policy=self._policy,
                now=self._now,
            )
        except (TokenValidationError, SigningKeyNotFoundError) as exc:
            # A key set that cannot be fetched (KeySetError) is our outage, not a forgery: it
            # propagates, so the sender sees a 5xx and may deliver again.
            reason = getattr(exc, "reason", None) or "keys"
            self._reject(app, message, reason)
            raise NotificationRejectedError(
                f"the state-change token was refused ({reason})",
                reason=reason,
                application=app.name,
            ) from exc
        try:
            self._repository.get_authorization(app.id, message.context_identifier)
        except NotFoundError:
            # A genuine token, but no authorization of this application in that tenant.
            self._reject(app, message, "unknown_tenant", issued_at=claims.issued_at)
            raise NotificationRejectedError(
                "no authorization for this tenant", reason="unknown_tenant", application=app.name
            ) from None
        return ValidatedNotification(application=app, message=message, claims=claims)

    def process(self, notification: ValidatedNotification) -> StateChangeResult:
        """Confirm a validated notification with the state API, record both, act on the answer.

        See the module docstring. Idempotent: a redelivery is recorded as a ``duplicate``
        without asking the state API. When the state API cannot be asked, the notification is
        recorded as ``unconfirmed`` (``state_api_unavailable``) and the cached state API answer
        is dropped, so the next call for the tenant asks again; nothing else changes.
        Raises :class:`~toolkit.errors.NotificationRejectedError` (``unknown_tenant``) when the
        authorization went away since :meth:`validate`; a store error propagates.
        """
        app, message = notification.application, notification.message
        if self.is_redelivery(notification):
            # The store recognises it again and records the redelivery; nothing is asked.
            return self._store(notification, None)
        try:
            status = self.state_client(app).status(message.context_identifier, refresh=True)
        except ToolkitError as exc:
            return self.unconfirmed(notification, exc)
        return self._store(notification, status)

    def state_client(self, application: Application) -> TenantStatusClient:
        """The state API client a notification for ``application`` is confirmed with."""
        return self._status_client(application_environment(application))

    def is_redelivery(self, notification: ValidatedNotification) -> bool:
        """Whether the store has this notification already (then :meth:`record` it, unasked)."""
        return self._repository.has_state_change(
            notification.application.id, notification.fingerprint
        )

    def record(
        self, notification: ValidatedNotification, status: TenantStatus | None
    ) -> StateChangeResult:
        """Record ``notification`` with the state API's answer (None: a redelivery) and act on
        it; the last step of :meth:`process`, which the async API calls after its own ask."""
        return self._store(notification, status)

    def unconfirmed(
        self, notification: ValidatedNotification, exc: ToolkitError
    ) -> StateChangeResult:
        """Record ``notification`` as unconfirmed: the state API could not be asked (``exc``)."""
        app, message = notification.application, notification.message
        client = self.state_client(app)
        # SuperOffice documents no redelivery of notifications (SuperOfficeDocs
        # docs/apps/tenant-status/manage-status-changes.md and docs/en/developer-portal/
        # best-practices/tenant-status/tenant-status-webhook.md describe none), so a 5xx
        # answer might lose the signal for good. The push is only a hint on top of the pull
        # the toolkit does before any work (§6 guidance): accept it, keep it visible as
        # unconfirmed, and drop the cached answer so the next call asks the state API. [I]
        client.invalidate(message.context_identifier)
        logger.warning(
            "state-change webhook for %s (%s, %s) not confirmed: state API unavailable (%s)",
            app.name,
            message.context_identifier,
            message.change_type.name,
            type(exc).__name__,
        )
        change = self._repository.record_state_change(
            app.id,
            outcome=StateChangeOutcome.UNCONFIRMED,
            reason="state_api_unavailable",
            context_identifier=message.context_identifier,
            change_type=message.change_type.name,
            version_name=message.version_name,
            file_version=message.file_version,
            public_endpoint=message.public_endpoint,
            issued_at=notification.claims.issued_at,
            # No fingerprint: a redelivery of this notification is worth checking again.
            fingerprint=None,
            actor=WEBHOOK_ACTOR,
        )
        return StateChangeResult(application=app, message=message, change=change)

    def _store(
        self, notification: ValidatedNotification, status: TenantStatus | None
    ) -> StateChangeResult:
        app, message = notification.application, notification.message
        effect = _EFFECTS[message.change_type]
        confirmed = status is not None and confirms(message, status)
        state = None if status is None else status.state_name or status.state.name
        try:
            change = self._repository.apply_state_change(
                app.id,
                message.context_identifier,
                change_type=message.change_type.name,
                issued_at=notification.claims.issued_at,
                fingerprint=notification.fingerprint,
                version_name=message.version_name,
                file_version=message.file_version,
                public_endpoint=message.public_endpoint,
                state=state,
                endpoint=None if status is None else status.endpoint,
                api=None if status is None else status.api_url,
                version=None if status is None else status.version,
                valid_until=None if status is None else status.valid_until,
                observed_at=None if status is None else self._now(),
                status=effect.status,
                status_from=effect.status_from,
                confirmed=confirmed or status is None,
                reason=None if confirmed else f"state_api:{state}"[:100],
                actor=WEBHOOK_ACTOR,
            )
        except NotFoundError:
            # The authorization went away since the notification was validated.
            self._reject(app, message, "unknown_tenant", issued_at=notification.claims.issued_at)
            raise NotificationRejectedError(
                "no authorization for this tenant", reason="unknown_tenant", application=app.name
            ) from None
        logger.info(
            "state-change webhook for %s (%s, %s): %s (state API: %s)",
            app.name,
            message.context_identifier,
            message.change_type.name,
            change.outcome.value,
            state or "not asked",
        )
        return StateChangeResult(application=app, message=message, change=change, status=status)

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

    # -- the state API side ----------------------------------------------------------------

    def record_status(
        self, application: str, status: TenantStatus, *, actor: str | None = None
    ) -> bool:
        """Store a state API answer as the tenant's last known state; True if it changed."""
        return record_tenant_status(
            self._repository, application, status, observed_at=self._now(), actor=actor
        )

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
