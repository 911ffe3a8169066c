"""team_change: members of drawn teams replaced (docs/draw-algorithm.md §14)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 22:30:00

A member who must leave a drawn team (回避 declared late, illness, a transfer) is replaced by a
pick the round's seed fixes; each replacement is a row here, the ``n``-th of its round, and the
teams in ``assignment`` are the draw's with these applied in order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "team_change",
        sa.Column("round_key", S(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("credit_code", S(length=18), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("withdrawn", S(), nullable=False),
        sa.Column("replacement", S(), nullable=False),
        sa.Column("cause", S(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", S(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["round_key"], ["round.round_key"]),
        sa.PrimaryKeyConstraint("round_key", "n"),
    )


def downgrade() -> None:
    op.drop_table("team_change")
