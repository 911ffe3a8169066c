"""Tables of the exchange: our log, our checkpoints, the nonce store, and what we pulled.

Our log: ``exchange_head`` (one row: size and compact range, locked by every append so
sequence numbers are contiguous in commit order), ``exchange_entry`` (leaf ``seq`` = the
canonical entry bytes), ``exchange_node`` (every complete perfect subtree above the leaves,
written by the append that completes it: proofs read O(log n) of them),
``exchange_checkpoint`` (every checkpoint we signed).
Partners: ``partner_state`` (cursor = verified size, root, compact range, last checkpoint, and
the sync status the coordinator sees), ``partner_entry`` (their verified entries),
``partner_conflict`` (evidence of a rewritten history), ``assistance_case`` (执法互助, both ways).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class ExchangeHead(SQLModel, table=True):
    __tablename__ = "exchange_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int = 0
    frontier: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ExchangeEntry(SQLModel, table=True):
    __tablename__ = "exchange_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry_id: str = Field(unique=True)
    kind: str = Field(index=True, max_length=32)
    supersedes: str | None = None
    body: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, the leaf data
    leaf_hash: str = Field(max_length=64)
    created_at: datetime


class ExchangeNode(SQLModel, table=True):
    """The hash of the perfect subtree of leaves [index·2^level, (index+1)·2^level), level >= 1
    (level 0 is ``exchange_entry.leaf_hash``). Never changes once written."""

    __tablename__ = "exchange_node"

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: str = Field(max_length=64)


class ExchangeCheckpoint(SQLModel, table=True):
    __tablename__ = "exchange_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(index=True)
    root: str = Field(max_length=64)
    issued_at: datetime = Field(index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))


class ExchangeNonce(SQLModel, table=True):
    """Nonces of signed requests already seen, kept until the signature would have expired."""

    __tablename__ = "exchange_nonce"

    key_id: str = Field(primary_key=True)
    nonce: str = Field(primary_key=True)
    expires_at: datetime = Field(index=True)


class PartnerState(SQLModel, table=True):
    __tablename__ = "partner_state"

    partner_code: str = Field(primary_key=True, max_length=6)
    size: int = 0  # the cursor: entries [0, size) verified and applied
    root: str = Field(default="", max_length=64)
    frontier: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    checkpoint: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # never | ok | failed | rewritten | quorum (below the witness quorum) | equivocated
    status: str = Field(default="never", max_length=16)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    flagged: bool = False  # a rewritten history was seen: evidence in partner_conflict
    # what the partner said, at its last sync, of the entry kinds it reads (exchange.kinds)
    about: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


# The rows of entries kept unread (kind "?<kind>"), indexed apart: their count is read by
# every ``partners status`` and partners page, and PostgreSQL's collation (zh-CN in CI) keeps
# the kind index from giving them as a range of "?..." (migration 0025).
UNREAD_ROWS = text("kind LIKE '?%'")


class PartnerEntry(SQLModel, table=True):
    __tablename__ = "partner_entry"
    __table_args__ = (
        Index(
            "ix_partner_entry_unread",
            "partner_code",
            "kind",
            postgresql_where=UNREAD_ROWS,
            sqlite_where=UNREAD_ROWS,
        ),  # fmt: skip
    )

    partner_code: str = Field(primary_key=True, max_length=6)
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry_id: str = Field(index=True)
    kind: str = Field(index=True, max_length=32)
    supersedes: str | None = None
    credit_code: str | None = Field(default=None, index=True, max_length=18)
    check_item: str | None = Field(default=None, index=True)  # in OUR check-item codes
    event_date: date | None = None
    body: str = Field(sa_column=Column(Text, nullable=False))
    leaf_hash: str = Field(max_length=64)
    applied_at: datetime


class PartnerConflict(SQLModel, table=True):
    __tablename__ = "partner_conflict"

    id: int | None = Field(default=None, primary_key=True)
    partner_code: str = Field(index=True, max_length=6)
    detected_at: datetime
    reason: str = Field(sa_column=Column(Text, nullable=False))
    trusted_checkpoint: str = Field(sa_column=Column(Text, nullable=False))
    conflicting_checkpoint: str = Field(sa_column=Column(Text, nullable=False))
    proof: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class AssistanceCase(SQLModel, table=True):
    """One assistance request: ``outgoing`` (we asked) or ``incoming`` (a partner asks us)."""

    __tablename__ = "assistance_case"

    requester: str = Field(primary_key=True, max_length=6)
    request_id: str = Field(primary_key=True)
    direction: str = Field(max_length=16)
    target: str = Field(max_length=6)
    credit_code: str = Field(max_length=18)
    check_item: str
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="pending", index=True, max_length=16)
    request_entry_hash: str = Field(default="", max_length=64)
    answer: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    result: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime


class ExchangeCosignature(SQLModel, table=True):
    """A witness's C2SP cosignature on a checkpoint of ``origin`` (ours, or a partner's): the
    origin-signed note (only the origin's signature line) and the cosignature line. Ours on
    partners' checkpoints (``witness`` = our name) are our witnessed view of each partner."""

    __tablename__ = "exchange_cosignature"
    __table_args__ = (UniqueConstraint("origin", "witness", "size", "root"),)

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(index=True, max_length=64)
    witness: str = Field(max_length=64)
    size: int
    root: str = Field(max_length=64)
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))  # POSIX seconds
    checkpoint: str = Field(sa_column=Column(Text, nullable=False))
    line: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime


class SeenCheckpoint(SQLModel, table=True):
    """Every validly signed checkpoint of a partner we have seen, wherever (our sync, a
    partner's cosigned checkpoints): two of one size with different roots is equivocation."""

    __tablename__ = "seen_checkpoint"
    __table_args__ = (UniqueConstraint("origin", "size", "root"),)

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(index=True, max_length=64)
    size: int
    root: str = Field(max_length=64)
    checkpoint: str = Field(sa_column=Column(Text, nullable=False))
    source: str
    seen_at: datetime


class EquivocationProof(SQLModel, table=True):
    """A signed, shareable proof that ``origin`` signed two checkpoints of one size with
    different roots (found by us, or gossiped by a partner): canonical JSON in ``proof``."""

    __tablename__ = "equivocation_proof"
    __table_args__ = (UniqueConstraint("digest"),)

    id: int | None = Field(default=None, primary_key=True)
    origin: str = Field(index=True, max_length=64)
    size: int
    found_by: str = Field(max_length=64)
    received_from: str | None = Field(default=None, max_length=64)  # None: we found it
    digest: str = Field(max_length=64)  # SHA-256 of the proof's canonical JSON
    proof: str = Field(sa_column=Column(Text, nullable=False))
    detected_at: datetime
