"""State-change notifications are confirmed with the state API: outcome ``unconfirmed``.

A notification is a signal (protocol §6, open question 16: its body is not shown to be bound to
its token), so the toolkit asks the state API before acting on it. One the state API does not
confirm (or that cannot be checked now) is recorded as ``unconfirmed`` and changes no
authorization.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_OUTCOMES = "outcome IN ('applied', 'duplicate', 'stale', 'rejected')"
NEW_OUTCOMES = "outcome IN ('applied', 'duplicate', 'stale', 'rejected', 'unconfirmed')"


def _replace_outcome_check(condition: str) -> None:
    name = op.f("ck_state_changes_outcome")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(name, "state_changes", type_="check")
        op.create_check_constraint(name, "state_changes", condition)
        return
    # SQLite changes a CHECK constraint only by copying the table; no foreign key points at
    # state_changes, so the copy loses nothing.
    with op.batch_alter_table("state_changes", recreate="always") as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, condition)


def upgrade() -> None:
    _replace_outcome_check(NEW_OUTCOMES)


def downgrade() -> None:
    op.execute("DELETE FROM state_changes WHERE outcome = 'unconfirmed'")
    _replace_outcome_check(OLD_OUTCOMES)
