"""Witnessing (C2SP tlog-cosignature): what we cosigned, what partners cosigned, and quorum.

We cosign a partner's checkpoint once sync has verified it is consistent with the largest one
we cosigned before (our witnessed view). Each bureau serves its latest cosigned checkpoint of
every partner (``GET /exchange/v1/cosignatures``); pulling a partner we read that list too:
cosignatures on OUR checkpoints are kept and published on our checkpoint (extra signature
lines), those on a third bureau's checkpoints count towards that bureau's quorum, and every
checkpoint in it is compared with all we have seen (``equivocation``).

Quorum for a tree head (origin, size, root): the distinct witnesses other than the origin
with a valid cosignature on a checkpoint of that origin, size and root (any time line).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session, col

from exchange.cosign import cosign, find_cosignatures, join_note, origin_lines, split_note
from exchange.directory import Partner
from exchange.errors import NoteError
from exchange.keys import BureauKey
from exchange.models import ExchangeCheckpoint, ExchangeCosignature
from exchange.notes import Checkpoint, VerifierKey, parse_checkpoint

logger = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def origin_note(cp: Checkpoint, origin_key: VerifierKey) -> str:
    """The checkpoint note with only its origin's signature line(s): no cosignature."""
    body, lines = split_note(cp.text)
    return join_note(body, origin_lines(lines, origin_key))


def witnesses_for(origin: str, partners: dict[str, Partner], us: BureauKey) -> list[VerifierKey]:
    """The witness keys that count for ``origin``'s quorum: every partner's and ours, not the
    origin's own."""
    keys = [k for p in partners.values() if p.origin != origin for k in p.keys]
    return keys + ([us.public] if us.origin != origin else [])


def store(session: Session, cp: Checkpoint, note: str, witness: str, timestamp: int,
          line: str) -> None:  # fmt: skip
    """Keep one cosignature per (origin, witness, tree head): the latest."""
    row = session.exec(  # type: ignore[call-overload]
        select(ExchangeCosignature).where(
            col(ExchangeCosignature.origin) == cp.origin,
            col(ExchangeCosignature.witness) == witness,
            col(ExchangeCosignature.size) == cp.size,
            col(ExchangeCosignature.root) == cp.root.hex(),
        )
    ).scalar_one_or_none()
    if row is None:
        row = ExchangeCosignature(origin=cp.origin, witness=witness, size=cp.size,
                                  root=cp.root.hex(), timestamp=timestamp, checkpoint=note,
                                  line=line, received_at=_now())  # fmt: skip
    elif row.timestamp >= timestamp:
        return
    else:
        row.timestamp, row.checkpoint, row.line, row.received_at = timestamp, note, line, _now()
    session.add(row)
    session.flush()


def witnessed(session: Session, origin: str, me: str) -> ExchangeCosignature | None:
    """Our witnessed view of ``origin``: the largest checkpoint we cosigned."""
    q = (
        select(ExchangeCosignature)
        .where(col(ExchangeCosignature.origin) == origin, col(ExchangeCosignature.witness) == me)
        .order_by(col(ExchangeCosignature.size).desc())
        .limit(1)
    )
    return session.exec(q).scalar_one_or_none()  # type: ignore[call-overload, no-any-return]


def cosign_checkpoint(session: Session, cp: Checkpoint, origin_key: VerifierKey,
                      us: BureauKey) -> str:  # fmt: skip
    """Cosign a partner checkpoint whose consistency the caller verified; the line."""
    note = origin_note(cp, origin_key)
    body, _ = split_note(note)
    timestamp = int(_now().timestamp())
    line = cosign(body, us.origin, us.private, timestamp)
    store(session, cp, note, us.origin, timestamp, line)
    return line


