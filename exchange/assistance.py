"""Assistance between bureaus (执法互助).

A asks B to inspect an enterprise in B's division: an ``assistance-request`` entry in A's log.
B pulls it (an incoming case); B's coordinator accepts or declines; the answer is an
``assistance-answer`` entry in B's log, which A pulls. On acceptance B draws the team from its
own inspectors with the draw's own team rules (``draw.teams``: credential, leave, expertise,
declared conflicts, same-division recusal, workload), seeded by

    seed = SHA-256(canonical JSON {"v": 1, "purpose": "assistance-team",
                                   "request": <leaf hash of A's request entry>,
                                   "checkpoint": <B's signed checkpoint text at the decision>})

Both inputs are in the answer with the inspector-frame commitment, so anyone can redo the draw.
B publishes the result as a ``result`` entry naming the request; A's case then completes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from draw.canonical import canonical_json
from draw.frame import EnterpriseUnit, build_inspector_frame, encode_inspector, frame_commitment
from draw.teams import draw_teams
from exchange.answers import shown
from exchange.log import append, latest_checkpoint
from exchange.models import AssistanceCase, PartnerEntry
from exchange.publish import shared_text
from exchange.settings import origin_of
from rounds import audit, frames
from shuangsui.config import get_settings
from shuangsui.errors import NotFound, UserError

logger = logging.getLogger(__name__)
# run in the answer's transaction, once the case is answered as the log says (notifications:
# the team drawn told of its task, iff the answer is shared): (session, case, the request)
after_answer_hooks: list[Callable[[Session, AssistanceCase, dict[str, Any]], None]] = []
TEAM_RULES = {"size": 2, "workload_cap": 1, "expertise_required": True,
              "recuse_same_division": True, "recuse_recent_rounds": 0}  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def request_assistance(
    engine: Engine, *, to: str, credit_code: str, division: str, check_item: str,
    cert_kinds: list[str], reason: str, window_start: dt.date, window_end: dt.date,
) -> AssistanceCase:  # fmt: skip
    us = get_settings().bureau_code
    if to == us:
        raise UserError("an assistance request goes to another bureau")
    reason = shared_text("reason", reason, required=True)
    request_id = f"{us}-{uuid.uuid4().hex[:10]}"
    body = {"request_id": request_id, "to": to, "credit_code": credit_code,
            "division": division, "check_item": check_item, "cert_kinds": sorted(cert_kinds),
            "reason": reason,
            "window": {"start": str(window_start), "end": str(window_end)}}  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        entry = append(session, origin=origin_of(us), entry_id=f"assistance-request/{request_id}",
                       kind="assistance-request", body=body)  # fmt: skip
        case = AssistanceCase(requester=us, request_id=request_id, direction="outgoing",
                              target=to, credit_code=credit_code, check_item=check_item,
                              reason=reason, status="pending",
                              request_entry_hash=entry.leaf_hash, updated_at=_now())  # fmt: skip
        session.add(case)
        session.commit()
    logger.info("assistance request %s to %s for %s", request_id, to, credit_code)
    return case


def _request_entry(session: Session, case: AssistanceCase) -> PartnerEntry:
    """The partner's entry that opened ``case``: the one whose leaf the case recorded. An entry
    id need not be unique in a partner's log (shuangsui's own writer keeps it so; a log written
    otherwise may repeat it, and an entry of a kind kept unread may carry it), so the id alone
    could name two entries; the first of the request's kind answers for a case recorded
    without its leaf."""
    entry_id = f"assistance-request/{case.request_id}"
    q = select(PartnerEntry).where(
        col(PartnerEntry.partner_code) == case.requester, col(PartnerEntry.entry_id) == entry_id
    )
    if case.request_entry_hash:
        q = q.where(col(PartnerEntry.leaf_hash) == case.request_entry_hash)
    else:
        q = q.where(col(PartnerEntry.kind) == "assistance-request")
    entry = session.exec(q.order_by(col(PartnerEntry.seq)).limit(1)).scalars().first()  # type: ignore[call-overload]
    if entry is None:
        raise NotFound(f"the entry of assistance request {case.request_id} from "
                       f"{case.requester} is not held")  # fmt: skip
    return entry


def team_seed(request_leaf_hash: str, checkpoint: str) -> bytes:
    doc = {"v": 1, "purpose": "assistance-team", "request": request_leaf_hash,
           "checkpoint": checkpoint}  # fmt: skip
    return hashlib.sha256(canonical_json(doc)).digest()


def draw_team(engine: Engine, request: dict[str, Any], seed: bytes) -> dict[str, Any]:
    """The team for one enterprise by the draw's own rules; the inputs are in the output."""
    window = request["window"]
    plan = {"teams": TEAM_RULES, "window": window}
    with engine.connect() as conn:
        inspectors = build_inspector_frame(frames.inspector_rows(conn))
        conflicts = frames.conflict_pairs(conn, {request["credit_code"]})
    ent = EnterpriseUnit(request["credit_code"], request["division"], "B",
                         tuple(request["cert_kinds"]), "assistance")  # fmt: skip
    teams, _ = draw_teams(seed, plan, [ent], inspectors, conflicts)
    return {"team": list(teams[ent.credit_code]), "rules": TEAM_RULES,
            "inspector_frame_commitment": frame_commitment(list(map(encode_inspector, inspectors))),
            "inspector_frame_size": len(inspectors)}  # fmt: skip


