"""User sessions (normal user context): a signed-in user's sealed tokens, by session id hash."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from toolkit.errors import ConfigurationError, ExpiredError, NotFoundError
from toolkit.store.areas.base import RepositoryBase, from_row, insert_new
from toolkit.store.areas.common import hash_state
from toolkit.store.records import UserSession
from toolkit.store.schema import user_sessions

__all__ = ["UserSessions"]


class UserSessions(RepositoryBase):
    def _user_session(self, row: Mapping[Any, Any]) -> UserSession:
        key = row["id_hash"]
        return from_row(
            UserSession,
            row,
            access_token=self._required_secret(
                user_sessions, key, "access_token", row["access_token"]
            ),
            refresh_token=self._secret(user_sessions, key, "refresh_token", row["refresh_token"]),
            csrf_token=self._required_secret(user_sessions, key, "csrf_token", row["csrf_token"]),
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
            insert_new(
                connection, user_sessions, values, conflict="this session id is already in use"
            )
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
