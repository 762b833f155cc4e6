"""An index on the audit trail's ``(action, id)``: one kind of event, in the order written.

The Overview's "States over time" replays the tenants' recorded state changes (the
``tenant.state_recorded`` and ``tenant.state_changed`` events) page by page; without this index
each page scanned the whole audit trail, every kind of event of every tenant (issue 15).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_audit_events_action_id"


def upgrade() -> None:
    op.create_index(INDEX, "audit_events", ["action", "id"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_events")
