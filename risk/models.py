"""Tables of risk classification: runs, their classes, overrides, upheld complaints.

``risk_run`` is one classification of every active enterprise as of a date, under one set of
rules (hash and text kept); ``risk_class`` its rows, never updated (history is every run).
The classification in force at an instant is the latest run stored before it, with the
overrides approved before it (risk/service.py).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.models import RiskClass
from shuangsui.dbtypes import enum_type


class RiskRun(SQLModel, table=True):
    __tablename__ = "risk_run"

    id: int | None = Field(default=None, primary_key=True)
    as_of: date
    rules_id: str
    rules_hash: str = Field(max_length=64)
    rules_text: str = Field(sa_column=Column(Text, nullable=False))
    computed_at: datetime = Field(index=True)
    computed_by: str = ""
    enterprises: int = 0
    counts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # SHA-256 over every "credit_code input_digest class\n" line, sorted by credit code
    digest: str = Field(default="", max_length=64)
    # secret: salts the complaint commitments of this run (never published)
    salt: str = Field(default="", max_length=64)


class RiskClassification(SQLModel, table=True):
    __tablename__ = "risk_class"
    __table_args__ = (Index("ix_risk_class_code", "credit_code", "run_id"),)

    run_id: int = Field(primary_key=True, foreign_key="risk_run.id")
    credit_code: str = Field(primary_key=True, max_length=18)
    risk_class: RiskClass = Field(sa_type=enum_type(RiskClass))
    score: int
    input_digest: str = Field(max_length=64)
    inputs: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON


class OverrideStatus:
    pending = "pending"
    approved = "approved"


class RiskOverride(SQLModel, table=True):
    """A class set by hand: requested by one coordinator with a reason, in force only once a
    second, different coordinator approves it; until another approved override replaces it."""

    __tablename__ = "risk_override"

    id: int | None = Field(default=None, primary_key=True)
    credit_code: str = Field(max_length=18, index=True)
    risk_class: RiskClass = Field(sa_type=enum_type(RiskClass))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    requested_by: str
    requested_at: datetime
    status: str = Field(default=OverrideStatus.pending, max_length=16)
    approved_by: str | None = None
    approved_at: datetime | None = Field(default=None, index=True)


class RiskComplaint(SQLModel, table=True):
    """An upheld complaint (投诉举报 found justified). Its reference and summary are not
    published: a classification publishes their count and a salted commitment."""

    __tablename__ = "risk_complaint"
    __table_args__ = (UniqueConstraint("credit_code", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    credit_code: str = Field(max_length=18, index=True)
    ref: str
    upheld_on: date
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    imported_at: datetime
    imported_by: str = ""
