"""The append-only, hash-chained audit log of rounds.

Every attempt to commit or draw a round, failed ones included, appends one typed event.
``hash = SHA-256(prev_hash_bytes || canonical JSON of {seq, at, round_key, event, payload})``,
the first ``prev_hash`` being 64 zeros. ``prev_hash`` is unique, so two concurrent writers that
read the same head collide on insert; the loser retries on the new head and the chain never forks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from rounds.models import AuditEvent
from shuangsui import writes
from shuangsui.db import insert_rows
from shuangsui.errors import IntegrityError as ChainBroken
from shuangsui.errors import UserError

logger = logging.getLogger(__name__)

GENESIS = "0" * 64


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------ typed events
@dataclass(frozen=True)
class RoundCommitted:
    plan_id: str
    plan_hash: str
    frame_commitment: str
    frame_merkle_root: str
    frame_size: int
    inspector_commitment: str
    inspector_frame_size: int
    entropy_plan: dict
    kind: str
    requested_by: str
    reason: str
    exclusions: int
    # draw version 2: the public view of the inspectors, committed before the entropy too
    draw_version: int = 1
    public_inspector_commitment: str = ""
    public_recused_commitment: str = ""

    @classmethod
    def of(cls, row: Any, *, exclusions: int) -> RoundCommitted:
        """The event of a just-committed ``Round`` row (its commitments and entropy named)."""
        return cls(
            plan_id=row.plan_id, plan_hash=row.plan_hash,
            frame_commitment=row.frame_commitment, frame_merkle_root=row.frame_merkle_root,
            frame_size=row.frame_size, inspector_commitment=row.inspector_commitment,
            inspector_frame_size=row.inspector_frame_size, entropy_plan=row.entropy_plan,
            kind=str(row.kind), requested_by=row.requested_by, reason=row.reason,
            exclusions=exclusions, draw_version=row.draw_version,
            public_inspector_commitment=row.public_inspector_commitment or "",
            public_recused_commitment=row.public_recused_commitment or "",
        )  # fmt: skip


@dataclass(frozen=True)
class PreflightAccepted:
    """A coordinator committed despite the preflight's reasons to hold: who, why, and which."""

    accepted_by: str
    reason: str
    refusals: list


@dataclass(frozen=True)
class EntropyRecorded:
    records: list


@dataclass(frozen=True)
class DrawMade:
    seed: str
    selected: int
    assignments: int
    counts: dict


@dataclass(frozen=True)
class DrawRefused:
    """New entropy offered for a round that already has its draw: refused, never used.

    ``offered_sha256`` is the SHA-256 of the canonical JSON of what was offered (digits,
    witnesses, reveal), so the attempt is traceable without the refused digits standing in
    the log as if they had counted."""

    seed: str
    requested_by: str
    offered_sha256: str = ""
    drawn_at: str = ""


@dataclass(frozen=True)
class DrawNotRecorded:
    """A draw made and not recorded, so nothing of it was kept and the round stays committed:
    each of its ``attempts`` collided with other writers (the log's head taken, a deadlock;
    ``collision``: the last), or the last of them failed otherwise (``error``: a notice
    template that does not render, a database that refused a write). ``seed`` is the draw's:
    the round drawn again with the same entropy records a ``DrawMade`` of the same seed;
    another seed there means other entropy was entered."""

    seed: str
    requested_by: str
    attempts: int
    collision: str
    error: str = ""


@dataclass(frozen=True)
class DrawFailed:
    reason: str
    error: str


@dataclass(frozen=True)
class EntropyAwaited:
    reason: str


@dataclass(frozen=True)
class NotificationsQueued:
    count: int
    unreachable: list = field(default_factory=list)


@dataclass(frozen=True)
class RoundClosed:
    """Every drawn enterprise has a final, published finding."""

    results: int


def event_name(event: object) -> str:
    return type(event).__name__


