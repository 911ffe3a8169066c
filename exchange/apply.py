"""Apply a partner's verified entries, idempotently, in the caller's transaction.

Every entry is kept (``partner_entry``); results feed mutual recognition and the combined
view; assistance requests addressed to us open an incoming case; answers and results for our
own requests move our outgoing case on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session, col

from exchange.directory import Partner
from exchange.errors import SyncRejected
from exchange.models import AssistanceCase, PartnerEntry
from exchange.settings import origin_of

logger = logging.getLogger(__name__)

# Called with (session, case) in the pull's transaction when a partner's assistance request to
# us opens an incoming case: the leads record it as a lead (leads/hooks.py).
case_opened_hooks: list[Callable[[Session, AssistanceCase], None]] = []


@dataclass(frozen=True)
class Verified:
    """One entry of a partner's log, verified against its signed checkpoint."""

    seq: int
    data: bytes
    doc: dict[str, Any]
    leaf_hash: bytes


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _row(partner: Partner, e: Verified, now: dt.datetime) -> PartnerEntry:
    doc, body = e.doc, e.doc["body"]
    credit = body.get("credit_code") if doc["kind"] != "round" else None
    item = body.get("check_item")
    return PartnerEntry(
        partner_code=partner.code, seq=e.seq, entry_id=doc["id"], kind=doc["kind"],
        supersedes=doc.get("supersedes"),
        credit_code=credit if isinstance(credit, str) else None,
        check_item=partner.our_check_item(item) if isinstance(item, str) else None,
        event_date=_date(body.get("inspected_on")), body=e.data.decode(),
        leaf_hash=e.leaf_hash.hex(), applied_at=now,
    )  # fmt: skip


def _case_event(session: Session, partner: Partner, e: Verified, us: str, now: dt.datetime) -> None:
    kind, body = e.doc["kind"], e.doc["body"]
    if kind == "assistance-request" and body.get("to") == us:
        key = (partner.code, str(body.get("request_id")))
        if session.get(AssistanceCase, key) is None:
            opened = AssistanceCase(
                requester=partner.code, request_id=key[1], direction="incoming", target=us,
                credit_code=str(body.get("credit_code")), check_item=str(body.get("check_item")),
                reason=str(body.get("reason", "")), status="pending",
                request_entry_hash=e.leaf_hash.hex(), updated_at=now,
            )  # fmt: skip
            session.add(opened)
            for hook in case_opened_hooks:
                hook(session, opened)
            logger.info("assistance request %s from %s received", key[1], partner.code)
        return
    if kind == "assistance-answer":
        req = body.get("request") or {}
        if req.get("origin") != origin_of(us):
            return
        case = session.get(AssistanceCase, (us, str(req.get("request_id"))))
        if case is not None and case.status == "pending":
            case.status = "accepted" if body.get("decision") == "accepted" else "declined"
            case.answer = dict(body) | {"entry": e.doc["id"], "seq": e.seq}
            case.updated_at = now
            session.add(case)
        return
    if kind in ("result", "correction"):
        assist = body.get("assistance") or {}
        if assist.get("requester") != us:
            return
        case = session.get(AssistanceCase, (us, str(assist.get("request_id"))))
        if case is not None:
            case.status = "completed"
            case.result = dict(body) | {"entry": e.doc["id"], "seq": e.seq}
            case.updated_at = now
            session.add(case)


def apply_entries(
    session: Session, partner: Partner, entries: Sequence[Verified], our_code: str
) -> int:
    """Insert what is new; an entry already held must be byte-identical. Returns how many."""
    if not entries:
        return 0
    now = dt.datetime.now(dt.UTC)
    held = dict(
        session.execute(
            select(col(PartnerEntry.seq), col(PartnerEntry.leaf_hash)).where(
                col(PartnerEntry.partner_code) == partner.code,
                col(PartnerEntry.seq) >= entries[0].seq,
                col(PartnerEntry.seq) <= entries[-1].seq,
            )
        ).all()
    )
    rows = []
    for e in entries:
        if e.seq in held:
            if held[e.seq] != e.leaf_hash.hex():
                raise SyncRejected(f"partner {partner.code}: entry {e.seq} differs from ours")
            continue
        rows.append(_row(partner, e, now).model_dump())
        if e.doc["kind"] != "round":
            _case_event(session, partner, e, our_code, now)
    for k in range(0, len(rows), 5000):
        session.execute(insert(PartnerEntry), rows[k : k + 5000])
    return len(rows)
