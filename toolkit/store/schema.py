"""The store's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create them.

Primary keys are text UUIDs generated in Python, so a row's identity is known before the insert
and can serve as the associated data of its encrypted columns. Columns holding secrets are
listed in :data:`ENCRYPTED_COLUMNS`; they only ever hold ``v1:kid:...`` ciphertext. The schema
version is Alembic's ``alembic_version`` table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "APPLICATION_KINDS",
    "APPLICATION_MODELS",
    "AUTHORIZATION_STATUSES",
    "ENCRYPTED_COLUMNS",
    "ENVIRONMENTS",
    "OWNERSHIP_STATES",
    "PROVISIONED_KINDS",
    "RUN_OUTCOMES",
    "SIGN_IN_PURPOSES",
    "STATE_CHANGE_OUTCOMES",
    "STEP_OUTCOMES",
    "TENANT_STATE_SOURCES",
    "applications",
    "audit_events",
    "authorizations",
    "list_definitions",
    "metadata",
    "pending_sign_ins",
    "provisioned_objects",
    "provisioning_locks",
    "provisioning_runs",
    "provisioning_steps",
    "state_changes",
    "store_meta",
    "tenant_states",
    "tickets",
    "user_options",
    "user_sessions",
]

ENVIRONMENTS = ("sod", "qaonline", "online", "emulator")
APPLICATION_KINDS = ("standard", "custom")
APPLICATION_MODELS = ("internal", "external", "hybrid")
# suspended / deleted follow the tenant's state-change webhooks (Suspend, Delete; protocol §6).
AUTHORIZATION_STATUSES = ("active", "revoked", "needs_reconsent", "suspended", "deleted")
SIGN_IN_PURPOSES = ("install", "user")
# Provisioning (0004). A run is ``running`` until it ends ``succeeded``, ``failed`` (no step
# done) or ``partial`` (some steps done); a step ends ``done``, ``adopted`` (found by its natural
# key instead of created: a lost response or an earlier crash) or ``failed``.
RUN_OUTCOMES = ("running", "succeeded", "failed", "partial")
STEP_OUTCOMES = ("done", "adopted", "failed")
# What the store tracks ownership of (REST has no owner field for lists and items; web panels
# are owned through GetAppWebPanels). ``pending``: a create was sent, its answer not seen yet.
PROVISIONED_KINDS = ("list", "list_item")
OWNERSHIP_STATES = ("pending", "owned")
# Where a tenant's last known state came from: the state API (pull) or a webhook (push).
TENANT_STATE_SOURCES = ("state-api", "webhook")
# What a received state-change webhook did: applied, a duplicate of one already applied, older
# than what is known (stale), refused (rejected, with a reason), or not confirmed by the state
# API (unconfirmed, 0005: recorded, not acted on).
STATE_CHANGE_OUTCOMES = ("applied", "duplicate", "stale", "rejected", "unconfirmed")

# Lengths are generous bounds, not protocol facts: they keep a runaway value out of the store.
NAME_LENGTH = 200
IDENTIFIER_LENGTH = 200
URL_LENGTH = 2000
USER_LENGTH = 320  # an e-mail address at its longest

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them without an offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value)}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


applications = Table(
    "applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("environment", String(20), nullable=False),
    Column("environment_url", String(URL_LENGTH)),
    Column("client_id", String(IDENTIFIER_LENGTH), nullable=False),
    Column("client_secret", Text, nullable=False),  # encrypted
    Column("private_key", Text),  # encrypted PEM
    Column("redirect_uri", String(URL_LENGTH)),
    Column("kind", String(20), nullable=False),
    Column("model", String(20), nullable=False),
    Column("tenant", String(IDENTIFIER_LENGTH)),
    Column("key_fingerprint", String(IDENTIFIER_LENGTH)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("manifest", Text),  # the provisioning manifest (TOML text), 0004
    UniqueConstraint("client_id", "environment"),
    _one_of("environment", ENVIRONMENTS),
    _one_of("kind", APPLICATION_KINDS),
    _one_of("model", APPLICATION_MODELS),
)

authorizations = Table(
    "authorizations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), nullable=False),
    Column("company_name", String(NAME_LENGTH)),
    Column("serial", String(IDENTIFIER_LENGTH)),
    Column("webapi_url", String(URL_LENGTH)),
    Column("netserver_url", String(URL_LENGTH)),
    Column("approved_by", String(USER_LENGTH)),
    Column("approved_by_associate_id", Integer),
    Column("approved_at", UTCDateTime),
    Column("token_issued_at", UTCDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("system_user_token", Text),  # encrypted
    Column("refresh_token", Text),  # encrypted
    Column("claims", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("application_id", "context_identifier"),
    _one_of("status", AUTHORIZATION_STATUSES),
    Index(None, "context_identifier"),
)

pending_sign_ins = Table(
    "pending_sign_ins",
    metadata,
    Column("state_hash", String(64), primary_key=True),  # SHA-256 hex of the state
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("purpose", String(20), nullable=False),
    Column("nonce", Text, nullable=False),  # encrypted
    Column("code_verifier", Text, nullable=False),  # encrypted
    Column("redirect_uri", String(URL_LENGTH), nullable=False),
    Column("return_to", String(URL_LENGTH)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    _one_of("purpose", SIGN_IN_PURPOSES),
    Index(None, "expires_at"),
)

user_options = Table(
    "user_options",
    metadata,
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), primary_key=True),
    Column("user", String(USER_LENGTH), primary_key=True),
    Column("key", String(NAME_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", UTCDateTime, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(USER_LENGTH), nullable=False),
    Column("action", String(100), nullable=False),
    Column("application", String(NAME_LENGTH)),
    Column("context_identifier", String(IDENTIFIER_LENGTH)),
    Column("summary", Text, nullable=False),  # JSON, redacted
    Index(None, "at"),
    Index(None, "application"),
    Index(None, "context_identifier"),
    # One kind of event in the order it was written: the state history pages through these.
    Index(None, "action", "id"),
)

# One system user ticket per authorization (protocol §4.7), plus the lease that lets one process
# at a time exchange a new one. ``ticket`` is NULL while only a lease exists.
tickets = Table(
    "tickets",
    metadata,
    Column(
        "authorization_id",
        String(36),
        ForeignKey("authorizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ticket", Text),  # encrypted
    Column("serial", String(IDENTIFIER_LENGTH)),
    Column("webapi_url", String(URL_LENGTH)),
    Column("netserver_url", String(URL_LENGTH)),
    Column("obtained_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("expires_at", UTCDateTime),  # the toolkit's view: last use + the 6 h sliding window
    Column("renewing_until", UTCDateTime),  # lease: an exchange is under way until then
    Column("lease_owner", String(IDENTIFIER_LENGTH)),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The tenant's last known state per authorization (protocol §6): from the state API or from a
# state-change webhook. ``observed_at`` is when the information is from (the webhook token's
# iat, or the time the state API was asked): an older observation never overwrites a newer one.
tenant_states = Table(
    "tenant_states",
    metadata,
    Column(
        "authorization_id",
        String(36),
        ForeignKey("authorizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("state", String(40)),
    Column("endpoint", String(URL_LENGTH)),
    Column("api", String(URL_LENGTH)),
    Column("version", String(NAME_LENGTH)),
    Column("valid_until", UTCDateTime),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("source", String(20), nullable=False),
    _one_of("source", TENANT_STATE_SOURCES),
)

# Every state-change webhook received for a known application, whatever became of it. Never
# the token: ``fingerprint`` is the SHA-256 of its jti (or of the token without one), which
# recognises a redelivery.
state_changes = Table(
    "state_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH)),
    Column("change_type", String(40)),
    Column("version_name", String(NAME_LENGTH)),
    Column("file_version", String(NAME_LENGTH)),
    Column("public_endpoint", String(URL_LENGTH)),
    Column("issued_at", UTCDateTime),
    Column("fingerprint", String(64)),
    Column("outcome", String(20), nullable=False),
    Column("reason", String(100)),
    _one_of("outcome", STATE_CHANGE_OUTCOMES),
    Index(None, "received_at"),
    Index(None, "application_id", "fingerprint"),
    Index(None, "context_identifier"),
)

# Context identifiers are matched case-insensitively (``lower(...) = ...``, protocol §1) [I]:
# these expression indexes serve those lookups (migration 0006), which otherwise scan every row
# of the application.
Index(
    "ix_authorizations_application_id_lower_context_identifier",
    authorizations.c.application_id,
    func.lower(authorizations.c.context_identifier),
)
Index(
    "ix_state_changes_application_id_lower_context_identifier",
    state_changes.c.application_id,
    func.lower(state_changes.c.context_identifier),
)

# Signed-in users of the normal user context (/panel). The browser holds only an opaque random
# id in an HttpOnly cookie; the store keeps its SHA-256 and the user's tokens, sealed.
user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 hex of the cookie value
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), nullable=False),
    Column("user", String(USER_LENGTH), nullable=False),
    Column("associate_id", Integer),
    Column("access_token", Text, nullable=False),  # encrypted
    Column("refresh_token", Text),  # encrypted
    Column("csrf_token", Text, nullable=False),  # encrypted
    Column("access_expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "expires_at"),
)

# Provisioning runs (0004): one row per apply / uninstall of an application in a tenant, with
# the plan it performed (JSON), who asked, and how it ended.
provisioning_runs = Table(
    "provisioning_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), nullable=False),
    Column("operation", String(20), nullable=False),  # apply | uninstall
    Column("actor", String(USER_LENGTH), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("fingerprint", String(64)),
    Column("plan", Text, nullable=False),  # JSON
    Column("steps_total", Integer, nullable=False),
    Column("error", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    _one_of("outcome", RUN_OUTCOMES),
    Index(None, "application_id", "context_identifier", "started_at"),
    Index(None, "started_at"),
)

# Each step of a run, written with the run's next store write after it completes (an
# ownership record, a failure or the run's end): a crash leaves a prefix of what was done.
provisioning_steps = Table(
    "provisioning_steps",
    metadata,
    Column(
        "run_id",
        String(36),
        ForeignKey("provisioning_runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("action", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("key", String(URL_LENGTH), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("remote_id", Integer),
    Column("detail", Text),
    Column("at", UTCDateTime, nullable=False),
    _one_of("outcome", STEP_OUTCOMES),
)

# Lists and list items an application created in a tenant (REST has no owner field for them).
# Keys are casefolded names (``list_key`` is '' for a list itself).
provisioned_objects = Table(
    "provisioned_objects",
    metadata,
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("list_key", String(NAME_LENGTH), primary_key=True),
    Column("key", String(NAME_LENGTH), primary_key=True),
    Column("list_name", String(NAME_LENGTH)),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("remote_id", Integer),
    Column("state", String(20), nullable=False),
    Column("run_id", String(36)),
    Column("updated_at", UTCDateTime, nullable=False),
    _one_of("kind", PROVISIONED_KINDS),
    _one_of("state", OWNERSHIP_STATES),
)

# The store's copy of a tenant's list definitions that matter to an application's manifest
# (``GET v1/List``, ListEntity wire JSON), and when they were read: a plan within
# ``SOTK_PROVISIONING_LIST_CACHE_SECONDS`` of it reads each list's items by the id kept here
# instead of every list definition again (protocol §7.3; issue 14).
list_definitions = Table(
    "list_definitions",
    metadata,
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), primary_key=True),
    Column("lists", Text, nullable=False),
    Column("read_at", UTCDateTime, nullable=False),
)

# One apply per application x tenant at a time: a lease with an expiry (a crashed holder's
# lock is taken over once it expires), like the ticket exchange lease.
provisioning_locks = Table(
    "provisioning_locks",
    metadata,
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context_identifier", String(IDENTIFIER_LENGTH), primary_key=True),
    Column("owner", String(IDENTIFIER_LENGTH), nullable=False),
    Column("locked_until", UTCDateTime, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
)

# (table, primary key column, encrypted columns): what rotation and verification walk through.
ENCRYPTED_COLUMNS: tuple[tuple[Table, str, tuple[str, ...]], ...] = (
    (applications, "id", ("client_secret", "private_key")),
    (authorizations, "id", ("system_user_token", "refresh_token")),
    (pending_sign_ins, "state_hash", ("nonce", "code_verifier")),
    (tickets, "authorization_id", ("ticket",)),
    (user_sessions, "id_hash", ("access_token", "refresh_token", "csrf_token")),
)
