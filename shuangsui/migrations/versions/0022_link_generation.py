"""link_generation: one member's link to one check ended and replaced, the key unchanged

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 05:00:00

A row per generation begun (``notifications.generations``): no row is generation 0, the
token every link sent before carries, so nothing sent stops opening. Down, the table goes:
while the schema is below 0022 every replaced link is generation 0's again, and the old links
open once more (an older shuangsui knows no generation). Up again, the ends are read back from
their ``LinkEnded`` audit events, so no link ended before the round trip opens after it.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "link_generation",
        sa.Column("round_key", S(), nullable=False),
        sa.Column("credit_code", S(length=18), nullable=False),
        sa.Column("inspector_id", S(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_by", S(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["round_key"], ["round.round_key"]),
        sa.PrimaryKeyConstraint("round_key", "credit_code", "inspector_id", "generation"),
    )
    _ends_from_the_audit_log()


def _ends_from_the_audit_log() -> None:
    """Each generation begun as its ``LinkEnded`` audit event recorded it (none before this
    revision first ran; after a round trip below it, every one ended before)."""
    events = sa.table(
        "audit_event",
        sa.column("round_key"),
        sa.column("at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("event"),
        sa.column("payload"),
    )
    generations = sa.table(
        "link_generation",
        sa.column("round_key"),
        sa.column("credit_code"),
        sa.column("inspector_id"),
        sa.column("generation"),
        sa.column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("ended_by"),
        sa.column("reason"),
    )
    conn = op.get_bind()
    logged = conn.execute(
        sa.select(events.c.round_key, events.c.at, events.c.payload).where(
            events.c.event == "LinkEnded"
        )
    )
    rows = []
    for round_key, at, payload in logged:
        said = json.loads(payload)
        rows.append({"round_key": round_key, "credit_code": said["credit_code"],
                     "inspector_id": said["inspector_id"], "generation": said["generation"],
                     "ended_at": at, "ended_by": said["by"], "reason": said["reason"]})  # fmt: skip
    if rows:
        conn.execute(generations.insert(), rows)


def downgrade() -> None:
    op.drop_table("link_generation")
