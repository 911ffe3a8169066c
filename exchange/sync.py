"""Pull one partner: checkpoint -> witness -> quorum -> entries -> root -> apply + cursor.

Anything wrong (down, slow, bad signature, malformed or truncated page, a gap, entries that do
not hash to the signed root) and nothing is applied: the cursor stays, ``partner_state`` says
why, the next sync resumes from the cursor. A checkpoint inconsistent with one the partner
signed before is a rewritten history: flagged, with both checkpoints and the failed proof kept
in ``partner_conflict``; we never follow it. A sync that breaks on a fault not the partner's
(a bug, our own database) is undone whole too, and ``partner_state`` says ``error`` and why.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from draw.merkle import empty_root, leaf_hash
from exchange import answers, equivocation, kinds, proofs, witness
from exchange.apply import Verified, apply_entries, reread, said, unread
from exchange.client import PartnerClient
from exchange.directory import Directory, Partner, read_directory
from exchange.entries import iso, parse_entry
from exchange.errors import (
    BelowQuorum,
    EntryRefused,
    Equivocated,
    HistoryRewritten,
    NoteError,
    SyncRejected,
)
from exchange.keys import BureauKey, load_or_create
from exchange.models import PartnerConflict, PartnerState
from exchange.notes import Checkpoint, VerifierKey, parse_checkpoint
from exchange.turns import partner_turn
from shuangsui.collector import collector_paused
from shuangsui.config import get_settings
from shuangsui.text import CONTROL_IN_TEXT, cut, one_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    partner: str
    # ok | failed | refused (an entry of its log, for good) | rewritten | quorum | equivocated |
    # error (not the partner's fault)
    status: str
    before: int
    after: int
    applied: int = 0  # new entries kept, those kept unread included
    error: str | None = None
    unread: dict[str, int] = field(default_factory=dict)  # kind -> new entries kept unread
    reread: int = 0  # entries kept unread before, applied now that this shuangsui knows the kind
    about: str | None = None  # what it said of the entry kinds it reads, when worth a line


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _state(engine: Engine, code: str) -> PartnerState:
    with Session(engine, expire_on_commit=False) as session:
        state = session.get(PartnerState, code)
        if state is None:
            session.add(PartnerState(partner_code=code))
            try:
                session.commit()
            except Exception:  # a concurrent first sync created it
                session.rollback()
            state = session.get(PartnerState, code)
        assert state is not None
        return state


def fetch_range(
    client: PartnerClient, partner: Partner, start: int, end: int
) -> Iterator[tuple[int, bytes]]:
    """Entries [start, end) as (seq, leaf bytes), a page at a time, never the range whole:
    each the next in sequence, or SyncRejected. Their content is checked as they are applied
    (``Spool.chunks``), once the range's root is."""
    want = start
    for page in client.pages(start, end):
        if not page:
            raise SyncRejected(f"partner {partner.code}: empty page at {want}")
        for item in page:
            if not isinstance(item, dict) or item.get("seq") != want:
                got = item.get("seq") if isinstance(item, dict) else item
                raise SyncRejected(  # what came, cut: a seq of 4,000 digits was kept whole
                    f"partner {partner.code}: gap: expected entry {want}, got {_cut(got)}"
                )
            if want >= end or not isinstance(item.get("entry"), str):
                raise SyncRejected(f"partner {partner.code}: malformed entry {want}")
            yield want, item["entry"].encode()
            want += 1
    if want != end:
        raise SyncRejected(
            f"partner {partner.code}: truncated: entries stop at {want}, the checkpoint has {end}"
        )


def _cut(value: Any) -> str:
    """A partner's value in a reason: its JSON text, at most 40 characters, printable."""
    return answers.shown(json.dumps(value, ensure_ascii=False), 40)


# Applied this many entries at a time, in the sync's one transaction.
APPLY_CHUNK = 5_000


