"""A bureau withdraws a joint round before it is decided (``shuangsui joint withdraw``).

A round proposed by mistake (the wrong lead, partners or window) or whose partners went silent
otherwise waits for its deadlines. Joint protocol version 1 has no statement saying a round is
abandoned, so the withdrawal is this bureau's own: in one transaction, under the round's row
lock, the round is recorded ``withdrawn``, our secret nonce is erased (it can never be revealed
now) and a ``JointRoundWithdrawn`` event (why, who) goes into our audit log. The partners are
not told: each sees our reveal missing, and the round fails there by §13.3 at its deadline
(``withheld`` naming us once every commitment is held, else ``missing-commitment``).

Refused, with nothing recorded: a round decided here (drawn or failed), one whose nonce we have
revealed (the outcome then no longer waits on us: the partners can draw it without us), and one
a deadline has already failed by the rule (``joint draw`` records that failure, the evidence
against whoever withheld; a withdrawal would hide it). A ``joint draw`` or ``joint reveal``
running at the same time is ordered by the row lock and the conditional write: the first
recorded stands, the other is told.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select

from joint.models import JointRound, JointStatement
from joint.replacements import lock_round
from joint.store import decision, get_joint, now_utc, plan_of
from rounds import audit
from shuangsui.errors import UserError
from shuangsui.text import NOTE_MAX, no_control, no_control_in_text
from shuangsui.writes import write

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JointRoundWithdrawn:
    """Audit event: this bureau withdrew a joint round before it was decided (local: the
    partners see the round fail at its deadline)."""

    bureau: str
    was: str  # committed
    note: str
    recorded_by: str
    commit_deadline: str
    reveal_deadline: str


def _checked(note: str, recorded_by: str) -> str:
    note = note.strip()
    if not note:
        raise UserError("--note: say why the round is withdrawn (it is kept in the audit log)")
    if len(note) > NOTE_MAX:
        raise UserError(f"--note: {len(note)} characters, at most {NOTE_MAX}")
    try:
        note = no_control_in_text(note)
    except ValueError as exc:
        raise UserError(f"--note: {exc}") from None
    try:
        no_control(recorded_by)
    except ValueError as exc:
        raise UserError(f"--by: {exc}") from None
    return note


def refusal(row: JointRound) -> str | None:
    """Why ``row`` cannot be withdrawn as it stands here, or None."""
    joint, out = row.joint_key, row.outcome or {}
    if row.status == "withdrawn":
        w = out.get("withdrawn", {})
        return f"joint round {joint} is withdrawn here already ({w.get('at')}, by {w.get('by')})"
    if row.status == "drawn":
        return (
            f"joint round {joint} is drawn here (seed {str(out.get('seed'))[:16]}…): a drawn "
            "round is not withdrawn; its teams stand (a member who cannot take part is "
            "replaced: joint replace)"
        )
    if row.status == "failed":
        f = out.get("failure", {})
        return (
            f"joint round {joint} has failed here ({f.get('reason')}: "
            f"{', '.join(f.get('bureaus', []))}): it is decided, nothing is left to withdraw"
        )
    if row.status != "committed":
        return (
            f"joint round {joint}: our nonce is revealed, so the outcome no longer waits on "
            "this bureau (the partners can draw it without us); it is not withdrawn: joint "
            "draw decides it"
        )
    return None


def withdraw_round(
    engine: Engine,
    me_code: str,
    joint: str,
    *,
    note: str,
    recorded_by: str,
    now: dt.datetime | None = None,
) -> JointRound:
    """Record ``joint`` withdrawn here (nonce erased, audit event); :class:`UserError` naming
    why when refused, with nothing recorded."""
    note = _checked(note, recorded_by)
    now = now or now_utc()
    row = get_joint(engine, joint)
    why = refusal(row)
    if why:
        raise UserError(why)
    d = decision(engine, joint, now)  # a deadline passed: the rule failed it, draw records it
    if d.state == "failed":
        raise UserError(
            f"joint round {joint} has failed by the rule ({d.reason}: {', '.join(d.bureaus)}): "
            f"`shuangsui joint draw {joint}` records that failure, the evidence against "
            "it; it is not withdrawn"
        )
    plan = plan_of(row)

    def work(session: Session) -> JointRound:
        lock_round(session, joint)  # a reveal or a draw recorded meanwhile is seen here
        fresh = session.get(JointRound, joint, populate_existing=True)
        assert fresh is not None
        why = refusal(fresh)
        if why:
            raise UserError(why)
        if _revealed(session, joint, me_code):  # held, its status not yet set (an old run)
            raise UserError(f"joint round {joint}: our nonce is revealed; it is not withdrawn")
        fresh.status = "withdrawn"
        fresh.nonce = ""  # never to be revealed
        fresh.outcome = {"withdrawn": {"by": me_code, "at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}}
        fresh.decided_at = now
        session.add(fresh)
        event = JointRoundWithdrawn(me_code, "committed", note, recorded_by,
                                    plan["commit_deadline"], plan["reveal_deadline"])  # fmt: skip
        audit.add_to(session, joint, event)
        return fresh

    done = write(engine, work, what=f"withdrawal of joint round {joint}")
    logger.warning("joint round %s withdrawn here by %s: %s", joint, recorded_by, note)
    return done


def _revealed(session: Session, joint: str, me_code: str) -> bool:
    q = select(JointStatement.digest).where(
        JointStatement.joint_key == joint,
        JointStatement.bureau == me_code,
        JointStatement.kind == "reveal",
    )
    return session.exec(q).first() is not None
