"""Pending sign-ins: a started OAuth sign-in kept server-side under the hash of its state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from toolkit.errors import ExpiredError, NotFoundError
from toolkit.store.areas.base import RepositoryBase, from_row, insert_new
from toolkit.store.areas.common import SIGN_IN_TTL, hash_state, require_choice
from toolkit.store.records import PendingSignIn
from toolkit.store.schema import SIGN_IN_PURPOSES, pending_sign_ins

__all__ = ["PendingSignIns"]


class PendingSignIns(RepositoryBase):
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
        require_choice("purpose", purpose, SIGN_IN_PURPOSES)
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
            insert_new(
                connection,
                pending_sign_ins,
                values,
                conflict="this sign-in state is already in use",
            )
        return self._pending(values)

    def _pending(self, row: Mapping[Any, Any]) -> PendingSignIn:
        key = row["state_hash"]
        return from_row(
            PendingSignIn,
            row,
            nonce=self._required_secret(pending_sign_ins, key, "nonce", row["nonce"]),
            code_verifier=self._required_secret(
                pending_sign_ins, key, "code_verifier", row["code_verifier"]
            ),
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