class Spool:
    """The range being pulled, kept on disk until all of it hashes to the signed root, then
    read back and applied ``APPLY_CHUNK`` entries at a time: a sync's memory does not grow with
    its range (a bureau back after months offline, or a partner new to the directory, pulls
    everything since its cursor; held as parsed entries, that was 3.6 KB of memory each).

    An anonymous temporary file in ``directory`` (the data directory), gone when closed or
    with the process. Each entry: its length (4 bytes, big-endian), its leaf hash (32 bytes),
    its leaf bytes; in sequence order from ``start``."""

    def __init__(self, start: int, directory: Path) -> None:
        self.start, self.count, self.directory = start, 0, directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=directory)
        except OSError as exc:
            raise self._failed(exc) from None

    def add(self, data: bytes, leaf: bytes) -> None:
        try:
            self._file.write(len(data).to_bytes(4, "big") + leaf + data)
        except OSError as exc:  # the disk is full: a failed sync, its reason recorded
            raise self._failed(exc) from None
        self.count += 1

    def _failed(self, exc: OSError) -> SyncRejected:
        return SyncRejected(f"the entries could not be kept in {self.directory}: {exc}")

    def chunks(self, partner: Partner, size: int) -> Iterator[list[Verified]]:
        """The entries, ``size`` at a time, each parsed and checked on the way (``parse_entry``:
        canonical JSON, the partner's origin, its own seq, a kind) or SyncRejected."""
        self._file.seek(0)
        read, end = self._file.read, self.start + self.count
        for first in range(self.start, end, size):
            chunk = []
            for seq in range(first, min(first + size, end)):
                n, leaf = int.from_bytes(read(4), "big"), read(32)
                data = read(n)
                try:
                    doc = parse_entry(data, origin=partner.origin, seq=seq)
                except ValueError as exc:  # "entry <seq>: <field>: <rule>"
                    what = str(exc).removeprefix(f"entry {seq}: ")
                    raise EntryRefused(partner.code, seq, what) from None
                chunk.append(Verified(seq, data, doc, leaf))
            yield chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class View:
    """What we trust of a partner's log: the larger of our cursor and our witnessed view."""

    size: int
    root: bytes
    checkpoint: str


def _view(engine: Engine, state: PartnerState, origin: str, me: str) -> View:
    with Session(engine) as session:
        seen = witness.witnessed(session, origin, me)
        if seen is not None and seen.size > state.size:
            return View(seen.size, bytes.fromhex(seen.root), seen.checkpoint)
    root = bytes.fromhex(state.root) if state.root else empty_root()
    return View(state.size, root, state.checkpoint)


def _check_history(client: PartnerClient, view: View, cp: Checkpoint) -> None:
    m, trusted = view.size, view.root
    proof: list[bytes] = []
    if cp.size < m:
        _older(client, view, cp)
        reason = f"the new checkpoint has {cp.size} entries, fewer than the {m} it signed before"
    elif cp.size == m:
        if cp.root == trusted:
            return
        reason = f"two checkpoints of size {m} with different roots"
    elif m == 0:
        return
    else:
        proof = client.consistency(m, cp.size)
        if proofs.verify_consistency(m, cp.size, trusted, cp.root, proof):
            return
        reason = f"the consistency proof from size {m} to {cp.size} does not verify"
    raise HistoryRewritten(
        f"partner {client.partner.code} REWROTE ITS HISTORY: {reason}",
        trusted=view.checkpoint, conflicting=cp.text,
        proof=[base64.b64encode(h).decode() for h in proof],
    )  # fmt: skip


def _older(client: PartnerClient, view: View, cp: Checkpoint) -> None:
    """SyncRejected if ``cp``, smaller than the checkpoint we hold, is an older checkpoint of
    the same history: the partner proves it consistent with the one we hold. An answer it
    gave before, served again (a cache in the way; anyone on the path of a plain-http feed,
    an answer not being bound to the signed request), is not a rewritten history: it was
    flagged as one for good. Returns when the partner cannot prove it (its log shrank, or
    the checkpoint is of another history): that is a rewritten history."""
    try:
        proof = client.consistency(cp.size, view.size) if cp.size else []
    except SyncRejected:
        return
    if cp.size and proofs.verify_consistency(cp.size, view.size, cp.root, view.root, proof):
        raise SyncRejected(
            f"partner {client.partner.code}: served a checkpoint of {cp.size} entries, older "
            f"than the one of {view.size} entries it signed before (signed at {iso(cp.time)}: "
            "an answer given before, served again by a cache or anyone on the way); nothing "
            "done, the next sync asks again"
        )


