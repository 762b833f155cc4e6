"""Typed, immutable records the repository returns; their reprs never show a secret."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Application",
    "AuditEvent",
    "Authorization",
    "ListDefinitionsWrite",
    "OwnershipWrite",
    "PendingSignIn",
    "ProvisionedObject",
    "ProvisioningLock",
    "ProvisioningRun",
    "ProvisioningStepRecord",
    "ProvisioningStepWrite",
    "PutOutcome",
    "RememberedLists",
    "RenewalView",
    "RotationReport",
    "Secret",
    "StateChange",
    "StateChangeOutcome",
    "StoredTicket",
    "TenantStateCount",
    "TenantStateRecord",
    "TenantWorkView",
    "TicketCounts",
    "TicketLease",
    "UnreadableSecret",
    "UserSession",
]

REDACTED = "<redacted>"


class Secret:
    """A stored secret, decrypted only when :meth:`reveal` is called.

    ``repr`` and ``str`` are always ``<redacted>``, so a record can be logged or shown in a
    notebook without leaking. Decryption errors surface at :meth:`reveal`, not when listing.
    """

    __slots__ = ("_load",)

    def __init__(self, load: Callable[[], str]) -> None:
        self._load = load

    @classmethod
    def of(cls, value: str) -> Secret:
        """Wrap a plaintext value already in memory."""
        return cls(lambda: value)

    def reveal(self) -> str:
        """The plaintext. Keep it out of logs, messages and rendered output."""
        return self._load()

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison with ``candidate``."""
        return hmac.compare_digest(self.reveal().encode("utf-8"), candidate.encode("utf-8"))

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; reveal() it deliberately instead")

    # Immutable: copies (dataclasses.asdict, copy.deepcopy) share it instead of pickling it.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


class PutOutcome(StrEnum):
    """What :meth:`Repository.put_authorization` did."""

    CREATED = "created"  # no record existed for this application x tenant
    UPDATED = "updated"  # a newer (or same-age, different) token replaced the record
    UNCHANGED = "unchanged"  # the same token again (a replayed callback): nothing changed
    STALE = "stale"  # an older token than the stored one: ignored


@dataclass(frozen=True)
class Application:
    """A registered application (the Developer Portal's credentials for one environment)."""

    id: str
    name: str
    environment: str
    environment_url: str | None
    client_id: str
    client_secret: Secret
    private_key: Secret | None
    redirect_uri: str | None
    kind: str
    model: str
    tenant: str | None
    key_fingerprint: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def has_private_key(self) -> bool:
        return self.private_key is not None


@dataclass(frozen=True)
class Authorization:
    """An application authorization record: one application approved in one tenant."""

    id: str
    application_id: str
    context_identifier: str
    company_name: str | None
    serial: str | None
    webapi_url: str | None
    netserver_url: str | None
    approved_by: str | None
    approved_by_associate_id: int | None
    approved_at: datetime | None
    token_issued_at: datetime
    status: str
    system_user_token: Secret | None
    refresh_token: Secret | None
    claims: Mapping[str, Any] = field(hash=False)
    created_at: datetime
    updated_at: datetime

    @property
    def has_system_user_token(self) -> bool:
        return self.system_user_token is not None


@dataclass(frozen=True)
class PendingSignIn:
    """A started sign-in waiting for its callback; found by the hash of its ``state``."""

    state_hash: str
    application_id: str
    purpose: str
    nonce: Secret
    code_verifier: Secret
    redirect_uri: str
    return_to: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    action: str
    application: str | None
    context_identifier: str | None
    summary: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True)
class TicketCounts:
    """Authorization records by the freshness of their stored system user ticket at one
    moment: ``valid`` (usable without an exchange), ``expiring`` (usable, inside the refresh
    margin), and the first ``expiring_first`` of those expiring (soonest first)."""

    valid: int
    expiring: int
    expiring_first: tuple[AuthorizationKey, ...] = ()


@dataclass(frozen=True)
class TenantStateCount:
    """How many tenants were in ``state`` at the end of ``day`` (UTC), by the audit trail."""

    day: date
    state: str
    tenants: int


@dataclass(frozen=True)
class UnreadableSecret:
    """A stored secret the current key ring cannot decrypt (``reason`` says why)."""

    table: str
    row_id: str
    column: str
    kid: str | None
    reason: str


@dataclass(frozen=True)
class RotationReport:
    """What :meth:`Repository.rotate_secrets` did; ``unreadable`` values were left as they are."""

    current_kid: str
    rotated: int
    unreadable: int
    batches: int


@dataclass(frozen=True)
class StoredTicket:
    """A system user ticket kept for one authorization; ``ticket`` is sealed until revealed.

    ``expires_at`` is the toolkit's view of the sliding window: ``last_used_at`` (or
    ``obtained_at``) + 6 hours.
    """

    authorization_id: str
    ticket: Secret
    serial: str | None
    webapi_url: str | None
    netserver_url: str | None
    obtained_at: datetime
    last_used_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class RenewalView:
    """What a ticket renewal needs from the store, read in one statement: the application, its
    authorization in the tenant and the stored ticket (None when there is none); read as an
    ``installation_view``, also the tenant's last known state (None when none is recorded)."""

    application: Application
    authorization: Authorization
    ticket: StoredTicket | None
    state: TenantStateRecord | None = None


@dataclass(frozen=True)
class TicketLease:
    """Who is exchanging a new ticket for an authorization, and until when at the latest."""

    authorization_id: str
    owner: str
    renewing_until: datetime


