"""team_change: the date a replacement gave the check

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 01:00:00

A member replaced after the window has closed (or on its last days) left the replacement a seat
already due: notices saying 已过期, escalations at once, a link soon expired. A replacement may
now give the team's check a new date; it is recorded here (None: the seats kept theirs) and in
the replacement's ``MemberReplaced`` audit event, which ``round verify`` compares with the row.

A schema taken down to 0018 and up again loses the column, not the dates: they are read back
from the audit events, so the rows and their events still agree.
"""

import json
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("team_change", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
    _dates_from_the_audit_log()


def _dates_from_the_audit_log() -> None:
    """Each replacement's date as its audit event recorded it (none before this revision)."""
    events = sa.table(
        "audit_event", sa.column("round_key"), sa.column("event"), sa.column("payload")
    )
    changes = sa.table(
        "team_change", sa.column("round_key"), sa.column("n"), sa.column("due_on", sa.Date())
    )
    conn = op.get_bind()
    logged = conn.execute(
        sa.select(events.c.round_key, events.c.payload).where(events.c.event == "MemberReplaced")
    )
    for round_key, payload in logged:
        said = json.loads(payload)
        if said.get("due_on"):
            conn.execute(
                changes.update()
                .where(changes.c.round_key == round_key, changes.c.n == said["n"])
                .values(due_on=date.fromisoformat(said["due_on"]))
            )


def downgrade() -> None:
    with op.batch_alter_table("team_change", schema=None) as batch_op:
        batch_op.drop_column("due_on")
