"""evidence_link: the assignments each evidence file came in through

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 19:00:00

Evidence is stored by its SHA-256, one file and one row for the same bytes however often they
are uploaded, and a version could cite any stored file by its digest: a file of another
enterprise's check, once its digest was known, came into this assignment's record and its
pages served it. Each upload now links its file to its assignment (round, enterprise), and a
version may cite only its own assignment's files.

So that nothing recorded before stops validating or being served, the table is filled from
what is there: each file a version cites is linked to that version's assignment (its
submitter and time, the earliest version's), and each file an inspector's page attached
(``EvidenceAttached``, in the audit log) to that page's assignment, so a draft's photo is
still citable. A file uploaded through the API and not yet cited left no trace to read: it is
uploaded again (the same bytes are the same file). A schema taken down to 0020 and up again
reads the links back the same way.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString
WHEN = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "evidence_link",
        sa.Column("round_key", S(), nullable=False),
        sa.Column("credit_code", S(length=18), nullable=False),
        sa.Column("sha256", S(length=64), nullable=False),
        sa.Column("uploaded_by", S(), nullable=False),
        sa.Column("linked_at", WHEN(), nullable=False),
        sa.ForeignKeyConstraint(["round_key"], ["round.round_key"]),
        sa.ForeignKeyConstraint(["sha256"], ["evidence.sha256"]),
        sa.PrimaryKeyConstraint("round_key", "credit_code", "sha256"),
    )
    _links_from_what_is_recorded()


def _links_from_what_is_recorded() -> None:
    """A link for each (assignment, file) a version cites or a page attached, the first
    found; only for a file with its row (nothing could be served without one)."""
    conn = op.get_bind()
    stored = set(conn.execute(sa.text("SELECT sha256 FROM evidence")).scalars())
    rounds = set(conn.execute(sa.text("SELECT round_key FROM round")).scalars())
    found: dict[tuple[str, str, str], tuple[str, object]] = {}
    finding = sa.table("finding", sa.column("id"), sa.column("round_key"), sa.column("credit_code"))
    version = sa.table(
        "finding_version",
        sa.column("id"),
        sa.column("finding_id"),
        sa.column("evidence", sa.JSON()),
        sa.column("submitted_by"),
        sa.column("created_at", WHEN()),
    )
    cited = conn.execute(
        sa.select(
            finding.c.round_key,
            finding.c.credit_code,
            version.c.evidence,
            version.c.submitted_by,
            version.c.created_at,
        )
        .join(finding, finding.c.id == version.c.finding_id)
        .order_by(version.c.created_at, version.c.id)
    )
    for round_key, credit_code, refs, submitted_by, at in cited:
        for ref in refs or []:
            sha = ref.get("sha256") if isinstance(ref, dict) else None
            if isinstance(sha, str) and sha in stored:
                found.setdefault((round_key, credit_code, sha), (submitted_by, at))
    events = sa.table(
        "audit_event",
        sa.column("seq"),
        sa.column("at", WHEN()),
        sa.column("round_key"),
        sa.column("event"),
        sa.column("payload"),
    )
    attached = conn.execute(
        sa.select(events.c.round_key, events.c.payload, events.c.at)
        .where(events.c.event == "EvidenceAttached", events.c.round_key.is_not(None))
        .order_by(events.c.seq)
    )
    for round_key, payload, at in attached:
        said = _json(payload)
        sha, code = said.get("sha256"), said.get("credit_code")
        if isinstance(sha, str) and sha in stored and isinstance(code, str) and round_key in rounds:
            who = f"inspector:{said.get('inspector_id', '')}"
            found.setdefault((round_key, code, sha), (who, at))
    links = sa.table(
        "evidence_link",
        sa.column("round_key"),
        sa.column("credit_code"),
        sa.column("sha256"),
        sa.column("uploaded_by"),
        sa.column("linked_at", WHEN()),
    )
    rows = [
        {"round_key": r, "credit_code": c, "sha256": s, "uploaded_by": by, "linked_at": at}
        for (r, c, s), (by, at) in found.items()
    ]
    if rows:
        conn.execute(links.insert(), rows)


def _json(payload: str) -> dict[str, Any]:
    try:
        said = json.loads(payload)
    except ValueError:
        return {}
    return said if isinstance(said, dict) else {}


def downgrade() -> None:
    op.drop_table("evidence_link")
