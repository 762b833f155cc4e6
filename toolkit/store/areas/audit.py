"""Audit events: recording one on its own, and reading them back with filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from toolkit.store.areas.base import RepositoryBase, audit_event
from toolkit.store.areas.common import DEFAULT_AUDIT_LIMIT
from toolkit.store.records import AuditEvent
from toolkit.store.schema import audit_events

__all__ = ["Audit"]


class Audit(RepositoryBase):
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
        return [audit_event(row) for row in rows]
