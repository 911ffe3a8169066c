"""What a coordinator reads of the joint rounds this bureau takes part in (the workspace's
``/w/c/joint``): each round's plan, status and deadlines, and for each participant whether its
commitment and its reveal are held here; for one round, what the rule decides now, the teams
as they stand once drawn, and the note of a withdrawal.

Read only, through the store's own functions (``joint.store``): a commitment counts as
``by_bureau`` counts it (for our plan, its frames checked), a reveal only if it opens that
commitment (§13.3). Tens of rounds at most: a few queries each."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from joint.models import JointRound
from joint.protocol import Decision, decide, statement_hash, valid_reveal
from joint.replacements import teams_now
from joint.store import announced, at, by_bureau, get_joint, held, now_utc, plan_of
from registry.models import Enterprise, Inspector
from rounds.models import AuditEvent

UNDECIDED = ("committed", "revealed")


@dataclass(frozen=True)
class Party:
    """One participant as this bureau holds it."""

    bureau: str
    inspectors: int  # its inspectors on each team
    commitments: int  # distinct commitments held (two or more: equivocation)
    revealed: bool  # a reveal that opens its commitment is held
    bad_reveals: int  # refused reveals kept as evidence


@dataclass(frozen=True)
class Member:
    bureau: str
    inspector_id: str
    name: str  # ours: from our registry; a partner's: ""


@dataclass(frozen=True)
class Team:
    credit_code: str
    enterprise: str  # from our registry (the lead holds it), else ""
    kind: str  # random | targeted
    members: list[Member]


@dataclass
class JointView:
    key: str
    lead: str
    status: str  # committed | revealed | drawn | failed | withdrawn (here)
    commit_deadline: dt.datetime
    reveal_deadline: dt.datetime
    created_at: dt.datetime
    parties: list[Party]
    decision: Decision | None  # what the rule decides now, while undecided here
    outcome: dict[str, Any]
    replaces: str = ""
    withdrawal: dict[str, str] = field(default_factory=dict)  # note, recorded_by (audit log)
    teams: list[Team] = field(default_factory=list)  # drawn: as they stand


def _view(engine: Engine, row: JointRound, now: dt.datetime) -> JointView:
    """``row`` as the pages read it: participants as ``by_bureau`` counts their statements
    (the partners page reads the same), and the rule's decision at ``now`` while undecided."""
    plan = plan_of(row)
    commits, reveals = by_bureau(engine, row.joint_key)
    bad: dict[str, int] = {}
    for r in held(engine, row.joint_key, ("bad-reveal",)):
        bad[r.bureau] = bad.get(r.bureau, 0) + 1
    parties = []
    for p in plan["participants"]:
        b = p["bureau"]
        mine = commits.get(b, [])
        opened = bool(mine) and any(valid_reveal(mine[0], r) is None for r in reveals.get(b, ()))
        count = len({statement_hash(c) for c in mine})
        parties.append(Party(b, p["inspectors"], count, opened, bad.get(b, 0)))
    undecided = row.status in UNDECIDED
    return JointView(
        key=row.joint_key,
        lead=row.lead,
        status=row.status,
        commit_deadline=at(plan["commit_deadline"]),
        reveal_deadline=at(plan["reveal_deadline"]),
        created_at=row.created_at,
        parties=parties,
        decision=(
            decide(plan, commits, reveals, now, announced(engine, row.joint_key, row.plan_hash))
            if undecided
            else None
        ),
        outcome=row.outcome or {},
        replaces=plan.get("replaces", ""),
    )


def joint_rounds(engine: Engine, now: dt.datetime | None = None) -> list[JointView]:
    """Every joint round this bureau has committed to, newest first."""
    now = now or now_utc()
    with Session(engine, expire_on_commit=False) as s:
        rows = s.exec(
            select(JointRound).order_by(
                col(JointRound.created_at).desc(), col(JointRound.joint_key)
            )
        ).all()
    return [_view(engine, row, now) for row in rows]


def joint_round(
    engine: Engine, me_code: str, joint: str, now: dt.datetime | None = None
) -> JointView:
    """One joint round (``NotFound`` when this bureau holds none of that key), with its teams
    as they stand once drawn and the note of its withdrawal once withdrawn here."""
    row = get_joint(engine, joint)
    view = _view(engine, row, now or now_utc())
    if row.status == "drawn" and row.outcome:
        view.teams = _teams(engine, row, me_code)
    if row.status == "withdrawn":
        view.withdrawal = _withdrawal(engine, joint)
    return view


def _teams(engine: Engine, row: JointRound, me_code: str) -> list[Team]:
    """The drawn enterprises in the draw's order, each team as it stands (replacements held
    applied), our own members named from our registry (a partner's id may be anyone's here)."""
    teams = teams_now(engine, row)
    ours = sorted({i for team in teams.values() for b, i in team if b == me_code})
    with Session(engine) as s:
        firms = dict(
            s.exec(
                select(Enterprise.credit_code, Enterprise.name).where(
                    col(Enterprise.credit_code).in_(sorted(teams))
                )
            ).all()
        )
        people = dict(s.exec(select(Inspector.inspector_id, Inspector.name)
                             .where(col(Inspector.inspector_id).in_(ours))).all())  # fmt: skip
    out = []
    for sel in (row.outcome or {}).get("selected", []):
        code = sel["credit_code"]
        members = [
            Member(b, i, people.get(i, "") if b == me_code else "") for b, i in teams.get(code, [])
        ]
        out.append(Team(code, firms.get(code, ""), sel.get("kind", ""), members))
    return out


def _withdrawal(engine: Engine, joint: str) -> dict[str, str]:
    """The note and who recorded it, from our audit log (``JointRoundWithdrawn``)."""
    with Session(engine) as s:
        event = s.exec(
            select(AuditEvent)
            .where(AuditEvent.round_key == joint, AuditEvent.event == "JointRoundWithdrawn")
            .order_by(col(AuditEvent.seq).desc())
        ).first()
    if event is None:
        return {}
    payload = json.loads(event.payload)
    return {
        "note": str(payload.get("note", "")),
        "recorded_by": str(payload.get("recorded_by", "")),
    }
