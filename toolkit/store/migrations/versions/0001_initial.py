"""The initial store: applications, authorizations, pending sign-ins, user options, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(20), nullable=False),
        sa.Column("environment_url", sa.String(2000)),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text()),
        sa.Column("redirect_uri", sa.String(2000)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("model", sa.String(20), nullable=False),
        sa.Column("tenant", sa.String(200)),
        sa.Column("key_fingerprint", sa.String(200)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("name", name=op.f("uq_applications_name")),
        sa.UniqueConstraint(
            "client_id", "environment", name=op.f("uq_applications_client_id_environment")
        ),
        sa.CheckConstraint(
            "environment IN ('sod', 'qaonline', 'online', 'emulator')",
            name=op.f("ck_applications_environment"),
        ),
        sa.CheckConstraint("kind IN ('standard', 'custom')", name=op.f("ck_applications_kind")),
        sa.CheckConstraint(
            "model IN ('internal', 'external', 'hybrid')", name=op.f("ck_applications_model")
        ),
    )
    op.create_table(
        "authorizations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("company_name", sa.String(200)),
        sa.Column("serial", sa.String(200)),
        sa.Column("webapi_url", sa.String(2000)),
        sa.Column("netserver_url", sa.String(2000)),
        sa.Column("approved_by", sa.String(320)),
        sa.Column("approved_by_associate_id", sa.Integer()),
        sa.Column("approved_at", TZ),
        sa.Column("token_issued_at", TZ, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("system_user_token", sa.Text()),
        sa.Column("refresh_token", sa.Text()),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorizations")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_authorizations_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "application_id",
            "context_identifier",
            name=op.f("uq_authorizations_application_id_context_identifier"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'revoked', 'needs_reconsent')",
            name=op.f("ck_authorizations_status"),
        ),
    )
    op.create_index(
        op.f("ix_authorizations_context_identifier"), "authorizations", ["context_identifier"]
    )
    op.create_table(
        "pending_sign_ins",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.String(2000), nullable=False),
        sa.Column("return_to", sa.String(2000)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_pending_sign_ins")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_pending_sign_ins_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "purpose IN ('install', 'user')", name=op.f("ck_pending_sign_ins_purpose")
        ),
    )
    op.create_index(op.f("ix_pending_sign_ins_expires_at"), "pending_sign_ins", ["expires_at"])
    op.create_table(
        "user_options",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("user", sa.String(320), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint(
            "application_id", "context_identifier", "user", "key", name=op.f("pk_user_options")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_user_options_application_id_applications"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("application", sa.String(200)),
        sa.Column("context_identifier", sa.String(200)),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_index(op.f("ix_audit_events_application"), "audit_events", ["application"])
    op.create_index(
        op.f("ix_audit_events_context_identifier"), "audit_events", ["context_identifier"]
    )
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_meta")),
    )


def downgrade() -> None:
    for table in (
        "store_meta",
        "audit_events",
        "user_options",
        "pending_sign_ins",
        "authorizations",
        "applications",
    ):
        op.drop_table(table)
