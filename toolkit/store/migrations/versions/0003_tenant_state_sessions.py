"""Tenant state and webhook history (protocol §6), panel sessions; two more statuses.

* ``authorizations.status`` may also be ``suspended`` or ``deleted`` (state-change webhooks);
* ``tenant_states``: the last known state per authorization (state API or webhook);
* ``state_changes``: every state-change webhook received for a known application;
* ``user_sessions``: signed-in users of the normal user context, tokens sealed.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

OLD_STATUSES = "status IN ('active', 'revoked', 'needs_reconsent')"
NEW_STATUSES = "status IN ('active', 'revoked', 'needs_reconsent', 'suspended', 'deleted')"


def _replace_status_check(condition: str) -> None:
    connection = op.get_bind()
    name = op.f("ck_authorizations_status")
    if connection.dialect.name != "sqlite":
        op.drop_constraint(name, "authorizations", type_="check")
        op.create_check_constraint(name, "authorizations", condition)
        return
    # SQLite changes a CHECK constraint only by copying the table. Dropping the old copy runs an
    # implicit DELETE, whose ON DELETE CASCADE would empty ``tickets`` (foreign keys are on and
    # cannot be switched off inside the migration's transaction), so the tickets are kept
    # aside and put back.
    tickets = sa.table(
        "tickets",
        *(
            sa.column(column)
            for column in (
                "authorization_id",
                "ticket",
                "serial",
                "webapi_url",
                "netserver_url",
                "obtained_at",
                "last_used_at",
                "expires_at",
                "renewing_until",
                "lease_owner",
            )
        ),
    )
    kept = [dict(row) for row in connection.execute(sa.select(tickets)).mappings()]
    with op.batch_alter_table("authorizations", recreate="always") as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, condition)
    connection.execute(sa.delete(tickets))
    if kept:
        connection.execute(sa.insert(tickets), kept)


def upgrade() -> None:
    _replace_status_check(NEW_STATUSES)
    op.create_table(
        "tenant_states",
        sa.Column("authorization_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(40)),
        sa.Column("endpoint", sa.String(2000)),
        sa.Column("api", sa.String(2000)),
        sa.Column("version", sa.String(200)),
        sa.Column("valid_until", TZ),
        sa.Column("observed_at", TZ, nullable=False),
        sa.Column("checked_at", TZ, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("authorization_id", name=op.f("pk_tenant_states")),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorizations.id"],
            name=op.f("fk_tenant_states_authorization_id_authorizations"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "source IN ('state-api', 'webhook')", name=op.f("ck_tenant_states_source")
        ),
    )
    op.create_table(
        "state_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200)),
        sa.Column("change_type", sa.String(40)),
        sa.Column("version_name", sa.String(200)),
        sa.Column("file_version", sa.String(200)),
        sa.Column("public_endpoint", sa.String(2000)),
        sa.Column("issued_at", TZ),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(100)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_changes")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_state_changes_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "outcome IN ('applied', 'duplicate', 'stale', 'rejected')",
            name=op.f("ck_state_changes_outcome"),
        ),
    )
    op.create_index(op.f("ix_state_changes_received_at"), "state_changes", ["received_at"])
    op.create_index(
        op.f("ix_state_changes_application_id_fingerprint"),
        "state_changes",
        ["application_id", "fingerprint"],
    )
    op.create_index(
        op.f("ix_state_changes_context_identifier"), "state_changes", ["context_identifier"]
    )
    op.create_table(
        "user_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("user", sa.String(320), nullable=False),
        sa.Column("associate_id", sa.Integer()),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text()),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("access_expires_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_user_sessions")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_user_sessions_application_id_applications"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_user_sessions_expires_at"), "user_sessions", ["expires_at"])


def downgrade() -> None:
    for table in ("user_sessions", "state_changes", "tenant_states"):
        op.drop_table(table)
    op.execute(
        "UPDATE authorizations SET status = 'revoked' WHERE status IN ('suspended', 'deleted')"
    )
    _replace_status_check(OLD_STATUSES)