def _fetch(
    client: PartnerClient, state: PartnerState, head: witness.Head, spool: Spool
) -> list[bytes]:
    """Entries [cursor, head.size) into ``spool``; they must hash to the head's root. Returns
    the compact range at the head (the new cursor's frontier)."""
    frontier = [bytes.fromhex(h) for h in state.frontier]
    if head.size == state.size:
        return frontier
    for seq, data in fetch_range(client, client.partner, state.size, head.size):
        leaf = leaf_hash(data)
        proofs.frontier_append(frontier, seq, leaf)
        spool.add(data, leaf)
    if proofs.frontier_root(frontier) != head.root:
        raise SyncRejected(
            f"partner {client.partner.code}: entries {state.size}..{head.size - 1} do not hash "
            "to the signed root"
        )
    return frontier


def _gossip(engine: Engine, client: PartnerClient, directory: Directory, key: BureauKey) -> None:
    """Read the partner's cosigned checkpoints and equivocation proofs (docs: "Witnessing").
    A partner that does not serve them is logged, never a reason to refuse its log."""
    partner = client.partner
    origin_keys = {p.origin: p.keys for p in directory.partners.values()}
    try:
        cosigned, gossiped = client.gossip("cosigned"), client.gossip("proofs")
    except SyncRejected as exc:
        logger.warning("partner %s: no witness gossip: %s", partner.code, exc)
        return

    def keep(session: Session) -> None:
        for proof in gossiped:
            equivocation.receive(session, proof, origin_keys, partner.origin)
        for note in cosigned:
            _take_cosigned(session, str(note), partner, directory, key)

    _write(engine, keep)


def _write(engine: Engine, work: Callable[[Session], None]) -> None:
    """Run ``work`` in one transaction; once more if a concurrent sync (the flow syncs every
    partner at once) inserted the same cosignature or checkpoint first: it reads and skips."""
    for attempt in (1, 2):
        with Session(engine) as session:
            try:
                work(session)
                session.commit()
                return
            except IntegrityError:
                session.rollback()
                if attempt == 2:
                    raise SyncRejected(
                        "a concurrent sync stored the same evidence; retry"
                    ) from None


def _take_cosigned(session: Session, note: str, partner: Partner, directory: Directory,
                   key: BureauKey) -> None:  # fmt: skip
    """One checkpoint the partner cosigned: ours (kept, to publish), or a third bureau's
    (counted towards its quorum, and compared with every checkpoint of it we saw)."""
    origin = note.split("\n", 1)[0]
    if origin == key.origin:
        witness.take_ours(session, note, list(partner.keys), key)
        return
    logs = [p for p in directory.partners.values() if p.origin == origin and p != partner]
    if not logs:
        return  # a log we do not follow, or the partner cosigning itself: not counted
    log_key = logs[0].keys[0]
    try:
        cp = parse_checkpoint(note, list(logs[0].keys), origin)
        log_key = _origin_key(logs[0], cp)
        by = witness.ingest_lines(session, cp, log_key, list(partner.keys))
    except NoteError as exc:
        logger.warning("partner %s: cosigned checkpoint of %s refused: %s", partner.code,
                       origin, exc)  # fmt: skip
        return
    if by:
        equivocation.observe(session, cp, witness.origin_note(cp, log_key), log_key,
                             f"cosigned by {partner.origin}", key)  # fmt: skip


def _origin_key(partner: Partner, cp: Checkpoint) -> VerifierKey:
    return next(k for k in partner.keys if k.key_id == cp.key_id)