def ingest_lines(session: Session, cp: Checkpoint, origin_key: VerifierKey,
                 witnesses: list[VerifierKey]) -> list[str]:  # fmt: skip
    """Keep the valid cosignatures a checkpoint note carries; the witnesses' names."""
    body, lines = split_note(cp.text)
    note = origin_note(cp, origin_key)
    found = find_cosignatures(body, lines, witnesses)
    for c in found:
        store(session, cp, note, c.witness, c.timestamp, c.line)
    return [c.witness for c in found]


def cosigners(session: Session, origin: str, size: int, root: bytes,
              witnesses: list[VerifierKey]) -> set[str]:  # fmt: skip
    names = {k.name for k in witnesses if k.name != origin}
    q = select(col(ExchangeCosignature.witness)).where(
        col(ExchangeCosignature.origin) == origin,
        col(ExchangeCosignature.size) == size,
        col(ExchangeCosignature.root) == root.hex(),
    )
    return set(session.execute(q).scalars()) & names


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes
    note: str  # an origin-signed checkpoint of this head


def best_head(session: Session, origin: str, low: int, high: int, quorum: int,
              witnesses: list[VerifierKey]) -> Head | None:  # fmt: skip
    """The largest tree head of ``origin`` with size in (low, high] cosigned by ``quorum``
    distinct counted witnesses."""
    names = {k.name for k in witnesses if k.name != origin}
    c = ExchangeCosignature
    q = (
        select(col(c.size), col(c.root), func.max(col(c.checkpoint)))
        .where(
            col(c.origin) == origin,
            col(c.size) > low,
            col(c.size) <= high,
            col(c.witness).in_(sorted(names)),
        )  # fmt: skip
        .group_by(col(c.size), col(c.root))
        .having(func.count(func.distinct(col(c.witness))) >= quorum)
        .order_by(col(c.size).desc())
    )
    for size, root, note in session.execute(q):
        return Head(size, bytes.fromhex(root), note)
    return None


def served(session: Session, me: str) -> list[str]:
    """Our latest cosigned checkpoint of each origin: its note with our cosignature line."""
    c = ExchangeCosignature
    latest = (
        select(col(c.origin), func.max(col(c.size)).label("size"))
        .where(col(c.witness) == me)
        .group_by(col(c.origin))
        .subquery()
    )
    q = (
        select(col(c.checkpoint), col(c.line))
        .join(latest, (latest.c.origin == col(c.origin)) & (latest.c.size == col(c.size)))
        .where(col(c.witness) == me)
        .order_by(col(c.origin))
    )
    out = []
    for note, line in session.execute(q):
        body, lines = split_note(note)
        out.append(join_note(body, [*lines, line]))
    return out


def on_our_checkpoint(session: Session, me: str, note: str) -> str:
    """Our checkpoint note with the cosignature lines partners made on exactly its body."""
    rows = session.execute(
        select(col(ExchangeCosignature.line))
        .where(col(ExchangeCosignature.origin) == me, col(ExchangeCosignature.checkpoint) == note)
        .order_by(col(ExchangeCosignature.witness))
    ).scalars()
    body, lines = split_note(note)
    return join_note(body, [*lines, *rows])


def take_ours(session: Session, note: str, witness: list[VerifierKey], us: BureauKey) -> bool:
    """A partner's cosignature on one of OUR checkpoints (from its cosignatures list): kept
    when the note is a checkpoint we signed and the cosignature verifies."""
    try:
        cp = parse_checkpoint(note, [us.public], us.origin)
        body, lines = split_note(note)
        found = find_cosignatures(body, lines, witness)
    except NoteError as exc:
        logger.warning("a cosignature on our checkpoint refused: %s", exc)
        return False
    ours = origin_note(cp, us.public)
    signed = session.execute(
        select(col(ExchangeCheckpoint.id)).where(col(ExchangeCheckpoint.text) == ours)
    ).first()
    if not found or signed is None:
        return False
    for c in found:
        store(session, cp, ours, c.witness, c.timestamp, c.line)
    return True
