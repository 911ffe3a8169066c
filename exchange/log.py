"""Our append-only log: appends serialised on the head row, checkpoints, ranges and proofs.

``append`` runs inside the caller's transaction (so a round's record commits with its draw);
it first takes the log's write lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: the
database write lock, taken by an UPDATE before any read), so sequence numbers are contiguous
and in commit order: a reader never sees seq 12 before 11 has committed. It also writes the
perfect subtrees each new leaf completes (``exchange_node``), so ``inclusion`` and
``consistency`` read O(log n) hashes (``proofs.nodes_of``), never the whole log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Engine, and_, or_, select, text, update
from sqlmodel import Session, col

from draw.merkle import leaf_hash
from exchange import kinds, proofs
from exchange.entries import Body, entry_text
from exchange.errors import NoteError
from exchange.keys import BureauKey, load_or_create
from exchange.models import ExchangeCheckpoint, ExchangeEntry, ExchangeHead, ExchangeNode
from exchange.notes import format_checkpoint, verify_note
from shuangsui.db import insert_rows, one_of, plan_each_execution, rows_of

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


class Appended(NamedTuple):
    """An entry of our log as appending returns it: the columns of ``exchange_entry``, in
    order (rows move through Core or the DBAPI as these tuples, not one ORM object each)."""

    seq: int
    entry_id: str
    kind: str
    supersedes: str | None
    body: str  # canonical JSON, the leaf data
    leaf_hash: str
    created_at: dt.datetime


_ENTRY = ExchangeEntry.__table__  # type: ignore[attr-defined]
_NODE = ExchangeNode.__table__  # type: ignore[attr-defined]
_COLUMNS = [_ENTRY.c[name] for name in Appended._fields]
_NODE_COLUMNS = ("level", "index", "hash")


class NewEntry(NamedTuple):
    """An entry to append (a named tuple: a publish makes one per result it shares)."""

    entry_id: str
    kind: str
    body: dict[str, Any] | Body  # a Body: written as canonical JSON already (entry_text)
    supersedes: str | None = None


def append(
    session: Session,
    *,
    origin: str,
    entry_id: str,
    kind: str,
    body: dict[str, Any],
    supersedes: str | None = None,
) -> Appended:
    """Append one entry (idempotent by ``entry_id``) in the session's transaction."""
    entry = NewEntry(entry_id, kind, body, supersedes)
    return append_many(session, origin=origin, entries=[entry])[0]


def _chunks(items: list[str], size: int = 1000) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def append_many(session: Session, *, origin: str, entries: Sequence[NewEntry]) -> list[Appended]:
    """Append ``entries`` in order, in the session's transaction, under one take of the write
    lock: the same entries, sequence numbers and tree as one ``append`` each, without a
    lock, a head read and a flush per entry. Idempotent by ``entry_id`` (an id already in the
    log, or earlier in ``entries``, returns that entry); a ``supersedes`` must name an entry
    in the log or earlier in ``entries``."""
    if not entries:
        return []
    kinds.refuse_breaking(session, {e.kind for e in entries})  # a kind a partner cannot take
    plan_each_execution(session)  # its look-ups, a chunk after another in one transaction
    head = _lock_head(session)
    conn = session.connection()
    ids = list(dict.fromkeys(e.entry_id for e in entries))
    found = [entry_id for (entry_id,) in rows_of(conn, _ENTRY, ("entry_id",), "entry_id", ids)]
    known: dict[str, Appended] = {}
    for chunk in _chunks(found):  # the entries in the log already, as they were appended
        q = select(*_COLUMNS).where(one_of(session, _ENTRY.c.entry_id, chunk))
        known.update((r.entry_id, Appended(*r)) for r in session.execute(q))
    targets = sorted({e.supersedes for e in entries if e.supersedes} - set(known))
    in_log = {entry_id for (entry_id,) in rows_of(conn, _ENTRY, ("entry_id",), "entry_id", targets)}
    frontier = [bytes.fromhex(h) for h in head.frontier]
    size, out, new, nodes = head.size, [], [], []
    at = _now()  # the moment of the append, one for the batch (appended under one lock)
    for e in entries:
        if e.entry_id in known:
            out.append(known[e.entry_id])
            continue
        if e.supersedes is not None and e.supersedes not in known and e.supersedes not in in_log:
            from shuangsui.errors import NotFound

            raise NotFound(f"entry {e.supersedes} is not in our log: nothing to supersede")
        data = entry_text(origin, size, e.entry_id, e.kind, at, e.body, e.supersedes)
        lh = leaf_hash(data.encode())
        row = Appended(size, e.entry_id, e.kind, e.supersedes, data, lh.hex(), at)
        for level, index, h in proofs.frontier_append(frontier, size, lh):
            nodes.append((level, index, h.hex()))
        size += 1
        known[e.entry_id] = row
        new.append(row)
        out.append(row)
    if new:
        insert_rows(session.connection(), _ENTRY, Appended._fields, new)
        insert_rows(session.connection(), _NODE, _NODE_COLUMNS, nodes)
        head.frontier = [h.hex() for h in frontier]
        head.size = size
        session.add(head)
        session.flush()
        first, last = new[0].seq, new[-1].seq
        logger.info("log %s: appended %d entries, %d to %d", origin, len(new), first, last)
    return out


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
        key = key or load_or_create()
        # signed at a time still to come (our clock was ahead then, and set back): every
        # partner refuses it (``exchange.client.ahead_by``); signed by a key we no longer
        # hold (a new one made): a partner that lists the new key alone refuses it. A new one
        # is signed either way.
        issued = last.issued_at.replace(tzinfo=dt.UTC) if last is not None else now
        if (
            fresh
            and last is not None
            and now - dt.timedelta(seconds=max_age) < issued <= now
            and _signed_by(last.text, key)
        ):
            return last
        text = format_checkpoint(key.origin, size, root, now, key.private)
        cp = ExchangeCheckpoint(size=size, root=root.hex(), issued_at=now, text=text)
        session.add(cp)
        session.commit()
        return cp


