"""risk classification: runs, classes, overrides, upheld complaints

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 22:17:28

Risk classes computed from versioned rules (risk/): every run is kept with its rules' hash and
text; each enterprise's class with the digest of the inputs behind it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("upheld_on", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("imported_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credit_code", "ref"),
    )
    with op.batch_alter_table("risk_complaint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_complaint_credit_code"), ["credit_code"], unique=False
        )

    op.create_table(
        "risk_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column(
            "risk_class",
            sa.Enum("A", "B", "C", "D", name="riskclass", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("risk_override", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_override_approved_at"), ["approved_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_override_credit_code"), ["credit_code"], unique=False
        )

    op.create_table(
        "risk_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("rules_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("rules_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rules_text", sa.Text(), nullable=False),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("computed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("enterprises", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("salt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("risk_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_run_computed_at"), ["computed_at"], unique=False)

    op.create_table(
        "risk_class",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("credit_code", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column(
            "risk_class",
            sa.Enum("A", "B", "C", "D", name="riskclass", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("input_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["risk_run.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "credit_code"),
    )
    with op.batch_alter_table("risk_class", schema=None) as batch_op:
        batch_op.create_index("ix_risk_class_code", ["credit_code", "run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_class", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_class_code")

    op.drop_table("risk_class")
    with op.batch_alter_table("risk_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_run_computed_at"))

    op.drop_table("risk_run")
    with op.batch_alter_table("risk_override", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_override_credit_code"))
        batch_op.drop_index(batch_op.f("ix_risk_override_approved_at"))

    op.drop_table("risk_override")
    with op.batch_alter_table("risk_complaint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_complaint_credit_code"))

    op.drop_table("risk_complaint")
