"""Applications: registration, lookup and the provisioning manifest each one may carry."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from toolkit.config import ENVIRONMENT_ALIASES, require_secure_url
from toolkit.errors import ConfigurationError, ConflictError
from toolkit.store.areas.base import (
    APPLICATION_BY_NAME_OR_ID,
    RepositoryBase,
    from_row,
    matched_application,
)
from toolkit.store.areas.common import require_choice
from toolkit.store.records import Application
from toolkit.store.schema import APPLICATION_KINDS, APPLICATION_MODELS, ENVIRONMENTS, applications

__all__ = ["Applications"]

_MANIFESTS = select(applications.c.id, applications.c.manifest).where(APPLICATION_BY_NAME_OR_ID)


class Applications(RepositoryBase):
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
        require_choice("kind", kind, APPLICATION_KINDS)
        require_choice("model", model, APPLICATION_MODELS)
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
        row_id = row["id"]
        return from_row(
            Application,
            row,
            client_secret=self._required_secret(
                applications, row_id, "client_secret", row["client_secret"]
            ),
            private_key=self._secret(applications, row_id, "private_key", row["private_key"]),
        )

    def get_application(self, name_or_id: str) -> Application:
        """The application with this name or id; NotFoundError if there is none."""
        with self._read() as connection:
            return self._application(self._require_application(connection, name_or_id))

    def list_applications(self) -> list[Application]:
        with self._read() as connection:
            rows = connection.execute(select(applications).order_by(applications.c.name))
            return [self._application(row) for row in rows.mappings()]

    def get_application_manifest(self, application: str) -> str | None:
        """The application's provisioning manifest (TOML text), or None when it has none."""
        with self._read() as connection:  # one statement: a plan reads it for every tenant
            rows = connection.execute(_MANIFESTS, {"application": application}).mappings().all()
        value = matched_application(rows, application)["manifest"]
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
