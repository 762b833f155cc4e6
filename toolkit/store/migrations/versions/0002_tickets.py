"""System user tickets: one per authorization, sealed, with a lease for single-flight renewal.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("authorization_id", sa.String(36), nullable=False),
        sa.Column("ticket", sa.Text()),
        sa.Column("serial", sa.String(200)),
        sa.Column("webapi_url", sa.String(2000)),
        sa.Column("netserver_url", sa.String(2000)),
        sa.Column("obtained_at", TZ),
        sa.Column("last_used_at", TZ),
        sa.Column("expires_at", TZ),
        sa.Column("renewing_until", TZ),
        sa.Column("lease_owner", sa.String(200)),
        sa.PrimaryKeyConstraint("authorization_id", name=op.f("pk_tickets")),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorizations.id"],
            name=op.f("fk_tickets_authorization_id_authorizations"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("tickets")
