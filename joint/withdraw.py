"""A bureau withdraws one of its own members from a joint round's team (docs/draw-algorithm.md
§13.7, ``shuangsui joint replace``).

Each bureau draws its own inspectors, so it replaces only its own (谁检查、谁录入). In one
transaction, under the joint round's row lock: the seat is checked (our member, on that team
as it stands, our finding for that enterprise not yet made), §14's pick is made on our part
of the round, the signed ``joint-replacement`` is held, our members it concerns are told
(``joint.notify.tell_the_team``: the new member, by a 检查任务通知 saying whose seat they
take and why; the one withdrawn; those who stay) and a ``JointMemberReplaced`` event (with the
reason and who recorded it, which the statement leaves out) goes into our audit log: a crash
leaves all of these or none. Then the statement is POSTed to every other participant (one that
is down gets it by a pull).

Refused, with nothing recorded: a round not drawn here, an inspector who is not ours on that
team, a finding of ours for that enterprise already made (the team signed it), no inspector
left to take the seat.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from draw.replace import CAUSES, ROUND_WIDE, NoReplacement
from exchange.errors import SyncRejected
from joint import client
from joint.models import JointStatement
from joint.protocol import sign_statement, statement_hash
from joint.replace import replacement_statement
from joint.replacements import bureau_part, hold, lock_for_replacement, pick_inputs, teams_now
from joint.service import Bureau, get_joint, plan_of
from rounds import audit
from shuangsui.errors import UserError
from shuangsui.text import NOTE_MAX, no_control, no_control_in_text
from shuangsui.writes import write

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JointMemberReplaced:
    """Audit event: our n-th replacement in a joint round (§13.7), with why and who recorded
    it (neither is in the signed statement, whose hash is ``statement``)."""

    n: int
    credit_code: str
    position: int
    withdrawn: str
    replacement: str
    cause: str
    note: str
    recorded_by: str
    statement: str


@dataclass
class Recorded:
    statement: dict[str, Any]
    team: list[list[str]]  # the enterprise's team as it now stands
    sent: list[str] = field(default_factory=list)  # what each participant answered
    queued: int = 0  # notices queued for our inspectors, with the statement
    # withdrawn as unavailable or left: the other enterprises whose teams the member still
    # sits on (one team at a time, as §14; the same cause most likely holds there too)
    still_on: list[str] = field(default_factory=list)


def _checked_note(note: str) -> str:
    note = note.strip()
    if not note:
        raise UserError("note: say why the member leaves the team (it is kept in the audit log)")
    if len(note) > NOTE_MAX:
        raise UserError(f"note: {len(note)} characters, at most {NOTE_MAX}")
    try:
        return no_control_in_text(note)
    except ValueError as exc:
        raise UserError(f"note: {exc}") from None


def _our_finding(session: Session, joint: str, bureau: str, credit_code: str) -> bool:
    q = select(JointStatement).where(
        JointStatement.joint_key == joint,
        JointStatement.bureau == bureau,
        JointStatement.kind == "finding",
    )
    rows = session.exec(q).all()
    return any(json.loads(r.envelope)["statement"]["credit_code"] == credit_code for r in rows)


def replace_member(
    engine: Engine,
    me: Bureau,
    joint: str,
    credit_code: str,
    inspector_id: str,
    *,
    cause: str,
    note: str,
    recorded_by: str,
) -> Recorded:
    """Withdraw our ``inspector_id`` from the team of ``credit_code`` and seat the inspector
    §13.7 picks; :class:`UserError` naming why when refused (nothing recorded)."""
    if cause not in CAUSES:
        raise UserError(f"cause: must be one of {', '.join(CAUSES)}, not {cause!r}")
    note = _checked_note(note)
    for name, value in (("recorded_by", recorded_by), ("inspector", inspector_id)):
        try:
            no_control(value)
        except ValueError as exc:
            raise UserError(f"{name}: {exc}") from None
    row = get_joint(engine, joint)
    if row.status != "drawn" or not row.outcome:
        raise UserError(
            f"joint round {joint} is {row.status} here: only a drawn round's teams change"
        )
    drawn = row.outcome["teams"]
    if credit_code not in drawn:
        raise UserError(f"credit_code: {credit_code} has no team in joint round {joint}")
    inputs = pick_inputs(engine, row, me.code)

    def work(session: Session) -> tuple[dict[str, Any], dict[str, Any], int]:
        lock_for_replacement(session, joint)  # a joint round's replacements in turn
        part = bureau_part(session, row, me.code)
        ours = part.now.teams[credit_code]
        if inspector_id not in ours:
            raise UserError(
                f"{inspector_id} is not a member of ours ({me.code}) on the team of "
                f"{credit_code} as it stands (ours there: {', '.join(ours) or 'none'})"
            )
        if _our_finding(session, joint, me.code, credit_code):
            raise UserError(
                f"{credit_code}: our finding for it is made (its team signed it); the team "
                "no longer changes"
            )
        position = part.seats[credit_code][ours.index(inspector_id)]
        try:
            chosen = part.pick(inputs, credit_code, position, inspector_id, cause)
        except NoReplacement as exc:
            raise UserError(f"joint round {joint}: {exc}; nothing recorded") from None
        st = replacement_statement(
            joint, row.plan_hash, me.code, n=part.next_n(), credit_code=credit_code,
            position=position, withdrawn=inspector_id, replacement=chosen, cause=cause,
        )  # fmt: skip
        envelope = sign_statement(st, me.key.origin, me.key.private)
        queued = hold(session, row, me.code, st, envelope, dt.datetime.now(dt.UTC),
                      inputs.enterprises[credit_code])  # fmt: skip
        event = JointMemberReplaced(st["n"], credit_code, position, inspector_id, chosen, cause,
                                    note, recorded_by, statement_hash(st))  # fmt: skip
        audit.add_to(session, joint, event)
        return st, envelope, queued

    st, envelope, queued = write(engine, work, what=f"replacement in joint round {joint}")
    logger.info("joint round %s: %s replaced by %s on the team of %s (%s)",
                joint, inspector_id, st["replacement"], credit_code, cause)  # fmt: skip
    teams = teams_now(engine, row)
    done = Recorded(st, teams[credit_code], queued=queued)
    if cause in ROUND_WIDE:
        done.still_on = sorted(c for c, t in teams.items() if [me.code, inspector_id] in t)
    done.sent = send(me, joint, plan_of(row), envelope)
    return done


def send(me: Bureau, joint: str, plan: dict[str, Any], envelope: dict[str, Any]) -> list[str]:
    """POST a replacement to every other participant; a line for each answer. One that is
    down or not drawn yet takes it later: by ``joint push`` or its own pull."""
    lines = []
    for p in plan["participants"]:
        code = p["bureau"]
        if code == me.code:
            continue
        partner = me.partners.get(code)
        if partner is None:
            lines.append(f"replacement -> {code}: not in the partner directory")
            continue
        try:
            said = client.post_statement(partner, me.key, joint, envelope, "", me.transport)
            lines.append(f"replacement -> {code}: {said.get('result', 'ok')}")
        except SyncRejected as exc:
            lines.append(f"replacement -> {code}: {exc}")
    return lines