def _payload(event: object) -> str:
    """``_canonical(dataclasses.asdict(event))``, the same text, without ``asdict``'s deep copy
    of every field (a bulk append's thousands of events, one of them holding 50,000 lead ids):
    the event's own fields, a dataclass nested in one turned into its fields where JSON meets
    it, as ``asdict`` turns it."""
    return json.dumps(vars(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_nested)  # fmt: skip


def _nested(value: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def chain_hash(
    prev_hash: str, seq: int, at: str, round_key: str | None, name: str, payload: str
) -> str:
    body = _canonical(
        {"seq": seq, "at": at, "round_key": round_key, "event": name, "payload": payload}
    )
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def add_to(session: Session, round_key: str | None, event: object) -> AuditEvent:
    """Add one event to the caller's transaction: it commits, or rolls back, with the work it
    records. A concurrent append on the same head makes it fail on ``prev_hash`` (an
    ``IntegrityError`` at the flush here, or at the commit); the caller retries."""
    payload = _payload(event)
    name = event_name(event)
    head = (
        session.exec(  # type: ignore[call-overload]
            select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)  # type: ignore[attr-defined]
        )
        .scalars()
        .first()
    )
    seq = head.seq + 1 if head else 1
    prev = head.hash if head else GENESIS
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    row = AuditEvent(
        seq=seq,
        at=datetime.fromisoformat(at),
        round_key=round_key,
        event=name,
        payload=payload,
        prev_hash=prev,
        hash=chain_hash(prev, seq, at, round_key, name, payload),
    )
    session.add(row)
    session.flush()
    return row


COLUMNS = ("seq", "at", "round_key", "event", "payload", "prev_hash", "hash")


def add_many(session: Session, round_key: str | None, events: Sequence[object]) -> None:
    """Add ``events``, in order, to the caller's transaction, as :func:`add_to` called once an
    event would: the same rows (each stamped when it is chained, as ``add_to`` stamps it), but
    the log's head read once and the rows inserted as tuples (``shuangsui.db.insert_rows``:
    one ``executemany``, ``COPY`` on PostgreSQL), with no ``AuditEvent`` and no dict built an
    event. For a bulk path (``leads import``: thousands of events).

    Concurrent writers are caught as ``add_to`` catches them: a concurrent append on the head
    read here makes the insert fail on ``prev_hash`` (an ``IntegrityError`` here, or at the
    commit); the caller retries."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    session.flush()  # what the caller added first is written first
    db = session.connection()
    last = select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
    head = db.execute(last).one_or_none()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for event in events:
        seq += 1
        payload = _payload(event)
        name = event_name(event)
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        digest = chain_hash(prev, seq, at, round_key, name, payload)
        stamp = datetime.fromisoformat(at)
        rows.append((seq, stamp, round_key, name, payload, prev, digest))
        prev = digest
    insert_rows(db, table, COLUMNS, rows)


def append(
    engine: Engine, round_key: str | None, event: object, *, attempts: int = 20
) -> AuditEvent:
    """Append one event in a transaction of its own (so failures are logged even when the
    caller's work is rolled back); a writer that lost the race for the next ``seq`` reads the
    head again and tries again (``shuangsui.writes.write``)."""

    def work(session: Session) -> AuditEvent:
        return add_to(session, round_key, event)

    def gave_up(collision: str) -> Exception:
        return RuntimeError(f"could not append to the audit log: too much contention ({collision})")

    row = writes.write(engine, work, what=f"audit {event_name(event)}", attempts=attempts,
                       gave_up=gave_up)  # fmt: skip
    logger.info("audit %s %s seq=%d", row.event, round_key, row.seq)
    return row


def verify_chain(rows: Iterable[AuditEvent]) -> int:
    """Check every link; return the number of events. Raise naming the first broken one."""
    prev = GENESIS
    n = 0
    for n, row in enumerate(rows, start=1):
        if row.seq != n:
            raise ChainBroken(f"audit log: expected seq {n}, found {row.seq} (an event is missing)")
        if row.prev_hash != prev:
            raise ChainBroken(f"audit log: event {row.seq} does not link to event {row.seq - 1}")
        at = _iso(row.at)
        expected = chain_hash(prev, row.seq, at, row.round_key, row.event, row.payload)
        if row.hash != expected:
            raise ChainBroken(f"audit log: event {row.seq} ({row.event}) was altered")
        prev = row.hash
    return n


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands timestamps back naive; they were written in UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def check_chain(engine: Engine) -> int:
    """Load and check the whole audit log (:func:`verify_chain`); its number of events."""
    with Session(engine) as session:
        return verify_chain(load_chain(session))


def round_events(session: Session, round_key: str) -> list[AuditEvent]:
    """The round's events, in order, read by its key (the chain not checked here)."""
    stmt = select(AuditEvent).where(AuditEvent.round_key == round_key)  # type: ignore[arg-type]
    return list(session.exec(stmt.order_by(AuditEvent.seq)).scalars())  # type: ignore[call-overload,arg-type]


def load_chain(session: Session, round_key: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)  # type: ignore[arg-type]
    rows = list(session.exec(stmt).scalars())  # type: ignore[call-overload]
    if round_key is not None:
        verify_chain(rows)
        return [r for r in rows if r.round_key == round_key]
    return rows


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as an auditor wrote a log's head down (``round audit`` prints it)."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if not (sep and seq.isdigit() and int(seq) > 0 and len(digest) == 64) or any(
        c not in "0123456789abcdef" for c in digest
    ):
        raise UserError(f"--expect {text}: expected SEQ:HASH, e.g. 400:{'0' * 64}")
    return int(seq), digest


def check_head(rows: Sequence[AuditEvent], seq: int, digest: str) -> None:
    """The log (``rows``, its chain checked: :func:`verify_chain`) still holds event ``seq``
    with the hash written down earlier. The chain links every event to the ones before it, so
    that one hash vouches for the whole log up to ``seq``: a log cut short before it, or
    rewritten at or before it (every later hash computed again, so the chain itself checks),
    fails here, naming which."""
    if seq > len(rows):
        raise ChainBroken(
            f"audit log: event {seq} expected, the log ends at event {len(rows)} "
            "(events were removed from its end)"
        )
    found = rows[seq - 1].hash
    if found != digest:
        raise ChainBroken(
            f"audit log: event {seq} has hash {found}, {digest} expected (the log was "
            f"rewritten at or before event {seq})"
        )