def _witness(engine: Engine, client: PartnerClient, state: PartnerState, cp: Checkpoint,
             directory: Directory, key: BureauKey) -> list[VerifierKey]:  # fmt: skip
    """History check, equivocation check, our cosignature, the cosignatures it carries;
    returns the witness keys that count for the partner's quorum."""
    partner = client.partner
    origin_key = _origin_key(partner, cp)
    view = _view(engine, state, partner.origin, key.origin)
    try:
        _check_history(client, view, cp)
    except HistoryRewritten:
        if cp.size != view.size or not view.checkpoint:
            raise
        # one size, two roots: an equivocation, proven with both signed checkpoints
        _observe(engine, [(view.checkpoint, f"trusted by {key.origin}"),
                          (cp.text, f"served to {key.origin}")], partner, key)  # fmt: skip
    else:
        _observe(engine, [(cp.text, f"served to {key.origin}")], partner, key)
    with Session(engine) as session:
        held = equivocation.stored(session, partner.origin)
    if held:
        raise Equivocated(
            f"partner {partner.code} EQUIVOCATED: {equivocation.summary(held[0])}; "
            f"{len(held)} proof(s): `shuangsui partners equivocations {partner.code}`"
        )
    witnesses = witness.witnesses_for(partner.origin, directory.partners, key)

    def cosign(session: Session) -> None:
        witness.cosign_checkpoint(session, cp, origin_key, key)
        try:
            witness.ingest_lines(session, cp, origin_key, witnesses)
        except NoteError as exc:
            logger.warning("partner %s: a cosignature on its checkpoint: %s", partner.code, exc)

    _write(engine, cosign)
    return witnesses


def _observe(engine: Engine, notes: list[tuple[str, str]], partner: Partner,
             key: BureauKey) -> None:  # fmt: skip
    """Remember checkpoints of the partner (validly signed, which the caller checked)."""

    def keep(session: Session) -> None:
        for note, source in notes:
            try:  # a trusted checkpoint under a key since removed from the directory: skipped
                cp = parse_checkpoint(note, list(partner.keys), partner.origin)
            except NoteError:
                continue
            origin_key = _origin_key(partner, cp)
            equivocation.observe(session, cp, witness.origin_note(cp, origin_key), origin_key,
                                 source, key)  # fmt: skip

    _write(engine, keep)


def _target(
    client: PartnerClient,
    engine: Engine,
    state: PartnerState,
    cp: Checkpoint,
    quorum: int,
    witnesses: list[VerifierKey],
) -> tuple[witness.Head, str | None]:
    """The tree head to apply up to, and why it is short of ``cp`` (too few cosignatures);
    BelowQuorum when no head beyond the cursor has enough."""
    cp_head = witness.Head(cp.size, cp.root, cp.text)
    if quorum == 0 or cp.size == state.size:
        return cp_head, None
    origin = client.partner.origin
    with Session(engine) as session:
        have = witness.cosigners(session, origin, cp.size, cp.root, witnesses)
        head = witness.best_head(session, origin, state.size, cp.size, quorum, witnesses)
    if len(have) >= quorum:
        return cp_head, None
    missing = sorted({k.name for k in witnesses} - have)
    short = (f"checkpoint of {origin} size {cp.size} reached {len(have)} of {quorum} "
             f"cosignatures (cosigned by: {', '.join(sorted(have)) or 'none'}; "
             f"not by: {', '.join(missing) or 'none'})")  # fmt: skip
    if head is None:
        raise BelowQuorum(short + "; nothing applied")
    proof = client.consistency(head.size, cp.size)
    if not proofs.verify_consistency(head.size, cp.size, head.root, cp.root, proof):
        raise HistoryRewritten(
            f"partner {client.partner.code} REWROTE ITS HISTORY: its cosigned checkpoint of "
            f"size {head.size} is not consistent with size {cp.size}",
            trusted=head.note, conflicting=cp.text,
            proof=[base64.b64encode(h).decode() for h in proof],
        )  # fmt: skip
    return head, f"{short}; applied up to size {head.size}, the largest with {quorum}"


@dataclass(frozen=True)
class _Applied:
    new: int
    unread: dict[str, int]
    reread: int