class StateChangeOutcome(StrEnum):
    """What a received state-change webhook did (the ``state_changes`` history)."""

    APPLIED = "applied"  # the tenant's state / the authorization's status was updated
    DUPLICATE = "duplicate"  # the same notification again, or one that changes nothing
    STALE = "stale"  # older than what is already known: ignored
    REJECTED = "rejected"  # refused (``reason`` says why): nothing changed
    # genuine, but the state API did not confirm it (or could not be asked): recorded, the
    # state API's answer kept, no authorization changed
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class TenantStateRecord:
    """The last known state of a tenant for one authorization (protocol §6).

    ``state`` is the state API's name (``Running``, ``Suspended``, ...); ``source`` is
    ``state-api`` or ``webhook``; ``observed_at`` is when the information is from (a webhook
    token's ``iat``, or when the state API answered); ``checked_at`` when it was stored.
    """

    authorization_id: str
    application_id: str
    context_identifier: str
    state: str | None
    endpoint: str | None
    api: str | None
    version: str | None
    valid_until: datetime | None
    observed_at: datetime
    checked_at: datetime
    source: str


@dataclass(frozen=True)
class TenantWorkView:
    """What a tenant workflow reads before its work, in one statement: the application and
    the tenant's last known state (None when none is recorded)."""

    application: Application
    state: TenantStateRecord | None


@dataclass(frozen=True)
class StateChange:
    """One received state-change webhook, as recorded (never its token)."""

    id: int
    received_at: datetime
    application_id: str
    application: str | None
    context_identifier: str | None
    change_type: str | None
    version_name: str | None
    file_version: str | None
    public_endpoint: str | None
    issued_at: datetime | None
    outcome: StateChangeOutcome
    reason: str | None


@dataclass(frozen=True)
class UserSession:
    """A signed-in user of the normal user context; the tokens stay sealed until revealed.

    The browser holds only the session id (an opaque random value); the store keeps its hash.
    ``user`` is the id_token's ``sub`` (the SuperID user name).
    """

    id_hash: str
    application_id: str
    context_identifier: str
    user: str
    associate_id: int | None
    access_token: Secret
    refresh_token: Secret | None
    csrf_token: Secret
    access_expires_at: datetime | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ProvisioningStepRecord:
    """One completed (or failed) step of a provisioning run; ``detail`` is JSON (no secrets)."""

    run_id: str
    position: int
    action: str
    kind: str
    key: str
    outcome: str
    remote_id: int | None
    detail: Mapping[str, Any] = field(hash=False)
    at: datetime


@dataclass(frozen=True)
class ProvisioningStepWrite:
    """One step of a run to record (``done`` / ``adopted`` / ``failed``): what
    ``record_provisioning_steps`` and the run's other writes take; the store adds the run and
    the time it is written."""

    position: int
    action: str
    kind: str
    key: str
    outcome: str
    remote_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ProvisioningRun:
    """An apply or uninstall of an application in a tenant: its plan, who, how it ended.

    ``outcome`` is ``running`` (or a crashed run never finished), ``succeeded``, ``failed``
    (no step done) or ``partial``. ``steps`` are filled by ``get_provisioning_run`` only.
    """

    id: str
    application_id: str
    application: str
    context_identifier: str
    operation: str
    actor: str
    outcome: str
    fingerprint: str | None
    plan: Mapping[str, Any] = field(hash=False)
    steps_total: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[ProvisioningStepRecord, ...] = ()


@dataclass(frozen=True)
class ListDefinitionsWrite:
    """The list definitions of a tenant to keep (ListEntity wire JSON), read at ``read_at``:
    with ``remember_lists``, or as a provisioning run left them with ``finish_provisioning_run``."""

    lists: tuple[dict[str, Any], ...]
    read_at: datetime


@dataclass(frozen=True)
class OwnershipWrite:
    """One ownership record to write with ``put_provisioned_objects`` (a list or list item of
    the tenant, by name; ``state`` pending / owned)."""

    kind: str
    name: str
    list_name: str | None = None
    state: str = "owned"
    remote_id: int | None = None


@dataclass(frozen=True)
class ProvisionedObject:
    """A list or list item an application created in a tenant (``state`` pending / owned)."""

    application_id: str
    context_identifier: str
    kind: str
    list_name: str | None
    name: str
    remote_id: int | None
    state: str
    run_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class RememberedLists:
    """The store's copy of a tenant's list definitions (ListEntity wire JSON) that an
    application's plans depend on, and when they were read from the tenant."""

    application_id: str
    context_identifier: str
    lists: tuple[dict[str, Any], ...]
    read_at: datetime


@dataclass(frozen=True)
class ProvisioningLock:
    """Who applies to an application x tenant, and until when at the latest."""

    application_id: str
    context_identifier: str
    owner: str
    locked_until: datetime
    acquired_at: datetime


@dataclass(frozen=True)
class AuthorizationKey:
    """What identifies an authorization record and its status, without its details (set-based
    reads over every tenant; :class:`Authorization` has the same fields)."""

    id: str
    application_id: str
    context_identifier: str
    status: str


@dataclass(frozen=True)
class AuthorizationPage:
    """One page of authorization records and how many match in all."""

    records: tuple[Authorization, ...]
    total: int


@dataclass(frozen=True)
class AuditFacets:
    """The distinct values of the audit trail's small columns (filters offer them)."""

    applications: tuple[str, ...]
    actors: tuple[str, ...]
    actions: tuple[str, ...]
