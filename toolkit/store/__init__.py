"""The toolkit's store: applications, authorizations, tickets, sign-ins, options, tenant states,
webhook history, panel sessions, audit (secrets sealed).

:func:`open_store` is the one way in: it builds the engine, applies migrations, loads the key
ring and proves that the key ring opens this store before anything else happens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from toolkit.store.crypto import KeyRing, SecretBox, associated_data, generate_key_text
from toolkit.store.database import create_engine_for
from toolkit.store.migrations import head_version, migrate, schema_version
from toolkit.store.records import (
    Application,
    AuditEvent,
    Authorization,
    ListDefinitionsWrite,
    PendingSignIn,
    ProvisionedObject,
    ProvisioningLock,
    ProvisioningRun,
    ProvisioningStepRecord,
    ProvisioningStepWrite,
    PutOutcome,
    RememberedLists,
    RotationReport,
    Secret,
    StateChange,
    StateChangeOutcome,
    StoredTicket,
    TenantStateCount,
    TenantStateRecord,
    TicketLease,
    UnreadableSecret,
    UserSession,
)
from toolkit.store.repository import Repository, hash_state, is_sealed, utc_now

__all__ = [
    "Application",
    "AuditEvent",
    "Authorization",
    "KeyRing",
    "ListDefinitionsWrite",
    "PendingSignIn",
    "ProvisionedObject",
    "ProvisioningLock",
    "ProvisioningRun",
    "ProvisioningStepRecord",
    "ProvisioningStepWrite",
    "PutOutcome",
    "RememberedLists",
    "Repository",
    "RotationReport",
    "Secret",
    "SecretBox",
    "StateChange",
    "StateChangeOutcome",
    "StoredTicket",
    "TenantStateCount",
    "TenantStateRecord",
    "TicketLease",
    "UnreadableSecret",
    "UserSession",
    "associated_data",
    "create_engine_for",
    "generate_key_text",
    "hash_state",
    "head_version",
    "migrate",
    "open_store",
    "schema_version",
]


def open_store(
    database_url: str | None,
    home: Path,
    secret_keys: str | None,
    *,
    now: Callable[[], datetime] = utc_now,
) -> Repository:
    """Open the store, migrated and with a key ring proven to fit it; refuse otherwise.

    ``database_url`` None means the embedded SQLite file ``{home}/toolkit.db``.
    ``secret_keys`` is ``SOTK_SECRET_KEYS`` text (``"kid1:BASE64,kid2:BASE64"``, first =
    current); None means the key file ``{home}/secret.key``, created (mode 0600, with a log
    line) only when the store holds no secrets yet. A store sealed with another key, a missing
    key file for a store that has secrets, or a too widely readable key file raise
    :class:`~toolkit.errors.SecretKeyError`: there is no plaintext fallback.
    """
    home = Path(home)
    engine = create_engine_for(database_url, home=home)
    try:
        migrate(engine)
        if secret_keys is not None and secret_keys.strip():
            keyring = KeyRing.from_text(secret_keys)
        elif is_sealed(engine):
            keyring = KeyRing.load(home)  # never create a new key for a store with secrets
        else:
            keyring = KeyRing.load_or_create(home)
        repository = Repository(engine, SecretBox(keyring), now=now)
        repository.verify_key_ring()
    except BaseException:
        engine.dispose()
        raise
    return repository
