"""Provisioning: runs with their steps, ownership of lists and items, the apply lock, manifests.

* ``applications.manifest``: the application's provisioning manifest (TOML text), nullable;
* ``provisioning_runs`` / ``provisioning_steps``: every apply / uninstall with its plan, actor,
  outcome and each step as it completed;
* ``provisioned_objects``: the lists and list items an application created in a tenant (REST has
  no owner field for them; web panels are owned through ``GetAppWebPanels``);
* ``provisioning_locks``: one apply per application x tenant at a time (a lease with expiry).

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _application_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["application_id"],
        ["applications.id"],
        name=op.f(f"fk_{table}_application_id_applications"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # A nullable column without a default: SQLite adds it in place (no table copy).
    op.add_column("applications", sa.Column("manifest", sa.Text()))
    op.create_table(
        "provisioning_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_runs")),
        _application_fk("provisioning_runs"),
        sa.CheckConstraint(
            "outcome IN ('running', 'succeeded', 'failed', 'partial')",
            name=op.f("ck_provisioning_runs_outcome"),
        ),
    )
    op.create_index(
        op.f("ix_provisioning_runs_application_id_context_identifier_started_at"),
        "provisioning_runs",
        ["application_id", "context_identifier", "started_at"],
    )
    op.create_index(op.f("ix_provisioning_runs_started_at"), "provisioning_runs", ["started_at"])
    op.create_table(
        "provisioning_steps",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(2000), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("remote_id", sa.Integer()),
        sa.Column("detail", sa.Text()),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_provisioning_steps")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["provisioning_runs.id"],
            name=op.f("fk_provisioning_steps_run_id_provisioning_runs"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "outcome IN ('done', 'adopted', 'failed')",
            name=op.f("ck_provisioning_steps_outcome"),
        ),
    )
    op.create_table(
        "provisioned_objects",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("list_name", sa.String(200)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("remote_id", sa.Integer()),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint(
            "application_id",
            "context_identifier",
            "kind",
            "list_key",
            "key",
            name=op.f("pk_provisioned_objects"),
        ),
        _application_fk("provisioned_objects"),
        sa.CheckConstraint(
            "kind IN ('list', 'list_item')", name=op.f("ck_provisioned_objects_kind")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'owned')", name=op.f("ck_provisioned_objects_state")
        ),
    )
    op.create_table(
        "provisioning_locks",
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("context_identifier", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("locked_until", TZ, nullable=False),
        sa.Column("acquired_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint(
            "application_id", "context_identifier", name=op.f("pk_provisioning_locks")
        ),
        _application_fk("provisioning_locks"),
    )


def downgrade() -> None:
    for table in (
        "provisioning_locks",
        "provisioned_objects",
        "provisioning_steps",
        "provisioning_runs",
    ):
        op.drop_table(table)
    # Not a batch (table copy) on SQLite: dropping the old applications table would cascade
    # to every authorization. SQLite >= 3.35 drops a plain column in place.
    op.drop_column("applications", "manifest")
