"""User options (normal user context): one user's own JSON options per application x tenant."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from toolkit.store.areas.base import RepositoryBase, upsert_insert
from toolkit.store.areas.common import refuse_secrets, to_json
from toolkit.store.schema import user_options

__all__ = ["UserOptions"]


class UserOptions(RepositoryBase):
    def get_user_options(
        self, application: str, context_identifier: str, user: str
    ) -> dict[str, Any]:
        """One user's own options in one tenant for one application."""
        with self._read() as connection:
            app = self._require_application(connection, application)
            rows = connection.execute(
                select(user_options.c.key, user_options.c.value).where(
                    self._in_tenant(user_options, app["id"], context_identifier),
                    user_options.c.user == user,
                )
            ).all()
        return {key: json.loads(value) for key, value in rows}

    def set_user_option(
        self, application: str, context_identifier: str, user: str, key: str, value: Any
    ) -> None:
        """Save one option (any JSON value) for one user; options are not secrets."""
        refuse_secrets({key: value}, what="user option")
        text = to_json(value)
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
            statement = upsert_insert(connection, user_options).values(values)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["application_id", "context_identifier", "user", "key"],
                    set_={"value": text, "updated_at": values["updated_at"]},
                )
            )
