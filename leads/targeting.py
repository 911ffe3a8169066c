"""From an accepted lead to the round that checks it, and to the finding that answers it.

* While a round's frames are built (preflight and commit), every accepted lead of the plan's
  check item gives its enterprise the reason ``线索 <id>: <category>``; a lead whose last round
  failed counts as accepted again. The frame (and so the frame commitment, before any entropy)
  fixes which enterprises are targeted for which lead; the plan and its hash are untouched.
  An enterprise outside the plan's population is not in the frame: its lead stays accepted.
* In the commit's own transaction the leads the frame names become ``targeted`` by that round.
* A targeted lead is ``answered`` once the finding of its round and enterprise is final
  (:func:`sync_answers`, run before leads are listed, counted or published).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, or_
from sqlmodel import Session, col, select

from draw.frame import with_status
from findings import dates
from findings.records import load_results
from leads import events
from leads.models import Lead, LeadStatus
from rounds import audit
from rounds.models import Round, RoundStatus
from shuangsui.writes import write

logger = logging.getLogger(__name__)
REASON = re.compile(r"^线索 (\d+): ")


def reason(lead_id: int, category: str) -> str:
    return f"线索 {lead_id}: {category}"


def _waiting(check_item: str) -> Any:
    """Leads of ``check_item`` that wait for a round: accepted, or targeted by a failed round."""
    failed = select(col(Round.round_key)).where(col(Round.status) == RoundStatus.failed)
    return select(col(Lead.id), col(Lead.credit_code), col(Lead.category)).where(
        col(Lead.check_item_code) == check_item,
        or_(
            col(Lead.status) == LeadStatus.accepted,
            (col(Lead.status) == LeadStatus.targeted) & col(Lead.round_key).in_(failed),
        ),
    )


def causes(conn: Connection, plan: Mapping[str, Any]) -> dict[str, str]:
    """credit_code -> the reasons of its waiting leads, by lead id, joined by ``；``."""
    found: dict[str, list[str]] = {}
    for lead_id, code, category in sorted(conn.execute(_waiting(plan["check_item"]))):
        found.setdefault(code, []).append(reason(lead_id, category))
    return {code: "；".join(reasons) for code, reasons in found.items()}


def mark_targeted(session: Session, rnd: Any, frame: Sequence[Any]) -> None:
    """In the commit's transaction: the leads the frame's targeted notes name."""
    named: set[int] = set()
    for unit in with_status(frame, "targeted"):
        named |= {int(m[1]) for part in unit.note.split("；") if (m := REASON.match(part))}
    if not named:
        return
    ids = [i for (i, _code, _cat) in session.execute(_waiting(rnd.check_item_code)) if i in named]
    if not ids:
        return
    lock(session, ids)  # in the order every writer of leads takes them
    session.execute(
        sa.update(Lead)
        .where(col(Lead.id).in_(ids))
        .values(status=LeadStatus.targeted, round_key=rnd.round_key, updated_at=_now())
    )
    audit.add_to(session, rnd.round_key, events.LeadsTargeted(sorted(ids)))
    logger.info("round %s targets lead(s) %s", rnd.round_key, sorted(ids))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def lock(session: Session, ids: Iterable[int]) -> dict[int, Lead]:
    """The leads ``ids`` (those that exist), each row locked until the transaction ends.
    Every writer of two or more leads locks them here, in the order of their ids, before it
    appends to the audit log: two such writers wait for each other, never deadlock. SQLite's
    transaction holds the database's write lock already (``shuangsui.writes.lock_writes``)."""
    q = select(Lead).where(col(Lead.id).in_(sorted(set(ids)))).order_by(col(Lead.id))
    return {row.id: row for row in session.exec(q.with_for_update()) if row.id is not None}


def answers(conn: Connection, leads: Iterable[Lead]) -> dict[int, int]:
    """lead id -> the id of the final finding that answers it, for the targeted ``leads``
    whose finding (of their round and enterprise) is final, as ``conn`` reads it."""
    targeted = [lead for lead in leads if lead.status is LeadStatus.targeted and lead.round_key]
    if not targeted:
        return {}
    final = {
        (r.round_key, r.credit_code): pub.finding_id
        for r in load_results(conn, sorted({lead.round_key or "" for lead in targeted}))
        if (pub := r.public) is not None
    }
    return {
        lead.id: final[key]
        for lead in targeted
        if lead.id is not None and (key := (lead.round_key or "", lead.credit_code)) in final
    }


def answer(session: Session, leads: Iterable[Lead]) -> list[int]:
    """In the caller's transaction, which holds the ``leads``' locks (:func:`lock`): each
    targeted one whose finding is final, read in this transaction, becomes ``answered`` with
    its ``LeadAnswered`` event. The ids of those, in order."""
    leads = sorted(leads, key=lambda lead: lead.id or 0)
    found = answers(session.connection(), leads)
    answered = [(lead, lead_id) for lead in leads if (lead_id := lead.id) in found]
    at = _now()
    for lead, lead_id in answered:
        lead.status, lead.finding_id = LeadStatus.answered, found[lead_id]
        lead.answered_at = lead.updated_at = at
        session.add(lead)
    # the events in the leads' order, each run of one round's leads chained in one insert
    for round_key, run in groupby(answered, key=lambda pair: pair[0].round_key or ""):
        audit.add_many(session, round_key, [
            events.LeadAnswered(lead_id, round_key, lead.credit_code, found[lead_id])
            for lead, lead_id in run
        ])  # fmt: skip
    return sorted(found)


def sync_answers(engine: Engine) -> int:
    """Mark answered every targeted lead whose finding is final; returns how many. A first
    look, without locks, finds them (most calls find none and write nothing); then one write
    (``shuangsui.writes.write``: retried when it collides with another writer) locks them and
    records those still targeted and answered."""
    with Session(engine) as session:
        waiting = session.exec(select(Lead).where(col(Lead.status) == LeadStatus.targeted)).all()
        found = answers(session.connection(), waiting)
    if not found:
        return 0

    def work(session: Session) -> int:
        return len(answer(session, lock(session, found).values()))

    done = write(engine, work, what="the answered leads")
    logger.info("%d lead(s) answered", done)
    return done


@dataclass(frozen=True)
class OverdueLead:
    id: int
    source: str
    credit_code: str
    category: str
    status: str
    deadline: dt.date
    days_late: int
    check_item: str | None
    round_key: str | None


def overdue(engine: Engine, *, on: dt.date | None = None) -> list[OverdueLead]:
    """Open leads (received, accepted or targeted) past their deadline, the latest first."""
    sync_answers(engine)
    day = on or dates.today()
    with Session(engine) as session:
        rows = session.exec(
            select(Lead)
            .where(
                col(Lead.status).in_([s for s in LeadStatus if s.open]),
                col(Lead.deadline) < day,
            )
            .order_by(col(Lead.deadline), col(Lead.id))
        ).all()
    return [
        OverdueLead(
            lead.id or 0,
            lead.source.value,
            lead.credit_code,
            lead.category,
            lead.status.value,
            lead.deadline,
            (day - lead.deadline).days,
            lead.check_item_code,
            lead.round_key,
        )  # fmt: skip
        for lead in rows
    ]
