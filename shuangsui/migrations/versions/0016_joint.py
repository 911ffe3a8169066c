"""joint rounds: joint_round and joint_statement

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "joint_round",
        sa.Column("joint_key", _S(length=64), nullable=False),
        sa.Column("plan_hash", _S(length=64), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("lead", _S(length=6), nullable=False),
        sa.Column("nonce", _S(length=64), nullable=False),
        sa.Column("status", _S(length=16), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("joint_key"),
    )
    op.create_table(
        "joint_statement",
        sa.Column("joint_key", _S(length=64), nullable=False),
        sa.Column("bureau", _S(length=6), nullable=False),
        sa.Column("kind", _S(length=16), nullable=False),
        sa.Column("digest", _S(length=64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("joint_key", "bureau", "kind", "digest"),
    )


def downgrade() -> None:
    op.drop_table("joint_statement")
    op.drop_table("joint_round")
