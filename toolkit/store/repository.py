"""The repository: the only place in the toolkit that speaks SQL.

Every write runs in one :func:`~toolkit.store.database.write` transaction (``BEGIN IMMEDIATE`` on
SQLite); every change to applications and authorizations made on behalf of an ``actor`` writes its
audit event in that same transaction. Secrets are sealed with the :class:`SecretBox` using
``"{table}:{row id}:{column}"`` as associated data and come back as lazy :class:`Secret` values.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from toolkit.config import ENVIRONMENT_ALIASES, require_secure_url
from toolkit.errors import (
    ConfigurationError,
    ConflictError,
    DecryptionError,
    ExpiredError,
    NotFoundError,
    SecretKeyError,
    StoreError,
)
from toolkit.store import database
from toolkit.store.crypto import FORMAT_VERSION, SecretBox, associated_data, kid_of
from toolkit.store.records import (
    Application,
    AuditEvent,
    Authorization,
    PendingSignIn,
    ProvisionedObject,
    ProvisioningLock,
    ProvisioningRun,
    ProvisioningStepRecord,
    PutOutcome,
    RotationReport,
    Secret,
    StateChange,
    StateChangeOutcome,
    StoredTicket,
    TenantStateRecord,
    TicketLease,
    UnreadableSecret,
    UserSession,
)
from toolkit.store.schema import (
    APPLICATION_KINDS,
    APPLICATION_MODELS,
    AUTHORIZATION_STATUSES,
    ENCRYPTED_COLUMNS,
    ENVIRONMENTS,
    OWNERSHIP_STATES,
    PROVISIONED_KINDS,
    RUN_OUTCOMES,
    SIGN_IN_PURPOSES,
    STEP_OUTCOMES,
    TENANT_STATE_SOURCES,
    applications,
    audit_events,
    authorizations,
    pending_sign_ins,
    provisioned_objects,
    provisioning_locks,
    provisioning_runs,
    provisioning_steps,
    state_changes,
    store_meta,
    tenant_states,
    tickets,
    user_options,
    user_sessions,
)

__all__ = [
    "ROTATION_BATCH_SIZE",
    "SIGN_IN_TTL",
    "Repository",
    "hash_state",
    "is_sealed",
    "utc_now",
]

# A pending sign-in lives this long: enough for an admin to sign in and read the consent page,
# short enough that a leaked state is soon useless (SuperID's own id_token lives 5 minutes).
SIGN_IN_TTL = timedelta(minutes=10)
# Rows re-encrypted per rotation transaction: small enough to keep SQLite's write lock brief.
ROTATION_BATCH_SIZE = 100
# Rows read per verification batch.
VERIFY_BATCH_SIZE = 500
# Audit events returned when the caller gives no limit.
DEFAULT_AUDIT_LIMIT = 100
# store_meta keys whose values are sealed; the canary proves the key ring fits this store.
CANARY_KEY = "canary"
_CANARY_TEXT = "superoffice-toolkit key ring canary"
_ENCRYPTED_META_KEYS = (CANARY_KEY,)

# Key names that smell of secrets in audit summaries, claims and user options (normalized to
# lower_snake_case, last URI segment): refused, so a caller's missed redaction cannot persist.
_SECRET_NAMES = frozenset(
    {
        "secret",
        "client_secret",
        "password",
        "passwd",
        "private_key",
        "token",
        "system_token",
        "system_user_token",
        "refresh_token",
        "access_token",
        "id_token",
        "ticket",
        "system_user_ticket",
        "code",
        "code_verifier",
        "nonce",
        "application_token",
        "api_key",
        "authorization",
    }
)
_SECRET_SUFFIXES = ("_secret", "_token", "_ticket", "_password", "_private_key", "_verifier")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _normalize_key(key: str) -> str:
    last = key.rstrip("/").rsplit("/", 1)[-1]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", last)
    return re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")


def _looks_secret(key: str) -> bool:
    name = _normalize_key(key)
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def looks_secret(key: str) -> bool:
    """True when a mapping key names a secret (``client_secret``, ``*_token``, ...)."""
    return _looks_secret(key)


def _refuse_secrets(value: Any, *, what: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            # A flag or an empty value cannot carry a secret ({"has_private_key": True}).
            if _looks_secret(str(key)) and not (item is None or isinstance(item, bool)):
                raise StoreError(
                    f"{what} has a key {str(key)!r} that looks like a secret; "
                    "redact it before it reaches the store"
                )
            _refuse_secrets(item, what=what)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_secrets(item, what=what)


def is_sealed(engine: Engine) -> bool:
    """True once a key ring has been bound to the store (its canary exists): after first start."""
    with database.read(engine) as connection:
        found = connection.execute(
            select(store_meta.c.key).where(store_meta.c.key == CANARY_KEY)
        ).first()
    return found is not None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def hash_state(state: str) -> str:
    """SHA-256 hex of a sign-in ``state``: what the store keeps instead of the state."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Target:
    """One table's encrypted columns, for rotation and verification."""

    table: Table
    key: str
    columns: tuple[str, ...]
    where: ColumnElement[bool]


_TARGETS = (
    *(_Target(table, key, columns, true()) for table, key, columns in ENCRYPTED_COLUMNS),
    _Target(store_meta, "key", ("value",), store_meta.c.key.in_(_ENCRYPTED_META_KEYS)),
)


