"""notification due queue: a partial index the dispatcher claims from in order

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 14:00:00

The (status, next_attempt_at) index made every claim sort all due rows (and SQLite used it
for "status IN" even when the primary key was given). The partial index on
(next_attempt_at, id) WHERE status IN ('pending', 'failed') holds only what is still to send,
in claim order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = "status IN ('pending', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_due")
    op.create_index(
        "ix_notification_due_queue",
        "notification",
        ["next_attempt_at", "id"],
        unique=False,
        sqlite_where=sa.text(DUE),
        postgresql_where=sa.text(DUE),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notification_due_queue",
        table_name="notification",
        sqlite_where=sa.text(DUE),
        postgresql_where=sa.text(DUE),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_due", ["status", "next_attempt_at"], unique=False)
