"""Our append-only log: appends serialised on the head row, checkpoints, ranges and proofs.

``append`` runs inside the caller's transaction (so a round's record commits with its draw);
it first takes the log's write lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: the
database write lock, taken by an UPDATE before any read), so sequence numbers are contiguous
and in commit order: a reader never sees seq 12 before 11 has committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlmodel import Session, col

from draw.merkle import leaf_hash
from exchange import proofs
from exchange.entries import make_entry
from exchange.keys import BureauKey, load_or_create
from exchange.models import ExchangeCheckpoint, ExchangeEntry, ExchangeHead
from exchange.notes import format_checkpoint

logger = logging.getLogger(__name__)
LOCK_KEY = 0x5353_4558  # "SSEX": the advisory lock of the log's head


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lock_head(session: Session) -> ExchangeHead:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    else:  # a write first: SQLite hands out its one write lock before we read the head
        session.execute(
            update(ExchangeHead).where(col(ExchangeHead.id) == 1).values(size=ExchangeHead.size)
        )
    head = session.get(ExchangeHead, 1, populate_existing=True)
    if head is None:
        head = ExchangeHead(id=1, size=0, frontier=[])
        session.add(head)
        session.flush()
    return head


def append(
    session: Session,
    *,
    origin: str,
    entry_id: str,
    kind: str,
    body: dict[str, Any],
    supersedes: str | None = None,
) -> ExchangeEntry:
    """Append one entry (idempotent by ``entry_id``) in the session's transaction."""
    head = _lock_head(session)
    existing = session.exec(  # type: ignore[call-overload]
        select(ExchangeEntry).where(col(ExchangeEntry.entry_id) == entry_id)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    if supersedes is not None:
        target = session.exec(  # type: ignore[call-overload]
            select(col(ExchangeEntry.seq)).where(col(ExchangeEntry.entry_id) == supersedes)
        ).scalar_one_or_none()
        if target is None:
            from shuangsui.errors import NotFound

            raise NotFound(f"entry {supersedes} is not in our log: nothing to supersede")
    at = _now()
    data = make_entry(origin=origin, seq=head.size, entry_id=entry_id, kind=kind, at=at,
                      body=body, supersedes=supersedes)  # fmt: skip
    lh = leaf_hash(data)
    row = ExchangeEntry(seq=head.size, entry_id=entry_id, kind=kind, supersedes=supersedes,
                        body=data.decode(), leaf_hash=lh.hex(), created_at=at)  # fmt: skip
    session.add(row)
    frontier = [bytes.fromhex(h) for h in head.frontier]
    proofs.frontier_append(frontier, head.size, lh)
    head.frontier = [h.hex() for h in frontier]
    head.size += 1
    session.add(head)
    session.flush()
    logger.info("log %s: appended %s %s as entry %d", origin, kind, entry_id, row.seq)
    return row


def head_of(session: Session) -> tuple[int, bytes]:
    head = session.get(ExchangeHead, 1, populate_existing=True)
    if head is None:
        return 0, proofs.frontier_root([])
    return head.size, proofs.frontier_root([bytes.fromhex(h) for h in head.frontier])


def latest_checkpoint(
    engine: Engine, *, key: BureauKey | None = None, max_age: int = 300
) -> ExchangeCheckpoint:
    """The newest signed checkpoint; a new one is signed when the tree grew or it is too old."""
    with Session(engine, expire_on_commit=False) as session:
        size, root = head_of(session)
        last = session.exec(  # type: ignore[call-overload]
            select(ExchangeCheckpoint).order_by(col(ExchangeCheckpoint.id).desc()).limit(1)
        ).scalar_one_or_none()
        now = _now()
        fresh = last is not None and last.size == size and last.root == root.hex()
        if (
            fresh
            and last is not None
            and last.issued_at.replace(tzinfo=dt.UTC) > now - dt.timedelta(seconds=max_age)
        ):
            return last
        key = key or load_or_create()
        text = format_checkpoint(key.origin, size, root, now, key.private)
        cp = ExchangeCheckpoint(size=size, root=root.hex(), issued_at=now, text=text)
        session.add(cp)
        session.commit()
        return cp


def entries_range(session: Session, start: int, end: int) -> list[ExchangeEntry]:
    q = (
        select(ExchangeEntry)
        .where(col(ExchangeEntry.seq) >= start, col(ExchangeEntry.seq) < end)
        .order_by(col(ExchangeEntry.seq))
    )
    return list(session.exec(q).scalars())  # type: ignore[call-overload]


def leaf_hashes(session: Session, size: int) -> list[bytes]:
    q = (
        select(col(ExchangeEntry.leaf_hash))
        .where(col(ExchangeEntry.seq) < size)
        .order_by(col(ExchangeEntry.seq))
    )
    return [bytes.fromhex(h) for h in session.execute(q).scalars()]


def inclusion(session: Session, index: int, size: int) -> list[bytes]:
    hashes = leaf_hashes(session, size)
    if len(hashes) != size:
        raise ValueError(f"the log has fewer than {size} entries")
    return proofs.inclusion_proof_from_hashes(index, hashes)


def consistency(session: Session, first: int, second: int) -> list[bytes]:
    hashes = leaf_hashes(session, second)
    if len(hashes) != second:
        raise ValueError(f"the log has fewer than {second} entries")
    return proofs.consistency_proof(first, hashes)
