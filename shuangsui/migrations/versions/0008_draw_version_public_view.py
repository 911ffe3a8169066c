"""round: draw version and the public (pseudonymous) inspector commitments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 20:00:00

Draw version 2 (docs/draw-algorithm.md §12) binds a pseudonymous view of the inspector frame
and of the recusals into the seed, so the public can check teams without learning who the
inspectors are. Existing rounds are version 1 and keep their seeds; their pseudonym key is
not needed (version 1 public bundles number inspectors in id order).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("draw_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column(
                "public_inspector_commitment",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "public_recused_commitment",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.drop_column("public_recused_commitment")
        batch_op.drop_column("public_inspector_commitment")
        batch_op.drop_column("draw_version")