class Repository:
    """Applications, authorizations, pending sign-ins, user options, tenant states, the webhook
    history, panel sessions and audit events.

    ``now`` is the clock (timezone-aware UTC); tests inject their own.
    """

    def __init__(
        self, engine: Engine, box: SecretBox, *, now: Callable[[], datetime] = utc_now
    ) -> None:
        self._engine = engine
        self._box = box
        self._now = now

    def __repr__(self) -> str:
        return f"Repository({self._engine.url!r}, {self._box!r})"

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def box(self) -> SecretBox:
        return self._box

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with database.write(self._engine) as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with database.read(self._engine) as connection:
            yield connection

    def _seal(self, table: Table, row_id: str, column: str, value: str | None) -> str | None:
        if value is None:
            return None
        return self._box.encrypt(value, aad=associated_data(table.name, row_id, column))

    def _secret(self, table: Table, row_id: str, column: str, stored: str | None) -> Secret | None:
        if stored is None:
            return None
        box = self._box
        aad = associated_data(table.name, row_id, column)

        def load() -> str:
            try:
                return box.decrypt(stored, aad=aad)
            except DecryptionError as exc:
                raise DecryptionError(f"{table.name}.{column} of row {row_id}: {exc}") from None

        return Secret(load)

    def _required_secret(self, table: Table, row_id: str, column: str, stored: str) -> Secret:
        secret = self._secret(table, row_id, column, stored)
        assert secret is not None  # noqa: S101 - stored is a str, so a Secret came back
        return secret

    def _audit(
        self,
        connection: Connection,
        actor: str,
        action: str,
        *,
        application: str | None,
        context_identifier: str | None,
        summary: Mapping[str, Any],
    ) -> AuditEvent:
        _refuse_secrets(summary, what="audit summary")
        at = self._now()
        text = _json(dict(summary))
        event_id = connection.execute(
            insert(audit_events)
            .values(
                at=at,
                actor=actor,
                action=action,
                application=application,
                context_identifier=context_identifier,
                summary=text,
            )
            .returning(audit_events.c.id)
        ).scalar_one()
        return AuditEvent(
            id=event_id,
            at=at,
            actor=actor,
            action=action,
            application=application,
            context_identifier=context_identifier,
            summary=json.loads(text),
        )

    # -- key ring canary ----------------------------------------------------------------------

    def verify_key_ring(self) -> None:
        """Prove the key ring opens this store; on the first start, seal the canary with it.

        Raises :class:`SecretKeyError` when the canary cannot be decrypted: wrong key, or the
        key that sealed it is missing from the ring.
        """
        for attempt in (1, 2):
            try:
                with self._write() as connection:
                    stored = connection.execute(
                        select(store_meta.c.value).where(store_meta.c.key == CANARY_KEY)
                    ).scalar_one_or_none()
                    if stored is None:
                        connection.execute(
                            insert(store_meta).values(
                                key=CANARY_KEY,
                                value=self._seal(store_meta, CANARY_KEY, "value", _CANARY_TEXT),
                                updated_at=self._now(),
                            )
                        )
                        return
                break
            except IntegrityError:  # another starter sealed it first: check theirs
                if attempt == 2:
                    raise
        aad = associated_data(store_meta.name, CANARY_KEY, "value")
        if not isinstance(stored, str):  # pragma: no cover - the loop returns or assigns
            raise StoreError("the key ring canary could not be read")
        try:
            kid = kid_of(stored)
            opened = self._box.decrypt(stored, aad=aad)
        except SecretKeyError as exc:
            raise SecretKeyError(
                f"the key ring has no key {exc.kid!r}, which this store's secrets are sealed "
                "with; refusing to start (check SOTK_SECRET_KEYS or the secret.key file)",
                kid=exc.kid,
            ) from None
        except DecryptionError:
            raise SecretKeyError(
                f"key {kid!r} in the key ring is not the key this store was sealed with; "
                "refusing to start (check SOTK_SECRET_KEYS or the secret.key file)",
                kid=kid,
            ) from None
        if opened != _CANARY_TEXT:  # pragma: no cover - AES-GCM authenticated it
            raise SecretKeyError("the key ring canary holds an unexpected value")

    # -- applications ---------------------------------------------------------------------------

    def add_application(
        self,
        name: str,
        *,
        environment: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        kind: str = "standard",
        model: str = "external",
        environment_url: str | None = None,
        private_key: str | None = None,
        tenant: str | None = None,
        key_fingerprint: str | None = None,
        actor: str | None = None,
    ) -> Application:
        """Register an application; ConflictError if the name or client id is taken.

        ``private_key`` is PEM text (convert RSAKeyValue XML with :mod:`toolkit.keys` first);
        ``tenant`` is a custom application's one context identifier.
        """
        name = name.strip()
        environment = ENVIRONMENT_ALIASES.get(environment.strip().lower(), environment.lower())
        if not name:
            raise ConfigurationError("an application needs a name")
        if environment not in ENVIRONMENTS:
            raise ConfigurationError(
                f"environment must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
            )
        if kind not in APPLICATION_KINDS:
            raise ConfigurationError(f"kind must be one of {', '.join(APPLICATION_KINDS)}")
        if model not in APPLICATION_MODELS:
            raise ConfigurationError(f"model must be one of {', '.join(APPLICATION_MODELS)}")
        if not client_id or not client_secret:
            raise ConfigurationError("an application needs a client id and a client secret")
        if environment == "emulator" and not environment_url:
            raise ConfigurationError("an emulator application needs the emulator's base URL")
        if environment_url is not None:
            require_secure_url(environment_url, what="environment_url")
        if redirect_uri is not None:
            require_secure_url(redirect_uri, what="redirect_uri")
        row_id = str(uuid.uuid4())
        now = self._now()
        values: dict[str, Any] = {
            "id": row_id,
            "name": name,
            "environment": environment,
            "environment_url": environment_url,
            "client_id": client_id,
            "client_secret": self._seal(applications, row_id, "client_secret", client_secret),
            "private_key": self._seal(applications, row_id, "private_key", private_key),
            "redirect_uri": redirect_uri,
            "kind": kind,
            "model": model,
            "tenant": tenant,
            "key_fingerprint": key_fingerprint,
            "created_at": now,
            "updated_at": now,
        }
        with self._write() as connection:
            taken = connection.execute(
                select(applications.c.name, applications.c.client_id).where(
                    or_(
                        applications.c.name == name,
                        and_(
                            applications.c.client_id == client_id,
                            applications.c.environment == environment,
                        ),
                    )
                )
            ).first()
            if taken is not None:
                if taken.name == name:
                    raise ConflictError(f"an application named {name!r} already exists")
                raise ConflictError(
                    f"client id {client_id!r} is already registered in {environment} "
                    f"(application {taken.name!r})"
                )
            try:
                connection.execute(insert(applications).values(values))
            except IntegrityError:
                raise ConflictError(
                    f"application {name!r} or its client id was registered concurrently"
                ) from None
            if actor is not None:
                self._audit(
                    connection,
                    actor,
                    "application.added",
                    application=name,
                    context_identifier=tenant,
                    summary={
                        "environment": environment,
                        "client_id": client_id,
                        "kind": kind,
                        "model": model,
                        "tenant": tenant,
                        "has_private_key": private_key is not None,
                        "key_fingerprint": key_fingerprint,
                    },
                )
        return self._application(values)

    def _application(self, row: Mapping[Any, Any]) -> Application:
        return Application(
            id=row["id"],
            name=row["name"],
            environment=row["environment"],
            environment_url=row["environment_url"],
            client_id=row["client_id"],
            client_secret=self._required_secret(
                applications, row["id"], "client_secret", row["client_secret"]
            ),
            private_key=self._secret(applications, row["id"], "private_key", row["private_key"]),
            redirect_uri=row["redirect_uri"],
            kind=row["kind"],
            model=row["model"],
            tenant=row["tenant"],
            key_fingerprint=row["key_fingerprint"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @staticmethod
    def _find_application(connection: Connection, name_or_id: str) -> RowMapping | None:
        rows = (
            connection.execute(
                select(applications).where(
                    or_(applications.c.id == name_or_id, applications.c.name == name_or_id)
                )
            )
            .mappings()
            .all()
        )
        # An id match wins over a name match (ids are UUIDs; names are free text).
        rows = sorted(rows, key=lambda row: row["id"] != name_or_id)
        return rows[0] if rows else None

    def _require_application(self, connection: Connection, name_or_id: str) -> RowMapping:
        row = self._find_application(connection, name_or_id)
        if row is None:
            raise NotFoundError(f"no application {name_or_id!r}")
        return row

    def get_application(self, name_or_id: str) -> Application:
        """The application with this name or id; NotFoundError if there is none."""
        with self._read() as connection:
            return self._application(self._require_application(connection, name_or_id))

    def list_applications(self) -> list[Application]:
        with self._read() as connection:
            rows = connection.execute(select(applications).order_by(applications.c.name))
            return [self._application(row) for row in rows.mappings()]

    # -- authorizations -------------------------------------------------------------------------

    def put_authorization(
        self,
        application_id: str,
        context_identifier: str,
        *,
        token_issued_at: datetime,
        system_user_token: str | None = None,
        refresh_token: str | None = None,
        approved_by: str | None = None,
        approved_by_associate_id: int | None = None,
        approved_at: datetime | None = None,
        company_name: str | None = None,
        serial: str | None = None,
        webapi_url: str | None = None,
        netserver_url: str | None = None,
        claims: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> tuple[Authorization, PutOutcome]:
        """Create or update the record for one application x tenant, idempotently.

        ``token_issued_at`` is the validated id_token's ``iat``. The same token again is
        ``unchanged``; an older one is ``stale`` and changes nothing; a newer one is ``updated``
        (and makes the record active again). ``claims`` are the non-secret claims only.
        ``application_id`` may also be the application's name.
        """
        if token_issued_at.tzinfo is None:
            raise ConfigurationError("token_issued_at must be timezone-aware")
        _refuse_secrets(dict(claims or {}), what="claims")
        fields: dict[str, Any] = {
            "company_name": company_name,
            "serial": serial,
            "webapi_url": webapi_url,
            "netserver_url": netserver_url,
            "approved_by": approved_by,
            "approved_by_associate_id": approved_by_associate_id,
            "approved_at": approved_at or token_issued_at,
            "claims": _json(dict(claims or {})),
        }
        for attempt in (1, 2):
            try:
                return self._put_authorization_once(
                    application_id,
                    context_identifier,
                    token_issued_at=token_issued_at,
                    fields=fields,
                    system_user_token=system_user_token,
                    refresh_token=refresh_token,
                    actor=actor,
                )
            except IntegrityError:
                # A concurrent put inserted the same application x tenant first (PostgreSQL
                # reports it at our insert): run again, which now finds and compares it.
                if attempt == 2:
                    raise ConflictError(
                        f"authorization for {context_identifier!r} keeps conflicting"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_authorization_once(
        self,
        application: str,
        context_identifier: str,
        *,
        token_issued_at: datetime,
        fields: dict[str, Any],
        system_user_token: str | None,
        refresh_token: str | None,
        actor: str | None,
    ) -> tuple[Authorization, PutOutcome]:
        with self._write() as connection:
            app = self._require_application(connection, application)
            existing = (
                connection.execute(
                    select(authorizations)
                    .where(
                        authorizations.c.application_id == app["id"],
                        authorizations.c.context_identifier == context_identifier,
                    )
                    .with_for_update()
                )
                .mappings()
                .first()
            )
            now = self._now()
            if existing is None:
                row_id = str(uuid.uuid4())
                values = {
                    "id": row_id,
                    "application_id": app["id"],
                    "context_identifier": context_identifier,
                    **fields,
                    "token_issued_at": token_issued_at,
                    "status": "active",
                    "system_user_token": self._seal(
                        authorizations, row_id, "system_user_token", system_user_token
                    ),
                    "refresh_token": self._seal(
                        authorizations, row_id, "refresh_token", refresh_token
                    ),
                    "created_at": now,
                    "updated_at": now,
                }
                connection.execute(insert(authorizations).values(values))
                outcome = PutOutcome.CREATED
            elif token_issued_at < existing["token_issued_at"]:
                return self._authorization(existing), PutOutcome.STALE
            elif token_issued_at == existing["token_issued_at"] and self._same_authorization(
                existing, fields, system_user_token, refresh_token
            ):
                return self._authorization(existing), PutOutcome.UNCHANGED
            else:
                row_id = existing["id"]
                changes = {
                    **fields,
                    "token_issued_at": token_issued_at,
                    "status": "active",
                    "system_user_token": self._seal(
                        authorizations, row_id, "system_user_token", system_user_token
                    ),
                    "refresh_token": self._seal(
                        authorizations, row_id, "refresh_token", refresh_token
                    ),
                    "updated_at": now,
                }
                connection.execute(
                    update(authorizations).where(authorizations.c.id == row_id).values(changes)
                )
                values = {**existing, **changes}
                outcome = PutOutcome.UPDATED
            if actor is not None:
                self._audit(
                    connection,
                    actor,
                    f"authorization.{outcome.value}",
                    application=app["name"],
                    context_identifier=context_identifier,
                    summary={
                        "approved_by": fields["approved_by"],
                        "token_issued_at": token_issued_at.isoformat(),
                        "company_name": fields["company_name"],
                        "holds_system_user": system_user_token is not None,
                    },
                )
        return self._authorization(values), outcome

    def _same_authorization(
        self,
        row: Mapping[Any, Any],
        fields: Mapping[str, Any],
        system_user_token: str | None,
        refresh_token: str | None,
    ) -> bool:
        if any(row[name] != value for name, value in fields.items()):
            return False
        for column, incoming in (
            ("system_user_token", system_user_token),
            ("refresh_token", refresh_token),
        ):
            stored = self._secret(authorizations, row["id"], column, row[column])
            if (stored is None) != (incoming is None):
                return False
            try:
                if stored is not None and incoming is not None and not stored.matches(incoming):
                    return False
            except (DecryptionError, SecretKeyError):
                return False  # unreadable: the new token replaces it
        return True

    def _authorization(self, row: Mapping[Any, Any]) -> Authorization:
        row_id = row["id"]
        return Authorization(
            id=row_id,
            application_id=row["application_id"],
            context_identifier=row["context_identifier"],
            company_name=row["company_name"],
            serial=row["serial"],
            webapi_url=row["webapi_url"],
            netserver_url=row["netserver_url"],
            approved_by=row["approved_by"],
            approved_by_associate_id=row["approved_by_associate_id"],
            approved_at=row["approved_at"],
            token_issued_at=row["token_issued_at"],
            status=row["status"],
            system_user_token=self._secret(
                authorizations, row_id, "system_user_token", row["system_user_token"]
            ),
            refresh_token=self._secret(
                authorizations, row_id, "refresh_token", row["refresh_token"]
            ),
            claims=json.loads(row["claims"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def get_authorization(self, application: str, context_identifier: str) -> Authorization:
        """The record for an application (name or id) in a tenant; NotFoundError if none."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            row = (
                connection.execute(
                    select(authorizations).where(
                        authorizations.c.application_id == app["id"],
                        authorizations.c.context_identifier == context_identifier,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(
                f"application {app['name']!r} has no authorization in {context_identifier!r}"
            )
        return self._authorization(row)

    def list_authorizations(
        self, application: str | None = None, *, status: str | None = None
    ) -> list[Authorization]:
        """Every record, or one application's (name or id), optionally with one status."""
        query = (
            select(authorizations)
            .join(applications, applications.c.id == authorizations.c.application_id)
            .order_by(applications.c.name, authorizations.c.context_identifier)
        )
        if status is not None:
            query = query.where(authorizations.c.status == status)
        with self._read() as connection:
            if application is not None:
                app = self._require_application(connection, application)
                query = query.where(authorizations.c.application_id == app["id"])
            rows = connection.execute(query).mappings().all()
        return [self._authorization(row) for row in rows]

    def set_authorization_status(
        self,
        application: str,
        context_identifier: str,
        status: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Authorization:
        """Mark a record active, revoked, needs_reconsent, suspended or deleted."""
        if status not in AUTHORIZATION_STATUSES:
            raise ConfigurationError(f"status must be one of {', '.join(AUTHORIZATION_STATUSES)}")
        with self._write() as connection:
            app = self._require_application(connection, application)
            condition = and_(
                authorizations.c.application_id == app["id"],
                authorizations.c.context_identifier == context_identifier,
            )
            row = (
                connection.execute(select(authorizations).where(condition).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                raise NotFoundError(
                    f"application {app['name']!r} has no authorization in {context_identifier!r}"
                )
            if row["status"] == status:
                return self._authorization(row)
            changes = {"status": status, "updated_at": self._now()}
            connection.execute(update(authorizations).where(condition).values(changes))
            dropped = False
            if status != "active":
                # A ticket of an authorization that no longer holds must not be used again.
                dropped = (
                    connection.execute(
                        delete(tickets).where(tickets.c.authorization_id == row["id"])
                    ).rowcount
                    > 0
                )
            if actor is not None:
                self._audit(
                    connection,
                    actor,
                    "authorization.status_changed",
                    application=app["name"],
                    context_identifier=context_identifier,
                    summary={
                        "from": row["status"],
                        "to": status,
                        "reason": reason,
                        **({"ticket_dropped": True} if dropped else {}),
                    },
                )
        return self._authorization({**row, **changes})

    # -- system user tickets --------------------------------------------------------------------

    def _stored_ticket(self, row: Mapping[Any, Any]) -> StoredTicket:
        key = row["authorization_id"]
        return StoredTicket(
            authorization_id=key,
            ticket=self._required_secret(tickets, key, "ticket", row["ticket"]),
            serial=row["serial"],
            webapi_url=row["webapi_url"],
            netserver_url=row["netserver_url"],
            obtained_at=row["obtained_at"],
            last_used_at=row["last_used_at"],
            expires_at=row["expires_at"],
        )

    def _ticket_row(self, connection: Connection, authorization_id: str) -> RowMapping | None:
        return (
            connection.execute(
                select(tickets)
                .where(tickets.c.authorization_id == authorization_id)
                .with_for_update()
            )
            .mappings()
            .first()
        )

    def _ensure_ticket_row(self, connection: Connection, authorization_id: str) -> RowMapping:
        """The tickets row of ``authorization_id``, created empty first if needed, locked."""
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        try:
            connection.execute(
                dialect.insert(tickets)
                .values(authorization_id=authorization_id)
                .on_conflict_do_nothing(index_elements=["authorization_id"])
            )
        except IntegrityError:  # the foreign key: no such authorization
            raise NotFoundError(f"no authorization {authorization_id!r}") from None
        row = self._ticket_row(connection, authorization_id)
        if row is None:  # pragma: no cover - inserted or already there, and locked
            raise StoreError("the ticket row vanished inside its own transaction")
        return row

    def _holds(self, row: Mapping[Any, Any], ticket: str) -> bool:
        """Does the row hold exactly ``ticket``? (A value that cannot be opened does not.)"""
        if row["ticket"] is None:
            return False
        try:
            return self._stored_ticket(row).ticket.matches(ticket)
        except (DecryptionError, SecretKeyError):
            return False

    def get_ticket(self, authorization_id: str) -> StoredTicket | None:
        """The stored ticket of an authorization (by id), or None when there is none."""
        with self._read() as connection:
            row = (
                connection.execute(
                    select(tickets).where(
                        tickets.c.authorization_id == authorization_id,
                        tickets.c.ticket.is_not(None),
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else self._stored_ticket(row)

    def put_ticket(
        self,
        authorization_id: str,
        *,
        ticket: str,
        obtained_at: datetime,
        expires_at: datetime,
        serial: str | None = None,
        webapi_url: str | None = None,
        netserver_url: str | None = None,
        last_used_at: datetime | None = None,
        lease_owner: str | None = None,
    ) -> StoredTicket:
        """Keep ``ticket`` (sealed) as the authorization's ticket, replacing any other.

        When ``lease_owner`` holds the renewal lease, it is released in the same transaction,
        so a process waiting for the lease finds the new ticket as soon as it may exchange.
        NotFoundError when the authorization does not exist.
        """
        if not ticket:
            raise StoreError("an empty ticket cannot be stored")
        values: dict[str, Any] = {
            "ticket": self._seal(tickets, authorization_id, "ticket", ticket),
            "serial": serial,
            "webapi_url": webapi_url,
            "netserver_url": netserver_url,
            "obtained_at": obtained_at,
            "last_used_at": last_used_at,
            "expires_at": expires_at,
        }
        with self._write() as connection:
            row = self._ensure_ticket_row(connection, authorization_id)
            changes = dict(values)
            if lease_owner is not None and row["lease_owner"] == lease_owner:
                changes.update(renewing_until=None, lease_owner=None)
            connection.execute(
                update(tickets)
                .where(tickets.c.authorization_id == authorization_id)
                .values(changes)
            )
        return self._stored_ticket({"authorization_id": authorization_id, **values})

    def touch_ticket(
        self, authorization_id: str, *, ticket: str, used_at: datetime, expires_at: datetime
    ) -> bool:
        """Record a use of ``ticket`` (sliding its window); False if it is no longer stored.

        Only moves forward: an older ``used_at`` than the stored one changes nothing.
        """
        with self._write() as connection:
            row = self._ticket_row(connection, authorization_id)
            if row is None or not self._holds(row, ticket):
                return False
            if row["last_used_at"] is not None and row["last_used_at"] >= used_at:
                return True
            connection.execute(
                update(tickets)
                .where(tickets.c.authorization_id == authorization_id)
                .values(last_used_at=used_at, expires_at=expires_at)
            )
        return True

    def delete_ticket(self, authorization_id: str, *, ticket: str | None = None) -> bool:
        """Forget the authorization's ticket; with ``ticket``, only if it is that very one.

        Returns whether a ticket was removed. A lease in progress is kept.
        """
        with self._write() as connection:
            row = self._ticket_row(connection, authorization_id)
            if row is None or row["ticket"] is None:
                return False
            if ticket is not None and not self._holds(row, ticket):
                try:
                    self._stored_ticket(row).ticket.reveal()
                except (DecryptionError, SecretKeyError):
                    pass  # unreadable: nobody can use it, so it goes
                else:
                    return False
            condition = tickets.c.authorization_id == authorization_id
            leased = row["renewing_until"] is not None and row["renewing_until"] > self._now()
            if leased:
                connection.execute(
                    update(tickets)
                    .where(condition)
                    .values(
                        ticket=None,
                        serial=None,
                        webapi_url=None,
                        netserver_url=None,
                        obtained_at=None,
                        last_used_at=None,
                        expires_at=None,
                    )
                )
            else:
                connection.execute(delete(tickets).where(condition))
        return True

    def acquire_ticket_lease(self, authorization_id: str, owner: str, *, ttl: timedelta) -> bool:
        """Take the right to exchange a new ticket for this authorization, for at most ``ttl``.

        Runs in a write transaction (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE``
        on PostgreSQL), so of several processes exactly one gets it. True when ``owner`` now
        holds the lease (also when it held it already: the expiry is extended); False while
        another owner's lease has not expired. An expired lease (a crashed holder) is taken
        over. NotFoundError when the authorization does not exist.
        """
        if not owner:
            raise StoreError("a lease needs an owner")
        if ttl <= timedelta(0):
            raise ConfigurationError("a lease ttl must be positive")
        with self._write() as connection:
            row = self._ensure_ticket_row(connection, authorization_id)
            now = self._now()
            holder, until = row["lease_owner"], row["renewing_until"]
            if holder is not None and holder != owner and until is not None and until > now:
                return False
            connection.execute(
                update(tickets)
                .where(tickets.c.authorization_id == authorization_id)
                .values(lease_owner=owner, renewing_until=now + ttl)
            )
        return True

    def release_ticket_lease(self, authorization_id: str, owner: str) -> bool:
        """Give the lease back; False when ``owner`` does not hold it (any more)."""
        with self._write() as connection:
            row = self._ticket_row(connection, authorization_id)
            if row is None or row["lease_owner"] != owner:
                return False
            condition = tickets.c.authorization_id == authorization_id
            if row["ticket"] is None:
                connection.execute(delete(tickets).where(condition))
            else:
                connection.execute(
                    update(tickets).where(condition).values(lease_owner=None, renewing_until=None)
                )
        return True

    def get_ticket_lease(self, authorization_id: str) -> TicketLease | None:
        """The lease in force for this authorization, or None (no lease, or it expired)."""
        with self._read() as connection:
            row = (
                connection.execute(
                    select(tickets.c.lease_owner, tickets.c.renewing_until).where(
                        tickets.c.authorization_id == authorization_id
                    )
                )
                .mappings()
                .first()
            )
        if row is None or row["lease_owner"] is None or row["renewing_until"] is None:
            return None
        if row["renewing_until"] <= self._now():
            return None
        return TicketLease(authorization_id, row["lease_owner"], row["renewing_until"])

    def count_tickets(self) -> int:
        """How many authorizations hold a stored ticket."""
        with self._read() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(tickets).where(tickets.c.ticket.is_not(None))
                ).scalar_one()
            )

    # -- pending sign-ins -----------------------------------------------------------------------

    def add_pending_sign_in(
        self,
        state: str,
        *,
        application_id: str,
        purpose: str,
        nonce: str,
        code_verifier: str,
        redirect_uri: str,
        return_to: str | None = None,
        ttl: timedelta = SIGN_IN_TTL,
    ) -> PendingSignIn:
        """Keep a started sign-in server-side under the hash of its ``state``."""
        if purpose not in SIGN_IN_PURPOSES:
            raise ConfigurationError(f"purpose must be one of {', '.join(SIGN_IN_PURPOSES)}")
        state_hash = hash_state(state)
        now = self._now()
        with self._write() as connection:
            app = self._require_application(connection, application_id)
            values = {
                "state_hash": state_hash,
                "application_id": app["id"],
                "purpose": purpose,
                "nonce": self._seal(pending_sign_ins, state_hash, "nonce", nonce),
                "code_verifier": self._seal(
                    pending_sign_ins, state_hash, "code_verifier", code_verifier
                ),
                "redirect_uri": redirect_uri,
                "return_to": return_to,
                "created_at": now,
                "expires_at": now + ttl,
            }
            try:
                connection.execute(insert(pending_sign_ins).values(values))
            except IntegrityError:
                raise ConflictError("this sign-in state is already in use") from None
        return self._pending(values)

    def _pending(self, row: Mapping[Any, Any]) -> PendingSignIn:
        key = row["state_hash"]
        return PendingSignIn(
            state_hash=key,
            application_id=row["application_id"],
            purpose=row["purpose"],
            nonce=self._required_secret(pending_sign_ins, key, "nonce", row["nonce"]),
            code_verifier=self._required_secret(
                pending_sign_ins, key, "code_verifier", row["code_verifier"]
            ),
            redirect_uri=row["redirect_uri"],
            return_to=row["return_to"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )

    def take_pending_sign_in(self, state: str) -> PendingSignIn:
        """Remove and return the sign-in started with ``state``: it can be taken once only.

        NotFoundError for an unknown or already taken state; ExpiredError (also removed) when it
        expired.
        """
        with self._write() as connection:
            row = (
                connection.execute(
                    delete(pending_sign_ins)
                    .where(pending_sign_ins.c.state_hash == hash_state(state))
                    .returning(*pending_sign_ins.c)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError("unknown, already used or purged sign-in state")
        if row["expires_at"] <= self._now():
            raise ExpiredError("the sign-in expired; start it again")
        return self._pending(row)

    def purge_expired_sign_ins(self) -> int:
        """Delete expired pending sign-ins; returns how many."""
        with self._write() as connection:
            result = connection.execute(
                delete(pending_sign_ins).where(pending_sign_ins.c.expires_at <= self._now())
            )
            return result.rowcount

    def peek_pending_sign_in(self, state: str) -> tuple[str, str] | None:
        """``(application_id, purpose)`` of the live sign-in started with ``state``, or None.

        Does not take it: a callback uses this to route to the flow that then takes it (once).
        """
        if not state:
            return None
        with self._read() as connection:
            row = connection.execute(
                select(
                    pending_sign_ins.c.application_id,
                    pending_sign_ins.c.purpose,
                    pending_sign_ins.c.expires_at,
                ).where(pending_sign_ins.c.state_hash == hash_state(state))
            ).first()
        if row is None or row.expires_at <= self._now():
            return None
        return str(row.application_id), str(row.purpose)

    # -- tenant states and state-change webhooks (protocol §6) ---------------------------------

    @staticmethod
    def _authorization_row(
        connection: Connection, application_id: str, context_identifier: str, *, lock: bool
    ) -> RowMapping | None:
        # Context identifiers match case-insensitively (protocol §1) [I].
        query = select(authorizations).where(
            authorizations.c.application_id == application_id,
            func.lower(authorizations.c.context_identifier) == context_identifier.lower(),
        )
        if lock:
            query = query.with_for_update()
        return connection.execute(query).mappings().first()

    @staticmethod
    def _tenant_state(
        row: Mapping[Any, Any], authorization: Mapping[Any, Any]
    ) -> TenantStateRecord:
        return TenantStateRecord(
            authorization_id=row["authorization_id"],
            application_id=authorization["application_id"],
            context_identifier=authorization["context_identifier"],
            state=row["state"],
            endpoint=row["endpoint"],
            api=row["api"],
            version=row["version"],
            valid_until=row["valid_until"],
            observed_at=row["observed_at"],
            checked_at=row["checked_at"],
            source=row["source"],
        )

    def get_tenant_state(
        self, application: str, context_identifier: str
    ) -> TenantStateRecord | None:
        """The tenant's last known state for this application (name or id), None if never known.

        NotFoundError when the application has no authorization in the tenant.
        """
        with self._read() as connection:
            app = self._require_application(connection, application)
            auth = self._authorization_row(connection, app["id"], context_identifier, lock=False)
            if auth is None:
                raise NotFoundError(
                    f"application {app['name']!r} has no authorization in {context_identifier!r}"
                )
            row = (
                connection.execute(
                    select(tenant_states).where(tenant_states.c.authorization_id == auth["id"])
                )
                .mappings()
                .first()
            )
        return None if row is None else self._tenant_state(row, auth)

    def list_tenant_states(self, application: str | None = None) -> list[TenantStateRecord]:
        """Every known tenant state (or one application's), by application and tenant."""
        query = (
            select(
                tenant_states,
                authorizations.c.application_id,
                authorizations.c.context_identifier,
            )
            .join(authorizations, authorizations.c.id == tenant_states.c.authorization_id)
            .join(applications, applications.c.id == authorizations.c.application_id)
            .order_by(applications.c.name, authorizations.c.context_identifier)
        )
        with self._read() as connection:
            if application is not None:
                app = self._require_application(connection, application)
                query = query.where(authorizations.c.application_id == app["id"])
            rows = connection.execute(query).mappings().all()
        return [self._tenant_state(row, row) for row in rows]

    def put_tenant_state(
        self,
        application: str,
        context_identifier: str,
        *,
        state: str | None,
        endpoint: str | None,
        api: str | None,
        version: str | None = None,
        valid_until: datetime | None = None,
        observed_at: datetime | None = None,
        source: str = "state-api",
        actor: str | None = None,
    ) -> tuple[TenantStateRecord, bool]:
        """Store what the state API (or another source) says about the tenant.

        ``observed_at`` (default now) is when the answer is from; an answer older than the one
        stored changes nothing. Returns the record now stored and whether it changed. A change
        of state or endpoint is audited when ``actor`` is given.
        """
        if source not in TENANT_STATE_SOURCES:
            raise ConfigurationError(f"source must be one of {', '.join(TENANT_STATE_SOURCES)}")
        now = self._now()
        observed = observed_at or now
        with self._write() as connection:
            app = self._require_application(connection, application)
            auth = self._authorization_row(connection, app["id"], context_identifier, lock=True)
            if auth is None:
                raise NotFoundError(
                    f"application {app['name']!r} has no authorization in {context_identifier!r}"
                )
            existing = (
                connection.execute(
                    select(tenant_states).where(tenant_states.c.authorization_id == auth["id"])
                )
                .mappings()
                .first()
            )
            if existing is not None and existing["observed_at"] > observed:
                return self._tenant_state(existing, auth), False
            values = {
                "state": state,
                "endpoint": endpoint,
                "api": api,
                "version": version,
                "valid_until": valid_until,
                "observed_at": observed,
                "checked_at": now,
                "source": source,
            }
            self._upsert_tenant_state(connection, auth["id"], existing, values)
            moved = existing is None or (
                existing["state"] != state or existing["endpoint"] != endpoint
            )
            if actor is not None and moved:
                self._audit(
                    connection,
                    actor,
                    "tenant.state_recorded",
                    application=app["name"],
                    context_identifier=auth["context_identifier"],
                    summary={
                        "source": source,
                        "from_state": None if existing is None else existing["state"],
                        "to_state": state,
                        "endpoint": endpoint,
                    },
                )
        return self._tenant_state({"authorization_id": auth["id"], **values}, auth), True

    @staticmethod
    def _upsert_tenant_state(
        connection: Connection,
        authorization_id: str,
        existing: Mapping[Any, Any] | None,
        values: Mapping[str, Any],
    ) -> None:
        if existing is None:
            connection.execute(
                insert(tenant_states).values(authorization_id=authorization_id, **values)
            )
        else:
            connection.execute(
                update(tenant_states)
                .where(tenant_states.c.authorization_id == authorization_id)
                .values(**values)
            )

    def apply_state_change(
        self,
        application: str,
        context_identifier: str,
        *,
        change_type: str,
        issued_at: datetime | None,
        fingerprint: str | None,
        version_name: str | None = None,
        file_version: str | None = None,
        public_endpoint: str | None = None,
        state: str | None = None,
        endpoint: str | None = None,
        api: str | None = None,
        status: str | None = None,
        status_from: frozenset[str] = frozenset(),
        actor: str = "webhook",
    ) -> StateChange:
        """Apply one validated state-change webhook to the tenant's record, idempotently.

        In one transaction: a notification whose ``fingerprint`` was applied before is a
        ``duplicate`` (nothing changes); one older (``issued_at``) than the state known is
        ``stale``; otherwise ``state`` / ``endpoint`` / ``api`` / ``version_name`` (those given)
        become the tenant's state (source ``webhook``) and, when ``status`` is given and the
        authorization's status is one of ``status_from``, the authorization takes ``status``
        (leaving ``active`` drops its ticket). A notification that changes nothing is a
        ``duplicate`` too. Every outcome is recorded in the history; a change is audited.
        NotFoundError when the application has no authorization in the tenant.
        """
        if status is not None and status not in AUTHORIZATION_STATUSES:
            raise ConfigurationError(f"status must be one of {', '.join(AUTHORIZATION_STATUSES)}")
        now = self._now()
        history: dict[str, Any] = {
            "received_at": now,
            "change_type": change_type,
            "version_name": version_name,
            "file_version": file_version,
            "public_endpoint": public_endpoint,
            "issued_at": issued_at,
            "fingerprint": fingerprint,
        }
        with self._write() as connection:
            app = self._require_application(connection, application)
            auth = self._authorization_row(connection, app["id"], context_identifier, lock=True)
            if auth is None:
                raise NotFoundError(
                    f"application {app['name']!r} has no authorization in {context_identifier!r}"
                )
            history["application_id"] = app["id"]
            history["context_identifier"] = auth["context_identifier"]
            existing = (
                connection.execute(
                    select(tenant_states).where(tenant_states.c.authorization_id == auth["id"])
                )
                .mappings()
                .first()
            )
            seen = fingerprint is not None and (
                connection.execute(
                    select(state_changes.c.id)
                    .where(
                        state_changes.c.application_id == app["id"],
                        state_changes.c.fingerprint == fingerprint,
                        state_changes.c.outcome != StateChangeOutcome.REJECTED.value,
                    )
                    .limit(1)
                ).first()
                is not None
            )
            if seen:
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.DUPLICATE, "redelivered"
                )
            if (
                existing is not None
                and issued_at is not None
                and existing["observed_at"] > issued_at
            ):
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.STALE, "older"
                )
            current: dict[str, Any] = dict(existing) if existing is not None else {}
            values = {
                "state": state if state is not None else current.get("state"),
                "endpoint": endpoint if endpoint is not None else current.get("endpoint"),
                "api": api if api is not None else current.get("api"),
                "version": version_name if version_name is not None else current.get("version"),
            }
            new_status = auth["status"]
            if status is not None and auth["status"] in status_from:
                new_status = status
            changed = new_status != auth["status"] or any(
                current.get(name) != value for name, value in values.items()
            )
            if not changed:
                return self._insert_state_change(
                    connection, app["name"], history, StateChangeOutcome.DUPLICATE, "no_change"
                )
            self._upsert_tenant_state(
                connection,
                auth["id"],
                existing,
                {
                    **values,
                    # A pushed change makes a pulled ValidUntil meaningless.
                    "valid_until": None,
                    "observed_at": issued_at or now,
                    "checked_at": now,
                    "source": "webhook",
                },
            )
            ticket_dropped = False
            if new_status != auth["status"]:
                connection.execute(
                    update(authorizations)
                    .where(authorizations.c.id == auth["id"])
                    .values(status=new_status, updated_at=now)
                )
                if new_status != "active":
                    ticket_dropped = (
                        connection.execute(
                            delete(tickets).where(tickets.c.authorization_id == auth["id"])
                        ).rowcount
                        > 0
                    )
            self._audit(
                connection,
                actor,
                "tenant.state_changed",
                application=app["name"],
                context_identifier=auth["context_identifier"],
                summary={
                    "change_type": change_type,
                    "from_state": current.get("state"),
                    "to_state": values["state"],
                    "endpoint": values["endpoint"],
                    "version": values["version"],
                    "from_status": auth["status"],
                    "to_status": new_status,
                    **({"ticket_dropped": True} if ticket_dropped else {}),
                },
            )
            return self._insert_state_change(
                connection, app["name"], history, StateChangeOutcome.APPLIED, None
            )

    def record_state_change(
        self,
        application: str,
        *,
        outcome: StateChangeOutcome | str,
        reason: str | None,
        context_identifier: str | None = None,
        change_type: str | None = None,
        version_name: str | None = None,
        file_version: str | None = None,
        public_endpoint: str | None = None,
        issued_at: datetime | None = None,
        fingerprint: str | None = None,
        actor: str = "webhook",
    ) -> StateChange:
        """Record a webhook that changed nothing (normally ``rejected``, with its reason)."""
        outcome = StateChangeOutcome(outcome)
        with self._write() as connection:
            app = self._require_application(connection, application)
            history = {
                "received_at": self._now(),
                "application_id": app["id"],
                "context_identifier": context_identifier,
                "change_type": change_type,
                "version_name": version_name,
                "file_version": file_version,
                "public_endpoint": public_endpoint,
                "issued_at": issued_at,
                "fingerprint": fingerprint,
            }
            if outcome is StateChangeOutcome.REJECTED:
                self._audit(
                    connection,
                    actor,
                    "tenant.state_change_rejected",
                    application=app["name"],
                    context_identifier=context_identifier,
                    summary={"change_type": change_type, "reason": reason},
                )
            return self._insert_state_change(connection, app["name"], history, outcome, reason)

    def _insert_state_change(
        self,
        connection: Connection,
        application_name: str,
        history: Mapping[str, Any],
        outcome: StateChangeOutcome,
        reason: str | None,
    ) -> StateChange:
        values = {**history, "outcome": outcome.value, "reason": reason}
        row_id = connection.execute(
            insert(state_changes).values(values).returning(state_changes.c.id)
        ).scalar_one()
        return self._state_change({**values, "id": row_id}, application_name)

    @staticmethod
    def _state_change(row: Mapping[Any, Any], application_name: str | None) -> StateChange:
        return StateChange(
            id=row["id"],
            received_at=row["received_at"],
            application_id=row["application_id"],
            application=application_name,
            context_identifier=row["context_identifier"],
            change_type=row["change_type"],
            version_name=row["version_name"],
            file_version=row["file_version"],
            public_endpoint=row["public_endpoint"],
            issued_at=row["issued_at"],
            outcome=StateChangeOutcome(row["outcome"]),
            reason=row["reason"],
        )

    def list_state_changes(
        self,
        *,
        application: str | None = None,
        context_identifier: str | None = None,
        limit: int = DEFAULT_AUDIT_LIMIT,
    ) -> list[StateChange]:
        """The webhook history, newest first; ``application`` is a name or id."""
        query = (
            select(state_changes, applications.c.name.label("application_name"))
            .join(applications, applications.c.id == state_changes.c.application_id)
            .order_by(state_changes.c.received_at.desc(), state_changes.c.id.desc())
        )
        if context_identifier is not None:
            query = query.where(
                func.lower(state_changes.c.context_identifier) == context_identifier.lower()
            )
        with self._read() as connection:
            if application is not None:
                app = self._require_application(connection, application)
                query = query.where(state_changes.c.application_id == app["id"])
            rows = connection.execute(query.limit(limit)).mappings().all()
        return [self._state_change(row, row["application_name"]) for row in rows]

    # -- user sessions (normal user context) ----------------------------------------------------

    def _user_session(self, row: Mapping[Any, Any]) -> UserSession:
        key = row["id_hash"]
        return UserSession(
            id_hash=key,
            application_id=row["application_id"],
            context_identifier=row["context_identifier"],
            user=row["user"],
            associate_id=row["associate_id"],
            access_token=self._required_secret(
                user_sessions, key, "access_token", row["access_token"]
            ),
            refresh_token=self._secret(user_sessions, key, "refresh_token", row["refresh_token"]),
            csrf_token=self._required_secret(user_sessions, key, "csrf_token", row["csrf_token"]),
            access_expires_at=row["access_expires_at"],
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
            expires_at=row["expires_at"],
        )

    def add_user_session(
        self,
        session_id: str,
        *,
        application_id: str,
        context_identifier: str,
        user: str,
        access_token: str,
        csrf_token: str,
        ttl: timedelta,
        refresh_token: str | None = None,
        access_expires_at: datetime | None = None,
        associate_id: int | None = None,
    ) -> UserSession:
        """Keep a signed-in user's tokens (sealed) under the hash of the session id."""
        if not session_id or not access_token or not csrf_token:
            raise ConfigurationError("a user session needs an id, an access token and a CSRF token")
        if ttl <= timedelta(0):
            raise ConfigurationError("a user session needs a positive ttl")
        id_hash = hash_state(session_id)
        now = self._now()
        with self._write() as connection:
            app = self._require_application(connection, application_id)
            values = {
                "id_hash": id_hash,
                "application_id": app["id"],
                "context_identifier": context_identifier,
                "user": user,
                "associate_id": associate_id,
                "access_token": self._seal(user_sessions, id_hash, "access_token", access_token),
                "refresh_token": self._seal(user_sessions, id_hash, "refresh_token", refresh_token),
                "csrf_token": self._seal(user_sessions, id_hash, "csrf_token", csrf_token),
                "access_expires_at": access_expires_at,
                "created_at": now,
                "last_seen_at": now,
                "expires_at": now + ttl,
            }
            try:
                connection.execute(insert(user_sessions).values(values))
            except IntegrityError:
                raise ConflictError("this session id is already in use") from None
        return self._user_session(values)

    def get_user_session(self, session_id: str) -> UserSession:
        """The live session with this id. NotFoundError if unknown; ExpiredError (and removed)
        if it expired."""
        if not session_id:
            raise NotFoundError("no session id")
        id_hash = hash_state(session_id)
        with self._read() as connection:
            row = (
                connection.execute(select(user_sessions).where(user_sessions.c.id_hash == id_hash))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError("unknown or ended session")
        if row["expires_at"] <= self._now():
            self.delete_user_session(session_id)
            raise ExpiredError("the session expired; sign in again")
        return self._user_session(row)

    def update_user_session_tokens(
        self,
        session_id: str,
        *,
        access_token: str,
        refresh_token: str | None,
        access_expires_at: datetime | None,
    ) -> bool:
        """Store refreshed tokens in the session; False when the session is gone."""
        id_hash = hash_state(session_id)
        with self._write() as connection:
            result = connection.execute(
                update(user_sessions)
                .where(user_sessions.c.id_hash == id_hash)
                .values(
                    access_token=self._seal(user_sessions, id_hash, "access_token", access_token),
                    refresh_token=self._seal(
                        user_sessions, id_hash, "refresh_token", refresh_token
                    ),
                    access_expires_at=access_expires_at,
                    last_seen_at=self._now(),
                )
            )
            return result.rowcount > 0

    def delete_user_session(self, session_id: str) -> bool:
        """End a session (sign-out); False when there was none."""
        with self._write() as connection:
            result = connection.execute(
                delete(user_sessions).where(user_sessions.c.id_hash == hash_state(session_id))
            )
            return result.rowcount > 0

    def purge_expired_user_sessions(self) -> int:
        """Delete expired sessions; returns how many."""
        with self._write() as connection:
            result = connection.execute(
                delete(user_sessions).where(user_sessions.c.expires_at <= self._now())
            )
            return result.rowcount

    # -- user options (normal user context) -----------------------------------------------------

    def get_user_options(
        self, application: str, context_identifier: str, user: str
    ) -> dict[str, Any]:
        """One user's own options in one tenant for one application."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            rows = connection.execute(
                select(user_options.c.key, user_options.c.value).where(
                    user_options.c.application_id == app["id"],
                    user_options.c.context_identifier == context_identifier,
                    user_options.c.user == user,
                )
            ).all()
        return {key: json.loads(value) for key, value in rows}

    def set_user_option(
        self, application: str, context_identifier: str, user: str, key: str, value: Any
    ) -> None:
        """Save one option (any JSON value) for one user; options are not secrets."""
        _refuse_secrets({key: value}, what="user option")
        text = _json(value)
        with self._write() as connection:
            app = self._require_application(connection, application)
            values = {
                "application_id": app["id"],
                "context_identifier": context_identifier,
                "user": user,
                "key": key,
                "value": text,
                "updated_at": self._now(),
            }
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(user_options).values(values)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["application_id", "context_identifier", "user", "key"],
                    set_={"value": text, "updated_at": values["updated_at"]},
                )
            )

    # -- audit ----------------------------------------------------------------------------------

    def record_audit(
        self,
        actor: str,
        action: str,
        *,
        application: str | None = None,
        context_identifier: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Record an event; ``summary`` must be redacted already (secret-looking keys refused)."""
        with self._write() as connection:
            return self._audit(
                connection,
                actor,
                action,
                application=application,
                context_identifier=context_identifier,
                summary=summary or {},
            )

    def list_audit(
        self,
        *,
        application: str | None = None,
        context_identifier: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_AUDIT_LIMIT,
        actor: str | None = None,
        action: str | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Events, newest first; ``application`` is the application's name. ``since`` is
        inclusive, ``until`` exclusive; ``action`` ending in ``.`` matches a prefix."""
        query = select(audit_events).order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        if application is not None:
            query = query.where(audit_events.c.application == application)
        if context_identifier is not None:
            query = query.where(audit_events.c.context_identifier == context_identifier)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if until is not None:
            query = query.where(audit_events.c.at < until)
        if actor is not None:
            query = query.where(audit_events.c.actor == actor)
        if action is not None and action.endswith("."):
            query = query.where(audit_events.c.action.startswith(action, autoescape=True))
        elif action is not None:
            query = query.where(audit_events.c.action == action)
        with self._read() as connection:
            rows = connection.execute(query.limit(limit)).mappings().all()
        return [
            AuditEvent(
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                action=row["action"],
                application=row["application"],
                context_identifier=row["context_identifier"],
                summary=json.loads(row["summary"]),
            )
            for row in rows
        ]

    # -- provisioning (0004) --------------------------------------------------------------------

    def get_application_manifest(self, application: str) -> str | None:
        """The application's provisioning manifest (TOML text), or None when it has none."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            value = connection.execute(
                select(applications.c.manifest).where(applications.c.id == app["id"])
            ).scalar_one_or_none()
        return value if isinstance(value, str) else None

    def set_application_manifest(
        self, application: str, manifest: str | None, *, actor: str | None = None
    ) -> None:
        """Keep (or with None, remove) the application's manifest text; validate it first."""
        with self._write() as connection:
            app = self._require_application(connection, application)
            connection.execute(
                update(applications)
                .where(applications.c.id == app["id"])
                .values(manifest=manifest, updated_at=self._now())
            )
            if actor is not None:
                digest = (
                    None
                    if manifest is None
                    else hashlib.sha256(manifest.encode("utf-8")).hexdigest()[:16]
                )
                self._audit(
                    connection,
                    actor,
                    "application.manifest_set"
                    if manifest is not None
                    else "application.manifest_removed",
                    application=app["name"],
                    context_identifier=None,
                    summary={"sha256": digest},
                )

    def acquire_provisioning_lock(
        self, application: str, context_identifier: str, owner: str, *, ttl: timedelta
    ) -> ProvisioningLock | None:
        """Take (or, for the same ``owner``, extend) the apply lock of an application x tenant.

        Of several processes exactly one gets it (a write transaction, ``FOR UPDATE``). Returns
        the lock held now, or None while another owner's lock has not expired; an expired lock
        (a crashed holder) is taken over.
        """
        if not owner:
            raise StoreError("a lock needs an owner")
        if ttl <= timedelta(0):
            raise ConfigurationError("a lock ttl must be positive")
        with self._write() as connection:
            app = self._require_application(connection, application)
            condition = and_(
                provisioning_locks.c.application_id == app["id"],
                provisioning_locks.c.context_identifier == context_identifier,
            )
            row = (
                connection.execute(select(provisioning_locks).where(condition).with_for_update())
                .mappings()
                .first()
            )
            now = self._now()
            if row is None:
                values = {
                    "application_id": app["id"],
                    "context_identifier": context_identifier,
                    "owner": owner,
                    "locked_until": now + ttl,
                    "acquired_at": now,
                }
                try:
                    with connection.begin_nested():
                        connection.execute(insert(provisioning_locks).values(values))
                except IntegrityError:  # PostgreSQL: a concurrent first taker won
                    return None
                return ProvisioningLock(**values)
            if row["owner"] != owner and row["locked_until"] > now:
                return None
            acquired = row["acquired_at"] if row["owner"] == owner else now
            connection.execute(
                update(provisioning_locks)
                .where(condition)
                .values(owner=owner, locked_until=now + ttl, acquired_at=acquired)
            )
            return ProvisioningLock(app["id"], context_identifier, owner, now + ttl, acquired)

    def release_provisioning_lock(
        self, application: str, context_identifier: str, owner: str
    ) -> bool:
        """Give the lock back; False when ``owner`` does not hold it (any more)."""
        with self._write() as connection:
            app = self._require_application(connection, application)
            result = connection.execute(
                delete(provisioning_locks).where(
                    provisioning_locks.c.application_id == app["id"],
                    provisioning_locks.c.context_identifier == context_identifier,
                    provisioning_locks.c.owner == owner,
                )
            )
            return result.rowcount > 0

    def get_provisioning_lock(
        self, application: str, context_identifier: str
    ) -> ProvisioningLock | None:
        """The lock in force for an application x tenant, or None (none, or it expired)."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            row = (
                connection.execute(
                    select(provisioning_locks).where(
                        provisioning_locks.c.application_id == app["id"],
                        provisioning_locks.c.context_identifier == context_identifier,
                    )
                )
                .mappings()
                .first()
            )
        if row is None or row["locked_until"] <= self._now():
            return None
        return ProvisioningLock(**dict(row))

    def start_provisioning_run(
        self,
        application: str,
        context_identifier: str,
        *,
        operation: str,
        actor: str,
        plan: Mapping[str, Any],
        fingerprint: str | None,
        steps_total: int,
    ) -> ProvisioningRun:
        """Record a run that starts now (outcome ``running``) with the plan it performs."""
        _refuse_secrets(dict(plan), what="provisioning plan")
        text = _json(dict(plan))
        with self._write() as connection:
            app = self._require_application(connection, application)
            values = {
                "id": str(uuid.uuid4()),
                "application_id": app["id"],
                "context_identifier": context_identifier,
                "operation": operation,
                "actor": actor,
                "outcome": "running",
                "fingerprint": fingerprint,
                "plan": text,
                "steps_total": steps_total,
                "error": None,
                "started_at": self._now(),
                "finished_at": None,
            }
            connection.execute(insert(provisioning_runs).values(values))
        return self._run({**values, "application": app["name"]})

    def record_provisioning_step(
        self,
        run_id: str,
        position: int,
        *,
        action: str,
        kind: str,
        key: str,
        outcome: str,
        remote_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> ProvisioningStepRecord:
        """Record one step of a run as it completes (``done`` / ``adopted`` / ``failed``)."""
        if outcome not in STEP_OUTCOMES:
            raise ConfigurationError(f"outcome must be one of {', '.join(STEP_OUTCOMES)}")
        _refuse_secrets(dict(detail or {}), what="provisioning step")
        values = {
            "run_id": run_id,
            "position": position,
            "action": action,
            "kind": kind,
            "key": key,
            "outcome": outcome,
            "remote_id": remote_id,
            "detail": _json(dict(detail or {})),
            "at": self._now(),
        }
        with self._write() as connection:
            try:
                connection.execute(insert(provisioning_steps).values(values))
            except IntegrityError:
                raise ConflictError(
                    f"step {position} of run {run_id} is already recorded"
                ) from None
        return self._step(values)

    def finish_provisioning_run(
        self, run_id: str, outcome: str, *, error: str | None = None
    ) -> ProvisioningRun:
        """End a run: ``succeeded``, ``failed`` or ``partial``, with an error text (redacted)."""
        if outcome not in RUN_OUTCOMES or outcome == "running":
            raise ConfigurationError("a run finishes succeeded, failed or partial")
        with self._write() as connection:
            result = connection.execute(
                update(provisioning_runs)
                .where(provisioning_runs.c.id == run_id)
                .values(outcome=outcome, error=error, finished_at=self._now())
            )
            if result.rowcount == 0:
                raise NotFoundError(f"no provisioning run {run_id!r}")
        return self.get_provisioning_run(run_id)

    def _run(
        self, row: Mapping[Any, Any], steps: tuple[ProvisioningStepRecord, ...] = ()
    ) -> ProvisioningRun:
        return ProvisioningRun(
            id=row["id"],
            application_id=row["application_id"],
            application=row["application"],
            context_identifier=row["context_identifier"],
            operation=row["operation"],
            actor=row["actor"],
            outcome=row["outcome"],
            fingerprint=row["fingerprint"],
            plan=json.loads(row["plan"]),
            steps_total=row["steps_total"],
            error=row["error"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            steps=steps,
        )

    @staticmethod
    def _step(row: Mapping[Any, Any]) -> ProvisioningStepRecord:
        return ProvisioningStepRecord(
            run_id=row["run_id"],
            position=row["position"],
            action=row["action"],
            kind=row["kind"],
            key=row["key"],
            outcome=row["outcome"],
            remote_id=row["remote_id"],
            detail=json.loads(row["detail"] or "{}"),
            at=row["at"],
        )

    def _runs_query(self) -> Any:
        return select(*provisioning_runs.c, applications.c.name.label("application")).join(
            applications, applications.c.id == provisioning_runs.c.application_id
        )

    def get_provisioning_run(self, run_id: str) -> ProvisioningRun:
        """One run with its recorded steps; NotFoundError if there is none."""
        with self._read() as connection:
            row = (
                connection.execute(self._runs_query().where(provisioning_runs.c.id == run_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFoundError(f"no provisioning run {run_id!r}")
            steps = (
                connection.execute(
                    select(provisioning_steps)
                    .where(provisioning_steps.c.run_id == run_id)
                    .order_by(provisioning_steps.c.position)
                )
                .mappings()
                .all()
            )
        return self._run(row, tuple(self._step(step) for step in steps))

    def list_provisioning_runs(
        self,
        application: str | None = None,
        context_identifier: str | None = None,
        *,
        outcome: str | None = None,
        limit: int = DEFAULT_AUDIT_LIMIT,
    ) -> list[ProvisioningRun]:
        """Runs, newest first (without their steps: see :meth:`get_provisioning_run`)."""
        query = self._runs_query().order_by(
            provisioning_runs.c.started_at.desc(), provisioning_runs.c.id
        )
        if context_identifier is not None:
            query = query.where(provisioning_runs.c.context_identifier == context_identifier)
        if outcome is not None:
            query = query.where(provisioning_runs.c.outcome == outcome)
        with self._read() as connection:
            if application is not None:
                app = self._require_application(connection, application)
                query = query.where(provisioning_runs.c.application_id == app["id"])
            rows = connection.execute(query.limit(limit)).mappings().all()
        return [self._run(row) for row in rows]

    def put_provisioned_object(
        self,
        application: str,
        context_identifier: str,
        *,
        kind: str,
        name: str,
        list_name: str | None = None,
        state: str = "owned",
        remote_id: int | None = None,
        run_id: str | None = None,
    ) -> ProvisionedObject:
        """Record that the application created (``owned``) or is creating (``pending``) a list
        or list item in the tenant; keyed by casefolded names."""
        if kind not in PROVISIONED_KINDS:
            raise ConfigurationError(f"kind must be one of {', '.join(PROVISIONED_KINDS)}")
        if state not in OWNERSHIP_STATES:
            raise ConfigurationError(f"state must be one of {', '.join(OWNERSHIP_STATES)}")
        if kind == "list_item" and not list_name:
            raise ConfigurationError("a list item needs its list's name")
        with self._write() as connection:
            app = self._require_application(connection, application)
            values = {
                "application_id": app["id"],
                "context_identifier": context_identifier,
                "kind": kind,
                "list_key": (list_name or "").casefold() if kind == "list_item" else "",
                "key": name.casefold(),
                "list_name": list_name if kind == "list_item" else None,
                "name": name,
                "remote_id": remote_id,
                "state": state,
                "run_id": run_id,
                "updated_at": self._now(),
            }
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            changes = {k: values[k] for k in ("name", "list_name", "remote_id", "state", "run_id")}
            connection.execute(
                dialect.insert(provisioned_objects)
                .values(values)
                .on_conflict_do_update(
                    index_elements=[
                        "application_id",
                        "context_identifier",
                        "kind",
                        "list_key",
                        "key",
                    ],
                    set_={**changes, "updated_at": values["updated_at"]},
                )
            )
        return self._provisioned(values)

    def delete_provisioned_object(
        self,
        application: str,
        context_identifier: str,
        *,
        kind: str,
        name: str,
        list_name: str | None = None,
    ) -> bool:
        """Forget an owned list (with its items' records) or list item; True if one was there."""
        with self._write() as connection:
            app = self._require_application(connection, application)
            scope = and_(
                provisioned_objects.c.application_id == app["id"],
                provisioned_objects.c.context_identifier == context_identifier,
            )
            if kind == "list":
                key = name.casefold()
                connection.execute(
                    delete(provisioned_objects).where(
                        scope,
                        provisioned_objects.c.kind == "list_item",
                        provisioned_objects.c.list_key == key,
                    )
                )
                condition = and_(
                    provisioned_objects.c.kind == "list",
                    provisioned_objects.c.list_key == "",
                    provisioned_objects.c.key == key,
                )
            else:
                condition = and_(
                    provisioned_objects.c.kind == kind,
                    provisioned_objects.c.list_key == (list_name or "").casefold(),
                    provisioned_objects.c.key == name.casefold(),
                )
            result = connection.execute(delete(provisioned_objects).where(scope, condition))
            return result.rowcount > 0

    def list_provisioned_objects(
        self, application: str, context_identifier: str
    ) -> list[ProvisionedObject]:
        """Every list and list item the application created (or is creating) in the tenant."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            rows = (
                connection.execute(
                    select(provisioned_objects)
                    .where(
                        provisioned_objects.c.application_id == app["id"],
                        provisioned_objects.c.context_identifier == context_identifier,
                    )
                    .order_by(
                        provisioned_objects.c.kind,
                        provisioned_objects.c.list_key,
                        provisioned_objects.c.key,
                    )
                )
                .mappings()
                .all()
            )
        return [self._provisioned(row) for row in rows]

    @staticmethod
    def _provisioned(row: Mapping[Any, Any]) -> ProvisionedObject:
        return ProvisionedObject(
            application_id=row["application_id"],
            context_identifier=row["context_identifier"],
            kind=row["kind"],
            list_name=row["list_name"],
            name=row["name"],
            remote_id=row["remote_id"],
            state=row["state"],
            run_id=row["run_id"],
            updated_at=row["updated_at"],
        )

    # -- secrets maintenance --------------------------------------------------------------------

    def rotate_secrets(
        self,
        *,
        batch_size: int = ROTATION_BATCH_SIZE,
        on_batch: Callable[[str, int], None] | None = None,
        actor: str | None = None,
    ) -> RotationReport:
        """Re-encrypt every stored secret not sealed with the current key.

        Works in batches of ``batch_size`` rows, each its own transaction, so it can be
        interrupted and run again: already rotated values are skipped. ``on_batch(table, n)``
        is called after each committed batch. Values that cannot be decrypted are left as they
        are and counted as unreadable (see :meth:`verify_secrets`).
        """
        current = self._box.keyring.current_kid
        prefix = f"{FORMAT_VERSION}:{current}:"
        rotated = unreadable = batches = 0
        for target in _TARGETS:
            table = target.table
            key_column = table.c[target.key]
            stale = or_(
                *(
                    and_(
                        table.c[name].is_not(None),
                        func.substr(table.c[name], 1, len(prefix)) != prefix,
                    )
                    for name in target.columns
                )
            )
            after = ""
            while True:
                count = 0
                with self._write() as connection:
                    rows = (
                        connection.execute(
                            select(key_column, *(table.c[name] for name in target.columns))
                            .where(target.where, stale, key_column > after)
                            .order_by(key_column)
                            .limit(batch_size)
                            .with_for_update()
                        )
                        .mappings()
                        .all()
                    )
                    if not rows:
                        break
                    for row in rows:
                        row_id = row[target.key]
                        changes: dict[str, str] = {}
                        for name in target.columns:
                            value = row[name]
                            if value is None or value.startswith(prefix):
                                continue
                            aad = associated_data(table.name, row_id, name)
                            try:
                                plaintext = self._box.decrypt(value, aad=aad)
                            except (DecryptionError, SecretKeyError):
                                unreadable += 1
                                continue
                            changes[name] = self._box.encrypt(plaintext, aad=aad)
                        if changes:
                            connection.execute(
                                update(table).where(key_column == row_id).values(changes)
                            )
                            count += len(changes)
                    after = rows[-1][target.key]
                rotated += count
                batches += 1
                if on_batch is not None:
                    on_batch(table.name, count)
        report = RotationReport(
            current_kid=current, rotated=rotated, unreadable=unreadable, batches=batches
        )
        if actor is not None:
            # Key ids and counts only: which key the store is sealed with now, never a key.
            self.record_audit(
                actor,
                "secrets.rotated",
                summary={
                    "current_kid": current,
                    "rotated": rotated,
                    "unreadable": unreadable,
                    "batches": batches,
                },
            )
        return report

    def verify_secrets(self, *, batch_size: int = VERIFY_BATCH_SIZE) -> list[UnreadableSecret]:
        """Every stored secret the key ring cannot decrypt, with the reason (never the value)."""
        found: list[UnreadableSecret] = []
        for target in _TARGETS:
            table = target.table
            key_column = table.c[target.key]
            after = ""
            while True:
                with self._read() as connection:
                    rows = (
                        connection.execute(
                            select(key_column, *(table.c[name] for name in target.columns))
                            .where(target.where, key_column > after)
                            .order_by(key_column)
                            .limit(batch_size)
                        )
                        .mappings()
                        .all()
                    )
                if not rows:
                    break
                for row in rows:
                    found.extend(self._check_row(table, row[target.key], row, target.columns))
                after = rows[-1][target.key]
        return found

    def _check_row(
        self, table: Table, row_id: str, row: Mapping[Any, Any], columns: Sequence[str]
    ) -> Iterator[UnreadableSecret]:
        for name in columns:
            value = row[name]
            if value is None:
                continue
            kid: str | None = None
            try:
                kid = kid_of(value)
                self._box.decrypt(value, aad=associated_data(table.name, row_id, name))
            except SecretKeyError:
                yield UnreadableSecret(table.name, row_id, name, kid, "key not in the key ring")
            except DecryptionError:
                reason = "not a sealed value" if kid is None else "authentication failed"
                yield UnreadableSecret(table.name, row_id, name, kid, reason)