def _commit(engine: Engine, partner: Partner, state: PartnerState, head: witness.Head,
            new: Spool, frontier: list[bytes], short: str | None) -> _Applied:  # fmt: skip
    now = _now()
    with Session(engine) as session:
        won = cast(
            CursorResult,
            session.execute(
                update(PartnerState)
                .where(
                    col(PartnerState.partner_code) == partner.code,
                    col(PartnerState.size) == state.size,
                )
                .values(
                    size=head.size,
                    root=head.root.hex(),
                    frontier=[h.hex() for h in frontier],
                    checkpoint=head.note,
                    status="quorum" if short else "ok",
                    last_error=short,
                    last_attempt_at=now,
                    last_success_at=now,
                )  # fmt: skip
            ),
        ).rowcount
        if not won:
            raise SyncRejected(f"partner {partner.code}: another sync moved the cursor; retry")
        us = get_settings().bureau_code
        applied, kept = 0, Counter[str]()
        for chunk in new.chunks(partner, APPLY_CHUNK):
            applied += apply_entries(session, partner, chunk, us, now)
            kept += unread(chunk)
        again = reread(session, partner, us, now)
        session.commit()
    return _Applied(applied, dict(kept), again)


def shown(exc: SyncRejected) -> str:
    """A failed sync's reason as it is recorded, logged and printed: on one line, each control
    or invisible character replaced by U+FFFD. The partner's own words are in it (the start of
    a refusal's body), and one of those characters would act on the operator's terminal (an
    escape sequence recolours it) or turn the line around (a right-to-left override)."""
    return one_line(CONTROL_IN_TEXT.sub("\ufffd", str(exc)))


