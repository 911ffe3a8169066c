"""link_key: the secret key's fingerprint, recorded where a rotation is

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 03:00:00

A row per key links were made under, by its fingerprint (an HMAC of a fixed text under the
key: it says which key, never the key); the newest is the current one
(``notifications.link_key``). A dispatcher, a relink and ``serve`` holding another key than
the recorded one write and send no link. Empty at first: the first process to use a key
records it. Down, the table goes and no process is held back by its key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("link_key")
