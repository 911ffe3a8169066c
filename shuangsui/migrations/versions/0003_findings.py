"""findings: append-only versions, sign-offs, evidence, coordinator tokens, publications

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESULTS = (
    "no_problem",
    "not_disclosed",
    "unreachable",
    "ordered_to_rectify",
    "rectified",
    "under_investigation",
    "nonconforming",
    "no_activity",
    "other",
    "certificate_suspended",
    "certificate_withdrawn",
    "mark_misused",
    "product_differs",
)


def _str(length: int | None = None) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _ts() -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "coordinator_token",
        sa.Column("name", _str(), nullable=False),
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("bureau_code", _str(6), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "evidence",
        sa.Column("sha256", _str(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", _str(), nullable=False),
        sa.Column("filename", _str(), nullable=False),
        sa.Column("uploaded_by", _str(), nullable=False),
        sa.Column("stored_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_key", _str(), nullable=False),
        sa.Column("credit_code", _str(18), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["round_key"], ["round.round_key"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_key", "credit_code"),
    )
    op.create_index(op.f("ix_finding_credit_code"), "finding", ["credit_code"], unique=False)
    op.create_index(op.f("ix_finding_round_key"), "finding", ["round_key"], unique=False)
    op.create_table(
        "finding_version",
        sa.Column(
            "result",
            sa.Enum(*RESULTS, name="resultcategory", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("check_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("certificates", sa.JSON(), nullable=False),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("internal_note", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("submitted_by", _str(), nullable=False),
        sa.Column("content_hash", _str(64), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["finding.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("finding_id", "version"),
    )
    op.create_index(
        op.f("ix_finding_version_finding_id"), "finding_version", ["finding_id"], unique=False
    )
    op.create_table(
        "finding_signoff",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("inspector_id", _str(), nullable=False),
        sa.Column("via", _str(), nullable=False),
        sa.Column("signed_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["finding_version.id"]),
        sa.PrimaryKeyConstraint("version_id", "inspector_id"),
    )
    op.create_table(
        "published_result",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("published_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["finding_id"], ["finding.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["finding_version.id"]),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_index(
        op.f("ix_published_result_finding_id"), "published_result", ["finding_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_published_result_finding_id"), table_name="published_result")
    op.drop_table("published_result")
    op.drop_table("finding_signoff")
    op.drop_index(op.f("ix_finding_version_finding_id"), table_name="finding_version")
    op.drop_table("finding_version")
    op.drop_index(op.f("ix_finding_round_key"), table_name="finding")
    op.drop_index(op.f("ix_finding_credit_code"), table_name="finding")
    op.drop_table("finding")
    op.drop_table("evidence")
    op.drop_table("coordinator_token")
