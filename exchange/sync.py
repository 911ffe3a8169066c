"""Pull one partner: checkpoint -> consistency -> entries -> root -> apply + cursor, atomically.

Anything wrong (down, slow, bad signature, malformed or truncated page, a gap, entries that do
not hash to the signed root) and nothing is applied: the cursor stays, ``partner_state`` says
why, the next sync resumes from the cursor. A checkpoint inconsistent with one the partner
signed before is a rewritten history: flagged, with both checkpoints and the failed proof kept
in ``partner_conflict``; we never follow it.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, update
from sqlmodel import Session, col

from draw.merkle import empty_root, leaf_hash
from exchange import proofs
from exchange.apply import Verified, apply_entries
from exchange.client import PartnerClient
from exchange.directory import Partner
from exchange.entries import parse_entry
from exchange.errors import HistoryRewritten, SyncRejected
from exchange.keys import BureauKey, load_or_create
from exchange.models import PartnerConflict, PartnerState
from exchange.notes import Checkpoint
from shuangsui.config import get_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    partner: str
    status: str  # ok | failed | rewritten
    before: int
    after: int
    applied: int = 0
    error: str | None = None


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


def fetch_range(client: PartnerClient, partner: Partner, start: int, end: int) -> list[Verified]:
    """Entries [start, end), contiguous and well-formed, or SyncRejected."""
    out: list[Verified] = []
    for page in client.pages(start, end):
        if not page:
            raise SyncRejected(f"partner {partner.code}: empty page at {start + len(out)}")
        for item in page:
            want = start + len(out)
            if not isinstance(item, dict) or item.get("seq") != want:
                got = item.get("seq") if isinstance(item, dict) else item
                raise SyncRejected(
                    f"partner {partner.code}: gap: expected entry {want}, got {got!r}"
                )
            if want >= end or not isinstance(item.get("entry"), str):
                raise SyncRejected(f"partner {partner.code}: malformed entry {want}")
            data = item["entry"].encode()
            try:
                doc = parse_entry(data, origin=partner.origin, seq=want)
            except ValueError as exc:
                raise SyncRejected(f"partner {partner.code}: {exc}") from None
            out.append(Verified(want, data, doc, leaf_hash(data)))
    if start + len(out) != end:
        raise SyncRejected(
            f"partner {partner.code}: truncated: entries stop at {start + len(out)}, "
            f"the checkpoint has {end}"
        )
    return out


def _check_history(client: PartnerClient, state: PartnerState, cp: Checkpoint) -> None:
    m = state.size
    trusted = bytes.fromhex(state.root) if state.root else empty_root()
    proof: list[bytes] = []
    if cp.size < m:
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
        trusted=state.checkpoint, conflicting=cp.text,
        proof=[base64.b64encode(h).decode() for h in proof],
    )  # fmt: skip


def _verify(
    client: PartnerClient, state: PartnerState, cp: Checkpoint
) -> tuple[list[Verified], list[bytes]]:
    _check_history(client, state, cp)
    frontier = [bytes.fromhex(h) for h in state.frontier]
    if cp.size == state.size:
        return [], frontier
    new = fetch_range(client, client.partner, state.size, cp.size)
    for e in new:
        proofs.frontier_append(frontier, e.seq, e.leaf_hash)
    if proofs.frontier_root(frontier) != cp.root:
        raise SyncRejected(
            f"partner {client.partner.code}: entries {state.size}..{cp.size - 1} do not hash to "
            "the signed root"
        )
    return new, frontier


def _commit(engine: Engine, partner: Partner, state: PartnerState, cp: Checkpoint,
            new: list[Verified], frontier: list[bytes]) -> int:  # fmt: skip
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
                    size=cp.size,
                    root=cp.root.hex(),
                    frontier=[h.hex() for h in frontier],
                    checkpoint=cp.text,
                    status="ok",
                    last_error=None,
                    last_attempt_at=now,
                    last_success_at=now,
                )  # fmt: skip
            ),
        ).rowcount
        if not won:
            raise SyncRejected(f"partner {partner.code}: another sync moved the cursor; retry")
        applied = apply_entries(session, partner, new, get_settings().bureau_code)
        session.commit()
    return applied


def _record_failure(engine: Engine, code: str, exc: SyncRejected) -> str:
    now = _now()
    status = "rewritten" if isinstance(exc, HistoryRewritten) else "failed"
    with Session(engine) as session:
        values: dict[str, Any] = {"status": status, "last_error": str(exc), "last_attempt_at": now}
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
    return status


def sync_partner(
    engine: Engine, partner: Partner, *, key: BureauKey | None = None, transport: Any = None,
    timeout: float = 10.0,
) -> SyncOutcome:  # fmt: skip
    """One sync of one partner; never raises for the partner's faults (see the outcome)."""
    state = _state(engine, partner.code)
    try:
        with PartnerClient(partner, key or load_or_create(), transport=transport,
                           timeout=timeout) as client:  # fmt: skip
            cp = client.checkpoint()
            new, frontier = _verify(client, state, cp)
        applied = _commit(engine, partner, state, cp, new, frontier)
    except SyncRejected as exc:
        status = _record_failure(engine, partner.code, exc)
        log = logger.error if status == "rewritten" else logger.warning
        log("sync of partner %s rejected, nothing applied: %s", partner.code, exc)
        return SyncOutcome(partner.code, status, state.size, state.size, 0, str(exc))
    logger.info("partner %s synced: %d -> %d (%d new)", partner.code, state.size, cp.size, applied)
    return SyncOutcome(partner.code, "ok", state.size, cp.size, applied)