def _signed_by(note: str, key: BureauKey) -> bool:
    try:
        verify_note(note, [key.public])
    except NoteError:
        return False
    return True


def entries_range(session: Session, start: int, end: int) -> list[tuple[int, str]]:
    """``(seq, body)`` of the entries ``start <= seq < end``, in order: rows, not ORM objects
    (a feed page is a thousand of them)."""
    q = (
        select(_ENTRY.c.seq, _ENTRY.c.body)
        .where(_ENTRY.c.seq >= start, _ENTRY.c.seq < end)
        .order_by(_ENTRY.c.seq)
    )
    return [(seq, body) for seq, body in session.execute(q)]


def _stored(session: Session, wanted: set[proofs.Node]) -> dict[proofs.Node, bytes]:
    """The stored hashes of these subtrees: leaves from ``exchange_entry``, the rest from
    ``exchange_node``; one query each, one row per subtree."""
    found: dict[proofs.Node, bytes] = {}
    leaves = sorted(index for level, index in wanted if level == 0)
    if leaves:
        q = select(col(ExchangeEntry.seq), col(ExchangeEntry.leaf_hash)).where(
            col(ExchangeEntry.seq).in_(leaves)
        )
        found.update(((0, seq), bytes.fromhex(h)) for seq, h in session.execute(q))
    by_level: dict[int, list[int]] = {}
    for level, index in sorted(wanted):
        if level:
            by_level.setdefault(level, []).append(index)
    if by_level:  # level = ? AND index IN (...), OR'ed: a primary-key lookup on both databases
        q2 = select(_NODE.c.level, _NODE.c.index, _NODE.c.hash).where(
            or_(*(and_(_NODE.c.level == lv, _NODE.c.index.in_(ix)) for lv, ix in by_level.items()))
        )
        found.update(((level, index), bytes.fromhex(h)) for level, index, h in session.execute(q2))
    if len(found) != len(wanted):
        missing = sorted(wanted - set(found))[:5]
        raise RuntimeError(f"the log's tree lacks stored subtrees {missing}: run the migrations")
    return found


def _proof(session: Session, ranges: list[proofs.Range]) -> list[bytes]:
    return proofs.proof_from_nodes(ranges, _stored(session, proofs.nodes_of(ranges)))


def inclusion(session: Session, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[size]) from O(log size) stored hashes; ``size`` <= the log's."""
    if size > head_of(session)[0]:
        raise ValueError(f"the log has fewer than {size} entries")
    return _proof(session, proofs.inclusion_ranges(index, size))


def consistency(session: Session, first: int, second: int) -> list[bytes]:
    """RFC 6962 PROOF(first, D[second]) from O(log second) stored hashes."""
    if second > head_of(session)[0]:
        raise ValueError(f"the log has fewer than {second} entries")
    return _proof(session, proofs.consistency_ranges(first, second))