def fault(exc: Exception) -> str:
    """A sync's unexpected exception (not the partner's fault: a bug, our own database) as it
    is recorded and printed: ``<ExceptionClass>: <message>``, the message a database's error
    in the driver's own words (its first two lines), not SQLAlchemy's, which quotes the
    statement and a partner's values; on one line as :func:`shown` puts it, cut at 300
    characters. The whole of it, with the traceback, is logged."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:2]
    said = cut(one_line(CONTROL_IN_TEXT.sub("\ufffd", " ".join(lines))), 300)
    return f"{type(exc).__name__}: {said}"


def _status(exc: Exception) -> str:
    return (
        "rewritten" if isinstance(exc, HistoryRewritten)
        else "equivocated" if isinstance(exc, Equivocated)
        else "quorum" if isinstance(exc, BelowQuorum)
        else "refused" if isinstance(exc, EntryRefused)
        else "failed" if isinstance(exc, SyncRejected) else "error"
    )  # fmt: skip


def _record_failure(engine: Engine, code: str, exc: Exception, status: str, reason: str) -> None:
    """The failed sync's status, reason and time, in a transaction of its own (the sync's was
    undone); the evidence of a rewritten history with them."""
    now = _now()
    with Session(engine) as session:
        values: dict[str, Any] = {"status": status, "last_error": reason, "last_attempt_at": now}
        if isinstance(exc, Equivocated):
            values["flagged"] = True
        if isinstance(exc, HistoryRewritten):
            values["flagged"] = True
            session.add(PartnerConflict(
                partner_code=code, detected_at=now, reason=str(exc),
                trusted_checkpoint=exc.trusted, conflicting_checkpoint=exc.conflicting,
                proof=exc.proof,
            ))  # fmt: skip
        session.execute(
            update(PartnerState).where(col(PartnerState.partner_code) == code).values(**values)
        )
        session.commit()


def _failed(engine: Engine, code: str, exc: Exception) -> tuple[str, str]:
    """The status and reason of a sync that raised ``exc`` (called while it is handled), once
    recorded: the partner's fault (``SyncRejected``), or ``error``, anything else (a bug, a
    database fault), whose traceback is logged. If the record fails too (the database is
    down), that is logged, and the status and reason still say the first fault."""
    status = _status(exc)
    reason = shown(exc) if isinstance(exc, SyncRejected) else fault(exc)
    if status == "error":
        logger.exception("sync of partner %s stopped", code)
    try:
        _record_failure(engine, code, exc, status, reason)
    except Exception:
        logger.exception("partner %s: its failed sync could not be recorded", code)
    log = logger.warning if status in ("failed", "refused", "quorum") else logger.error
    log("sync of partner %s: nothing applied: %s", code, reason)
    return status, reason


@collector_paused()  # a chunk of entries is built and applied at once (``shuangsui.collector``)
def sync_partner(
    engine: Engine, partner: Partner, *, key: BureauKey | None = None, transport: Any = None,
    timeout: float = 10.0, directory: Directory | None = None,
    on_wait: Callable[[], None] | None = None,
) -> SyncOutcome:  # fmt: skip
    """One sync of one partner; never raises for a fault of the sync (see the outcome): the
    partner's, or one not the partner's (a bug, our own database: status ``error``), each
    recorded in ``partner_state``, so the command, the flow and the partners page say it.

    Checkpoint -> the partner's witness gossip -> equivocation and history checks -> our
    cosignature -> quorum (the directory's ``witness_quorum``) -> entries -> apply.
    A sync of a partner another sync is pulling waits for it (``exchange.turns``; ``on_wait``
    is called once if it does), then starts from the cursor it left."""
    key = key or load_or_create()
    directory = directory or read_directory()
    outcome: SyncOutcome | None = None
    try:
        with partner_turn(engine, partner.code, on_wait):
            outcome = _sync(engine, partner, key, transport, timeout, directory)
    except Exception as exc:
        if outcome is not None:  # the sync ended, its outcome recorded: only the turn's end failed
            _turn_not_given_back(partner.code, outcome, exc)
            return outcome
        # before the cursor was read: the turn, the database down
        status, reason = _failed(engine, partner.code, exc)
        return SyncOutcome(partner.code, status, 0, 0, 0, reason)  # sizes not known: 0
    return outcome


def _turn_not_given_back(code: str, outcome: SyncOutcome, exc: Exception) -> None:
    """Giving the turn back failed after the sync ended (its outcome committed and recorded):
    on PostgreSQL the turn's connection was lost (a restart, ``idle_session_timeout``, an
    administrator ending it), and the lock went with it. The outcome stands, as recorded, and
    is what the command, the flow and the pages say; the fault is logged, with its traceback,
    for the operator. Recorded as the sync's fault, it said ``error`` (本局系统故障) of a sync
    whose entries were applied, until the next sync."""
    logger.error("partner %s: its sync ended (%s) but its turn could not be given back: %s; "
                 "the turn ends with its connection (or file), and the next sync takes it as "
                 "usual", code, outcome.status, fault(exc), exc_info=exc)  # fmt: skip


def _sync(engine: Engine, partner: Partner, key: BureauKey, transport: Any, timeout: float,
          directory: Directory) -> SyncOutcome:  # fmt: skip
    state = _state(engine, partner.code)
    learned: dict[str, Any] | None = None  # what it said of itself, once asked
    try:
        with Spool(state.size, get_settings().home) as new:
            with PartnerClient(partner, key, transport=transport, timeout=timeout) as client:
                cp = client.checkpoint()
                learned = kinds.learn(engine, client)  # never fails the sync
                _gossip(engine, client, directory, key)
                witnesses = _witness(engine, client, state, cp, directory, key)
                head, short = _target(
                    client, engine, state, cp, directory.witness_quorum, witnesses
                )
                frontier = _fetch(client, state, head, new)
            done = _commit(engine, partner, state, head, new, frontier, short)
    except Exception as exc:  # the partner's fault, or a bug, our database: nothing applied
        status, reason = _failed(engine, partner.code, exc)
        return SyncOutcome(partner.code, status, state.size, state.size, 0, reason,
                           about=kinds.news(state.about, learned))  # fmt: skip
    logger.info("partner %s synced: %d -> %d (%d new, %d of them kept unread; %d kept before "
                "read now)", partner.code, state.size, head.size, done.new,
                sum(done.unread.values()), done.reread)  # fmt: skip
    if done.unread:  # the flow's runs show it too (its result holds ``unread``)
        logger.warning("partner %s: %s", partner.code, said(done.unread))
    return SyncOutcome(partner.code, "quorum" if short else "ok", state.size, head.size,
                       done.new, short, done.unread, done.reread,
                       kinds.news(state.about, learned))  # fmt: skip
