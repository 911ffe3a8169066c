"""finding_change: a row per write to the finding tables, by triggers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00

The public site fingerprints each round by the count and the largest id of its rows here
(website/inputs.py) instead of counting the finding tables' rows per round through their
joins, which could not see an update in place. The triggers write the rows in
the writer's own transaction: nothing in the code has to remember to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The round of a row of each table, from the trigger's NEW or OLD row (``{r}``).
ROUND_OF = {
    "finding": "SELECT {r}.round_key AS rk",
    "finding_version": "SELECT round_key AS rk FROM finding WHERE id = {r}.finding_id",
    "finding_signoff": (
        "SELECT f.round_key AS rk FROM finding_version v JOIN finding f ON f.id = v.finding_id"
        " WHERE v.id = {r}.version_id"
    ),
}
# Which of the trigger's rows each event logs: an update logs the row's round before it and,
# if the update moved it, after it too (UNION: once when it did not).
ROWS_OF = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}
EVENTS = tuple(ROWS_OF)


def _logged(table: str, event: str) -> str:
    """The statement that logs the rounds of the rows ``event`` wrote to ``table``."""
    rounds = " UNION ".join(ROUND_OF[table].format(r=r) for r in ROWS_OF[event])
    return (
        f"INSERT INTO finding_change (round_key) SELECT rk FROM ({rounds}) AS changed"
        " WHERE rk IS NOT NULL"
    )


def _sqlite(table: str, event: str) -> str:
    return (
        f"CREATE TRIGGER finding_change_{table}_{event.lower()} AFTER {event} ON {table}"
        f" FOR EACH ROW BEGIN {_logged(table, event)}; END"
    )


def _postgresql(table: str) -> list[str]:
    """One function per table (its rows' rounds for whichever event fired it), one trigger."""
    body = [f"IF TG_OP = '{event}' THEN {_logged(table, event)}; END IF;" for event in EVENTS]
    return [
        f"CREATE FUNCTION finding_change_{table}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {' '.join(body)} RETURN NULL; END $$",
        f"CREATE TRIGGER finding_change_{table} AFTER INSERT OR UPDATE OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION finding_change_{table}()",
    ]


def upgrade() -> None:
    op.create_table(
        "finding_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_finding_change_round", "finding_change", ["round_key", "id"])
    # a first row for each round that has findings: their earlier writes, as one change
    op.execute("INSERT INTO finding_change (round_key) SELECT DISTINCT round_key FROM finding")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in ROUND_OF:
        statements = _postgresql(table) if postgresql else [_sqlite(table, e) for e in EVENTS]
        for statement in statements:
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in ROUND_OF:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS finding_change_{table} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS finding_change_{table}()")
        else:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS finding_change_{table}_{event.lower()}")
    op.drop_index("ix_finding_change_round", table_name="finding_change")
    op.drop_table("finding_change")
