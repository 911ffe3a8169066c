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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from draw.frame import with_status
from findings import dates
from findings.records import load_results
from leads import events
from leads.models import Lead, LeadStatus
from rounds import audit
from rounds.models import Round, RoundStatus

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
    session.execute(
        sa.update(Lead)
        .where(col(Lead.id).in_(ids))
        .values(status=LeadStatus.targeted, round_key=rnd.round_key, updated_at=_now())
    )
    audit.add_to(session, rnd.round_key, events.LeadsTargeted(sorted(ids)))
    logger.info("round %s targets lead(s) %s", rnd.round_key, sorted(ids))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sync_answers(engine: Engine) -> int:
    """Mark answered every targeted lead whose finding is final; returns how many."""
    with Session(engine) as session:
        waiting = session.exec(select(Lead).where(col(Lead.status) == LeadStatus.targeted)).all()
        rounds = sorted({lead.round_key for lead in waiting if lead.round_key})
    if not rounds:
        return 0
    with engine.connect() as conn:
        final = {
            (r.round_key, r.credit_code): pub.finding_id
            for r in load_results(conn, rounds)
            if (pub := r.public) is not None
        }
    answered = [
        (lead, final[key])
        for lead in waiting
        if (key := (lead.round_key or "", lead.credit_code)) in final
    ]
    for _ in range(10):
        with Session(engine) as session:
            done = 0
            for lead, finding_id in answered:
                won = session.execute(
                    sa.update(Lead)
                    .where(col(Lead.id) == lead.id, col(Lead.status) == LeadStatus.targeted)
                    .values(status=LeadStatus.answered, finding_id=finding_id,
                            answered_at=_now(), updated_at=_now())
                ).rowcount  # type: ignore[attr-defined]  # fmt: skip
                if won:
                    assert lead.id is not None and lead.round_key is not None
                    audit.add_to(session, lead.round_key, events.LeadAnswered(
                        lead.id, lead.round_key, lead.credit_code, finding_id))  # fmt: skip
                    done += 1
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
        return done
    raise RuntimeError("could not record answered leads: too much contention on the audit log")


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
