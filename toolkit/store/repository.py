"""The repository: the only place in the toolkit that speaks SQL.

Every write runs in one :func:`~toolkit.store.database.write` transaction (``BEGIN IMMEDIATE`` on
SQLite); every change to applications and authorizations made on behalf of an ``actor`` writes its
audit event in that same transaction. Secrets are sealed with the :class:`SecretBox` using
``"{table}:{row id}:{column}"`` as associated data and come back as lazy :class:`Secret` values.

:class:`Repository` is composed of one mixin per area of the store (:mod:`toolkit.store.areas`).
"""

from __future__ import annotations

from toolkit.store.areas.applications import Applications
from toolkit.store.areas.audit import Audit
from toolkit.store.areas.authorizations import Authorizations
from toolkit.store.areas.common import (
    DEFAULT_AUDIT_LIMIT,
    SIGN_IN_TTL,
    hash_state,
    looks_secret,
    utc_now,
)
from toolkit.store.areas.fleet_reads import FleetReads
from toolkit.store.areas.key_ring import CANARY_KEY, KeyRingCanary, is_sealed
from toolkit.store.areas.list_definitions import ListDefinitions
from toolkit.store.areas.maintenance import (
    ROTATION_BATCH_SIZE,
    VERIFY_BATCH_SIZE,
    SecretsMaintenance,
)
from toolkit.store.areas.provisioning import ProvisioningOwnership
from toolkit.store.areas.provisioning_runs import ProvisioningRuns
from toolkit.store.areas.sessions import UserSessions
from toolkit.store.areas.sign_ins import PendingSignIns
from toolkit.store.areas.state_history import StateHistory
from toolkit.store.areas.tenant_states import TenantStates
from toolkit.store.areas.tenant_work import TenantWork
from toolkit.store.areas.ticket_renewal import TicketRenewal
from toolkit.store.areas.tickets import Tickets
from toolkit.store.areas.user_options import UserOptions

__all__ = [
    "CANARY_KEY",
    "DEFAULT_AUDIT_LIMIT",
    "ROTATION_BATCH_SIZE",
    "SIGN_IN_TTL",
    "VERIFY_BATCH_SIZE",
    "Repository",
    "hash_state",
    "is_sealed",
    "looks_secret",
    "utc_now",
]


class Repository(
    FleetReads,  # first: it builds on Authorizations, Tickets and TenantStates
    TicketRenewal,  # builds on Applications, Authorizations and Tickets
    TenantWork,  # builds on Applications and TenantStates
    KeyRingCanary,
    Applications,
    Authorizations,
    Tickets,
    PendingSignIns,
    TenantStates,
    UserSessions,
    UserOptions,
    Audit,
    StateHistory,
    ProvisioningOwnership,
    ProvisioningRuns,
    ListDefinitions,
    SecretsMaintenance,
):
    """Applications, authorizations, pending sign-ins, user options, tenant states, the webhook
    history, panel sessions and audit events.

    ``now`` is the clock (timezone-aware UTC); tests inject their own.
    """

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
