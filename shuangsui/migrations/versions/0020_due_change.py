"""due_change: a team's check given a new date with no one withdrawn

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 04:00:00

An enterprise closed for a month, a laboratory's result awaited: the coordinator gives the
team's check a new date (延期) without replacing anyone. Each such change is a row here, the
``n``-th of its round, with the date it replaced, and a ``DueDateMoved`` audit event, which
``round verify`` compares with the row; every assignment's date must then be the window's last
day or the latest date recorded for its team.

A schema taken down to 0019 and up again loses the table, not the changes: the rows are read
back from their audit events, so the rows and their events still agree.
"""

import json
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "due_change",
        sa.Column("round_key", S(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("credit_code", S(length=18), nullable=False),
        sa.Column("old_due_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", S(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["round_key"], ["round.round_key"]),
        sa.PrimaryKeyConstraint("round_key", "n"),
    )
    _rows_from_the_audit_log()


def _rows_from_the_audit_log() -> None:
    """Each new date as its ``DueDateMoved`` event recorded it (none before this revision)."""
    events = sa.table(
        "audit_event", sa.column("round_key"), sa.column("event"), sa.column("payload")
    )
    changes = sa.table(
        "due_change",
        *(sa.column(name) for name in ("round_key", "n", "credit_code", "reason", "recorded_by")),
        sa.column("old_due_on", sa.Date()),
        sa.column("due_on", sa.Date()),
        sa.column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    conn = op.get_bind()
    logged = conn.execute(
        sa.select(events.c.round_key, events.c.payload).where(events.c.event == "DueDateMoved")
    )
    for round_key, payload in logged:
        said = json.loads(payload)
        conn.execute(
            changes.insert().values(
                round_key=round_key,
                n=said["n"],
                credit_code=said["credit_code"],
                old_due_on=date.fromisoformat(said["old_due_on"]),
                due_on=date.fromisoformat(said["due_on"]),
                reason=said["reason"],
                recorded_by=said["recorded_by"],
                recorded_at=datetime.fromisoformat(said["recorded_at"]),
            )
        )


def downgrade() -> None:
    op.drop_table("due_change")
