"""inspector token revocations: an inspector's links refused in one round or in all

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspector_token_revocation",
        sa.Column("inspector_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("round_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("inspector_id", "round_key"),
    )


def downgrade() -> None:
    op.drop_table("inspector_token_revocation")
