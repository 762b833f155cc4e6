"""Indexes on ``lower(context_identifier)``: the case-insensitive tenant lookups use them.

Saving a tenant state, applying a state change and listing a tenant's state-change history
match the context identifier case-insensitively (``lower(context_identifier) = ...``); without
an index on that expression each lookup scanned the application's rows (issue 17). SQLite
(3.9 and later) and PostgreSQL both index expressions.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_authorizations_application_id_lower_context_identifier", "authorizations"),
    ("ix_state_changes_application_id_lower_context_identifier", "state_changes"),
)


def upgrade() -> None:
    for name, table in INDEXES:
        op.create_index(
            name, table, ["application_id", sa.text("lower(context_identifier)")], unique=False
        )


def downgrade() -> None:
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
