"""Tables of joint rounds: ``joint_round`` (one row per joint round this bureau takes part in,
with its own secret nonce until it reveals) and ``joint_statement`` (every signed statement
held: commitments with their frames, reveals, refused reveals as evidence, findings)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


class JointRound(SQLModel, table=True):
    __tablename__ = "joint_round"

    joint_key: str = Field(primary_key=True, max_length=64)
    plan_hash: str = Field(max_length=64)
    plan_json: str = Field(sa_column=Column(Text, nullable=False))  # canonical joint plan
    lead: str = Field(max_length=6)
    nonce: str = Field(max_length=64)  # our secret until we reveal it
    status: str = Field(max_length=16)  # committed | revealed | drawn | failed
    outcome: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime
    decided_at: datetime | None = None


class JointStatement(SQLModel, table=True):
    """``kind``: commit, reveal, bad-reveal (refused: evidence), finding, replacement,
    announced (a commitment held without its frames, ``joint.store``)."""

    __tablename__ = "joint_statement"

    joint_key: str = Field(primary_key=True, max_length=64)
    bureau: str = Field(primary_key=True, max_length=6)
    kind: str = Field(primary_key=True, max_length=16)
    digest: str = Field(primary_key=True, max_length=64)  # statement_hash of the statement
    envelope: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, signed
    payload: str = Field(default="", sa_column=Column(Text, nullable=False))  # frames (commit)
    received_at: datetime
