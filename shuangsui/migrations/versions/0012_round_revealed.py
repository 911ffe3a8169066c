"""round: when its drawn list went public

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 22:40:00

A plan's disclosure (on-draw or after-window) decides when a round's drawn list becomes
public. The moment it did, at the draw or at the first publish after the check window closed,
is recorded once: the partner feed receives the round record exactly then, and only once.
Rounds drawn before this revision went public at their draw (site and partner feed): they are
recorded as revealed then, so nothing already public is withheld again or sent twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    rounds = sa.table("round", sa.column("revealed_at"), sa.column("drawn_at"))
    op.execute(
        rounds.update().where(rounds.c.drawn_at.is_not(None)).values(revealed_at=rounds.c.drawn_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.drop_column("revealed_at")
