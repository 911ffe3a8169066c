"""lead: leads (线索) and their triage, targeting and answer

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ("complaint", "risk_monitoring", "partner_referral", "assistance_request", "other")
STATUSES = ("received", "accepted", "targeted", "answered", "merged", "rejected")


def _str(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _ts() -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "lead",
        sa.Column(
            "source",
            sa.Enum(*SOURCES, name="leadsource", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("credit_code", _str(18), nullable=False),
        sa.Column("category", _str(64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("reporter", sa.Text(), nullable=False),
        sa.Column("allegation", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_ref", _str(200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="leadstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("check_item_code", _str(64), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("decided_by", _str(), nullable=False),
        sa.Column("round_key", _str(), nullable=True),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("created_by", _str(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("answered_at", _ts(), nullable=True),
        sa.ForeignKeyConstraint(["merged_into"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_ref"),
    )
    for column in ("source", "credit_code", "deadline", "status", "round_key"):
        op.create_index(op.f(f"ix_lead_{column}"), "lead", [column], unique=False)


def downgrade() -> None:
    for column in ("round_key", "status", "deadline", "credit_code", "source"):
        op.drop_index(op.f(f"ix_lead_{column}"), table_name="lead")
    op.drop_table("lead")