@dataclass(frozen=True)
class AssistanceAnswered:
    """Audited (the bureau's own chain, no round): who answered a partner's request, and how.
    The answer itself, with the team drawn, is the ``assistance-answer`` entry of our log."""

    requester: str
    request_id: str
    credit_code: str
    decision: str
    team: list
    by: str


def decide(
    engine: Engine, *, requester: str, request_id: str, accept: bool, reason: str = "",
    by: str, allowed: Callable[[Session], None] | None = None,
) -> AssistanceCase:  # fmt: skip
    """Our coordinator's answer to an incoming request, the case as it then stands (see
    :func:`answer`)."""
    return answer(engine, requester=requester, request_id=request_id, accept=accept,
                  reason=reason, by=by, allowed=allowed).case  # fmt: skip


@dataclass(frozen=True)
class Answered:
    case: AssistanceCase
    given: bool  # this answer is the one shared; False: the case was answered before


def answer(
    engine: Engine, *, requester: str, request_id: str, accept: bool, reason: str = "",
    by: str, allowed: Callable[[Session], None] | None = None,
) -> Answered:  # fmt: skip
    """Our coordinator's answer to an incoming request; an answer is final (idempotent). A
    decline needs a reason; any reason is shared as the answer's. Two coordinators answering
    at once each see the case pending; the log takes the first answer appended (its entry id
    is the request's) and the case follows the log, so the other answer is neither shared nor
    recorded (``given`` False). ``allowed`` checks, in the writing transaction, that ``by``
    still may (a coordinator's token revoked since the page let the form in)."""
    us = get_settings().bureau_code
    reason = shared_text("reason", reason, required=not accept)
    with Session(engine, expire_on_commit=False) as session:
        case = session.get(AssistanceCase, (requester, request_id))
        if case is None or case.direction != "incoming":
            raise NotFound(f"no incoming assistance request {shown(request_id, 60)} from "
                           f"{shown(requester, 40)}")  # fmt: skip
        if case.status != "pending":
            return Answered(case, False)
        entry = _request_entry(session, case)
        request = json.loads(entry.body)["body"]
    given: dict[str, Any] = {
        "request": {"origin": origin_of(requester), "request_id": request_id,
                    "seq": entry.seq, "leaf_hash": entry.leaf_hash},
        "decision": "accepted" if accept else "declined", "reason": reason,
    }  # fmt: skip
    if accept:
        cp = latest_checkpoint(engine, max_age=0).text
        given |= {"seed": team_seed(entry.leaf_hash, cp).hex(), "checkpoint": cp}
        given |= draw_team(engine, request, bytes.fromhex(given["seed"]))
    with Session(engine, expire_on_commit=False) as session:
        if allowed is not None:
            allowed(session)
        row = append(session, origin=origin_of(us),
                     entry_id=f"assistance-answer/{requester}/{request_id}",
                     kind="assistance-answer", body=given)  # fmt: skip
        case = session.get(AssistanceCase, (requester, request_id))
        assert case is not None
        if case.status != "pending":  # answered meanwhile, under the log's lock: as the log says
            return Answered(case, False)
        recorded = json.loads(row.body)["body"]  # ours; or the first, appended meanwhile
        case.status, case.answer, case.updated_at = recorded["decision"], recorded, _now()
        session.add(case)
        if recorded == given:
            for hook in after_answer_hooks:
                hook(session, case, request)
            audit.add_to(session, None, AssistanceAnswered(
                requester, request_id, case.credit_code, given["decision"],
                list(given.get("team", [])), by,
            ))  # fmt: skip
        session.commit()
    logger.info("assistance request %s from %s %s", request_id, requester, case.status)
    return Answered(case, recorded == given)
