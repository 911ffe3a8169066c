"""round: when its commitment was first published

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:05:00

The public site says when a round's commitment first appeared, and whether that was before the
draw. The moment is recorded once in the database: a site folder's manifest can be lost or
rebuilt, and a re-stamped date would misstate when the commitment became public.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("commitment_published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("commitment_published_before_draw", sa.Boolean(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.drop_column("commitment_published_before_draw")
        batch_op.drop_column("commitment_published_at")
