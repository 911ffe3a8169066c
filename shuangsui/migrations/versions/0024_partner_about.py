"""partner_about: what each partner said, at its last sync, of the entry kinds it reads

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 10:30:00

``partner_state.about`` (JSON, null until a sync asks): the partner's signed statement of
the kinds it reads and whether it keeps the others unread, a 404 (an older shuangsui), or why
it could not be taken (``exchange.kinds``). Down, the column goes; the next sync after the way
up reads it again, and until then no kind outside the first six is written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partner_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("about", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partner_state", schema=None) as batch_op:
        batch_op.drop_column("about")
