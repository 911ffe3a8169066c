"""Durable state of a round: its plan version, commitments, entropy, seed, draw and audit log.

A round key has exactly one row here and, once drawn, exactly one draw. Large committed inputs
(the frames as they stood at commitment) are kept as gzip'd canonical bytes in ``round_artifact``
so the bundle can be rebuilt years later even after the registry has moved on.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shuangsui.dbtypes import enum_type


class RoundKind(enum.StrEnum):
    scheduled = "scheduled"
    adhoc = "adhoc"


class RoundStatus(enum.StrEnum):
    committed = "committed"  # plan and frames committed, entropy not yet fixed
    drawn = "drawn"  # seed fixed and draw persisted: final, no re-roll
    failed = "failed"  # the rules could not be met; the failure is in the audit log
    closed = "closed"  # every finding in, results published


class PlanVersion(SQLModel, table=True):
    __tablename__ = "plan_version"

    plan_hash: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True)
    check_item_code: str = Field(foreign_key="checkitem.code")
    period: str
    source: str = ""
    yaml_text: str = Field(sa_column=Column(Text, nullable=False))
    canonical_json: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime


class Round(SQLModel, table=True):
    round_key: str = Field(primary_key=True)
    plan_id: str = Field(index=True)
    plan_hash: str = Field(foreign_key="plan_version.plan_hash")
    check_item_code: str = Field(index=True)
    kind: RoundKind = Field(sa_type=enum_type(RoundKind))
    period: str = Field(index=True)
    requested_by: str = ""
    reason: str = ""
    overrides: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    window_start: date
    window_end: date
    status: RoundStatus = Field(
        default=RoundStatus.committed, index=True, sa_type=enum_type(RoundStatus)
    )
    # what public entropy the round will use, fixed at commitment (e.g. a beacon round number)
    entropy_plan: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    frame_commitment: str = Field(max_length=64)
    frame_merkle_root: str = Field(max_length=64)
    frame_size: int
    inspector_commitment: str = Field(max_length=64)
    inspector_merkle_root: str = Field(max_length=64)
    inspector_frame_size: int
    constraints_commitment: str = Field(max_length=64)
    # docs/draw-algorithm.md "v": 1 for rounds committed before version 2 existed
    draw_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # version 2: the pseudonymous inspector frame and recusals (§12), bound into the seed
    public_inspector_commitment: str | None = Field(default=None, max_length=64)
    public_recused_commitment: str | None = Field(default=None, max_length=64)
    entropy: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    seed: str | None = Field(default=None, max_length=64)
    counts: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    committed_at: datetime
    drawn_at: datetime | None = None
    # when publish first put the round's commitment on the public site, and whether the round
    # was still undrawn then: set once, kept here (not in a site's manifest, which may be lost)
    commitment_published_at: datetime | None = None
    commitment_published_before_draw: bool | None = None
    # when the drawn list went public under the plan's disclosure (rounds/disclosure.py): at
    # the draw (on-draw), or at the first publish after the check window closed; set once
    revealed_at: datetime | None = None


class RoundArtifact(SQLModel, table=True):
    """A committed input or output of a round, as canonical bytes (gzip'd)."""

    __tablename__ = "round_artifact"

    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    name: str = Field(primary_key=True)
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Selection(SQLModel, table=True):
    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    credit_code: str = Field(primary_key=True, max_length=18)
    stratum: str
    kind: str  # random | targeted
    rank: int
    ticket: str = Field(max_length=64)


class Assignment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("round_key", "credit_code", "position"),)

    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    credit_code: str = Field(primary_key=True, max_length=18)
    inspector_id: str = Field(primary_key=True)
    position: int  # 0 = team lead
    due_on: date


class TeamChange(SQLModel, table=True):
    """A member of a drawn team replaced (docs/draw-algorithm.md §14): the ``n``-th of its
    round, from 1. ``assignment`` holds the teams as they stand; these rows, in order of
    ``n``, turn the draw's teams into them. Written once, never updated or deleted."""

    __tablename__ = "team_change"

    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    n: int = Field(primary_key=True)
    credit_code: str = Field(max_length=18)
    position: int
    withdrawn: str
    replacement: str
    cause: str  # draw.replace.CAUSES
    note: str = Field(sa_column=Column(Text, nullable=False))  # why, in the bureau's words
    recorded_by: str
    recorded_at: datetime
    # the date the coordinator gave the check with this replacement (every seat of the team
    # has it since); None: the seats kept theirs. In the MemberReplaced event too, not in the
    # bundles (nothing in them could check it)
    due_on: date | None = None


class DueChange(SQLModel, table=True):
    """A team's check given a new date with no one withdrawn (延期; docs/draw-algorithm.md §14
    "Due date"): the ``n``-th of its round, from 1. ``assignment`` holds the dates as they
    stand: every seat of the team has ``due_on`` since. A table of its own, not rows of
    ``team_change``: there ``n`` counts the withdrawals §14's picks are made from, which a new
    date must not move. Written once, never updated or deleted; in the ``DueDateMoved`` audit
    event too, not in the bundles (nothing in them could check it)."""

    __tablename__ = "due_change"

    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    n: int = Field(primary_key=True)
    credit_code: str = Field(max_length=18)
    old_due_on: date  # the date the team's check had until then
    due_on: date
    reason: str = Field(sa_column=Column(Text, nullable=False))  # why, in the bureau's words
    recorded_by: str
    recorded_at: datetime


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained log of everything that happened to every round.

    ``hash = SHA-256(prev_hash || canonical JSON of {seq, at, round_key, event, payload})``; the
    unique constraint on ``prev_hash`` makes two concurrent appends on the same head collide,
    so the chain can never fork.
    """

    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True)
    at: datetime
    round_key: str | None = Field(default=None, index=True)
    event: str
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)
