"""partner_entry_unread: the entries kept unread indexed apart

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 11:45:00

``ix_partner_entry_unread`` on ``partner_entry (partner_code, kind) WHERE kind LIKE '?%'``:
the entries of a kind this shuangsui does not know, whose count (``exchange.apply.
kept_unread``) every ``partners status`` and partners page reads. PostgreSQL read the whole
table for it (30 ms at 200,000 entries): its collation (zh-CN in CI) may order "?" by the
letters after it, so no range of the kind index holds them. The index holds those rows only
(none on most days) and the query names its predicate as written. SQLite has it too, so both
schemas match the models; it read them by a byte range of the kind index already. Down, the
index goes; the count reads the table again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD_ROWS = "kind LIKE '?%'"  # exchange.models.UNREAD_ROWS, as it was at this revision


def upgrade() -> None:
    where = sa.text(UNREAD_ROWS)
    op.create_index("ix_partner_entry_unread", "partner_entry", ["partner_code", "kind"],
                    postgresql_where=where, sqlite_where=where)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_partner_entry_unread", table_name="partner_entry")
