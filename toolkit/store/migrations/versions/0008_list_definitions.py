"""``list_definitions``: the store's copy of the list definitions a tenant's plans depend on.

A plan reads every list definition (``GET v1/List``) to find the manifest's lists by name and
to see an administrator's edit of the application's own lists. Kept here with the time it was
read, a plan within the configured age reads only each list's items, by the id kept here
(issue 14: a re-plan of an unchanged tenant in 3 requests instead of 4).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_definitions",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("lists", sa.Text(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "application_id", "context_identifier", name=op.f("pk_list_definitions")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_list_definitions_application_id_applications"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("list_definitions")
