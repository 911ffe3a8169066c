"""witnessing: cosignatures, checkpoints seen, equivocation proofs

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 22:30:00

Bureaus witness each other (C2SP tlog-cosignature): ``exchange_cosignature`` holds the
cosignatures we made on partners' checkpoints and those partners made (on ours and on each
other's); ``seen_checkpoint`` every validly signed partner checkpoint we saw, wherever;
``equivocation_proof`` the signed proofs that an origin signed two different checkpoints of
one size (ours and gossiped).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "exchange_cosignature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", S(length=64), nullable=False),
        sa.Column("witness", S(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", S(length=64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("origin", "witness", "size", "root"),
    )
    with op.batch_alter_table("exchange_cosignature", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_cosignature_origin"), ["origin"], unique=False
        )
    op.create_table(
        "seen_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", S(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", S(length=64), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("source", S(), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("origin", "size", "root"),
    )
    with op.batch_alter_table("seen_checkpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_checkpoint_origin"), ["origin"], unique=False)
    op.create_table(
        "equivocation_proof",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", S(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("found_by", S(length=64), nullable=False),
        sa.Column("received_from", S(length=64), nullable=True),
        sa.Column("digest", S(length=64), nullable=False),
        sa.Column("proof", sa.Text(), nullable=False),
        sa.Column("detected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("equivocation_proof", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_equivocation_proof_origin"), ["origin"], unique=False)


def downgrade() -> None:
    for table in ("equivocation_proof", "seen_checkpoint", "exchange_cosignature"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_origin"))
        op.drop_table(table)
