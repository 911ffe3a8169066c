"""registry import log: one row per accepted import set

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:00:00

A round's preflight asks when the registry was last imported; an import that changes no row
still counts (the registry was checked and found current).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_import",
        sa.Column("batch_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    with op.batch_alter_table("registry_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registry_import_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("registry_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_import_at"))
    op.drop_table("registry_import")
