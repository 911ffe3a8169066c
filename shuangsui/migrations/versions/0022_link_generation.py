"""link_generation: one member's link to one check ended and replaced, the key unchanged

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 05:00:00

A row per generation begun (``notifications.generations``): no row is generation 0, the
token every link sent before carries, so nothing sent stops opening. Down, the table goes:
every replaced link is then generation 0's again, and the old links open once more.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "link_generation",
        sa.Column("round_key", S(), nullable=False),
        sa.Column("credit_code", S(length=18), nullable=False),
        sa.Column("inspector_id", S(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_by", S(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["round_key"], ["round.round_key"]),
        sa.PrimaryKeyConstraint("round_key", "credit_code", "inspector_id", "generation"),
    )


def downgrade() -> None:
    op.drop_table("link_generation")
