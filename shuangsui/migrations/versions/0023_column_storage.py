"""column_storage: a round's gzip'd artifacts stored as they are; notices compressed by lz4

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 10:30:00

PostgreSQL only (a no-op on SQLite): how the server stores two columns' large values, never
what they hold or how they read back.

``round_artifact.content`` holds gzip'd bytes (a 200,000-enterprise frame: 1.7 MB). With the
default storage the server first tries to compress them again with pglz, which fails on
compressed bytes after reading them all: STORAGE EXTERNAL stores them out of line at once.

``notification.body`` and ``payload``: a row over the server's 2 KB threshold (586 of a
200,000-enterprise draw's 15,177) has its body compressed; pglz gives up on most Chinese
bodies (it needs a quarter saved) and the body is then moved out of line, lz4 keeps them in
the row. Only where the server was built with lz4 (``default_toast_compression`` offers it);
values stored before keep the compression they were stored with. docs/benchmarks.md, "The
draw", fifteenth round.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTICE_COLUMNS = ("body", "payload")


def upgrade() -> None:
    _store(artifacts="EXTERNAL", notices="lz4")


def downgrade() -> None:
    _store(artifacts="EXTENDED", notices="DEFAULT")


def _store(*, artifacts: str, notices: str) -> None:
    """The artifacts' storage, and the notices' compression where the server has lz4."""
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE round_artifact ALTER COLUMN content SET STORAGE {artifacts}")
    if _has_lz4(conn):
        for column in NOTICE_COLUMNS:
            op.execute(f"ALTER TABLE notification ALTER COLUMN {column} SET COMPRESSION {notices}")


def _has_lz4(conn: sa.Connection) -> bool:
    """Whether this server can compress by lz4: built with it, it offers it as a setting's value."""
    offered = conn.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return "lz4" in (offered or [])
