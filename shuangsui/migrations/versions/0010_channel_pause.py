"""channel pause: a mail server or webhook host found down waits without spending attempts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_pause",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("down_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("paused_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )


def downgrade() -> None:
    op.drop_table("channel_pause")
