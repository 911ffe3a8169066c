"""exchange nodes: the log's perfect subtree hashes, so proofs read O(log n) rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:00:00

An inclusion or consistency proof read every leaf hash up to the tree size: O(n) per proof,
O(n^2) for a partner fetching all of them. ``exchange_node`` holds the hash of every complete
aligned perfect subtree above the leaves, (level, index) -> hash; an append writes the nodes
it completes in its own transaction. The upgrade backfills the nodes of the log already there
from its leaf hashes (RFC 6962: node = SHA-256(0x01 || left || right)); self-contained, it
imports nothing from the application.
"""

import hashlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000


def _nodes(leaf_hashes: Iterator[tuple[int, str]]) -> Iterator[dict[str, object]]:
    """Every perfect subtree (level >= 1) of the log, as each leaf completes it."""
    frontier: list[bytes] = []
    for size, (seq, leaf) in enumerate(leaf_hashes):
        if seq != size:
            raise RuntimeError(f"exchange_entry: seq {seq} where {size} was expected (a gap)")
        h, s, level = bytes.fromhex(leaf), size, 0
        while s & 1:
            h = hashlib.sha256(b"\x01" + frontier.pop() + h).digest()
            s >>= 1
            level += 1
            yield {"level": level, "index": s, "hash": h.hex()}
        frontier.append(h)


def upgrade() -> None:
    node = op.create_table(
        "exchange_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "index"),
    )
    assert node is not None
    conn = op.get_bind()
    entry = sa.table("exchange_entry", sa.column("seq"), sa.column("leaf_hash"))
    rows = conn.execute(
        sa.select(entry.c.seq, entry.c.leaf_hash).order_by(entry.c.seq),
        execution_options={"yield_per": BATCH},
    )
    batch: list[dict[str, object]] = []
    for row in _nodes((seq, leaf) for seq, leaf in rows):
        batch.append(row)
        if len(batch) == BATCH:
            conn.execute(node.insert(), batch)
            batch = []
    if batch:
        conn.execute(node.insert(), batch)


def downgrade() -> None:
    op.drop_table("exchange_node")
