"""Findings as SQLModel tables: append-only versions, sign-offs, evidence and the assignments
it came in through, coordinator tokens, revoked inspector links.

A finding is one per (round, enterprise). Its content lives in numbered versions that are never
updated: a correction is a new version with a reason. A version is final when every member of
the enterprise's team has signed it (two-person rule); the finding's public result is its latest
final version. ``published_result`` records when each version went out on the public site.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from findings.categories import ResultCategory
from shuangsui.dbtypes import enum_type


class Finding(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("round_key", "credit_code"),)

    id: int | None = Field(default=None, primary_key=True)
    round_key: str = Field(foreign_key="round.round_key", index=True)
    credit_code: str = Field(max_length=18, index=True)
    created_at: datetime


class FindingVersionBase(SQLModel):
    result: ResultCategory = Field(sa_type=enum_type(ResultCategory))
    check_date: date
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # [{"body", "number", "action"}] sorted by (body, number)
    certificates: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{"kind", "deadline" (ISO date or ""), "text"}]
    measures: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{"sha256", "filename"}]
    evidence: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    internal_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class FindingVersion(FindingVersionBase, table=True):
    __tablename__ = "finding_version"
    __table_args__ = (UniqueConstraint("finding_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    version: int
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    submitted_by: str  # "inspector:<id>" | "coordinator:<name>" | "import:<file sha256>"
    content_hash: str = Field(max_length=64)
    created_at: datetime


class FindingSignoff(SQLModel, table=True):
    __tablename__ = "finding_signoff"

    version_id: int = Field(primary_key=True, foreign_key="finding_version.id")
    inspector_id: str = Field(primary_key=True)
    via: str  # api | workspace | import | correction | demo
    signed_at: datetime


class FindingChange(SQLModel, table=True):
    """One row for each row of ``finding``, ``finding_version`` or ``finding_signoff`` inserted,
    updated or deleted, naming its round; written by the database's own triggers (migration
    0017), in the writer's transaction, whoever the writer is; never updated or deleted, so its
    ids only grow (each new one the largest plus one, on SQLite too). The public site's
    fingerprint of a round is the count and the largest id of its rows here
    (``website.inputs``), read on one narrow index instead of counting three tables, and an
    update in place is seen too."""

    __tablename__ = "finding_change"
    __table_args__ = (Index("ix_finding_change_round", "round_key", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    round_key: str


class Evidence(SQLModel, table=True):
    """An evidence file, stored content-addressed under ``$SHUANGSUI_HOME/evidence/<sha256>``."""

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    media_type: str
    filename: str = ""
    uploaded_by: str = ""
    stored_at: datetime


class EvidenceLink(SQLModel, table=True):
    """An assignment (round, enterprise) an evidence file came in through: one row for each
    assignment the same bytes were uploaded for (the file and its :class:`Evidence` row stay
    one), written in the transaction of the upload's row (``findings.evidence.record``). A
    version may cite only files linked to its own assignment
    (``findings.service.reference_problems``) and an assignment's pages serve only those, so a
    digest learned elsewhere carries no other enterprise's file into this record. Migration
    0021 linked each file cited by an earlier version to that version's assignment, and each
    file an inspector's page attached (``EvidenceAttached``) to the page's."""

    __tablename__ = "evidence_link"

    round_key: str = Field(primary_key=True, foreign_key="round.round_key")
    credit_code: str = Field(primary_key=True, max_length=18)
    sha256: str = Field(primary_key=True, max_length=64, foreign_key="evidence.sha256")
    uploaded_by: str  # the upload's (migration 0021: the citing version's submitter)
    linked_at: datetime


class CoordinatorToken(SQLModel, table=True):
    """A coordinator's API token; only its SHA-256 is stored."""

    __tablename__ = "coordinator_token"

    name: str = Field(primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    bureau_code: str = Field(max_length=6)
    created_at: datetime
    revoked_at: datetime | None = None


class InspectorTokenRevocation(SQLModel, table=True):
    """An inspector whose links no longer open anything: in one round, or in every round
    (``round_key`` empty). Inspector tokens are HMACs, so they are refused by this row."""

    __tablename__ = "inspector_token_revocation"

    inspector_id: str = Field(primary_key=True)
    round_key: str = Field(primary_key=True, default="")
    revoked_by: str
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    revoked_at: datetime


class PublishedResult(SQLModel, table=True):
    __tablename__ = "published_result"

    version_id: int = Field(primary_key=True, foreign_key="finding_version.id")
    finding_id: int = Field(foreign_key="finding.id", index=True)
    published_at: datetime
