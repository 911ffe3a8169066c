"""What coordinators see of joint rounds (``partners status``, the workspace's partners page):
who withheld, equivocated, did not commit or sent a reveal that does not open its commitment,
each with its signed commitment and the deadline."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from sqlmodel import Session, select

from joint.models import JointRound, JointStatement
from joint.protocol import decide
from joint.store import announced, by_bureau, held, now_utc, plan_of

FRAMES = " (held here without its frames, too large to be sent: a pull takes them)"


def evidence(engine: Engine, row: JointRound, now: dt.datetime | None = None) -> list[str]:
    """Lines for ``partners status`` and the workspace: who withheld or equivocated or sent a
    reveal that does not open its commitment, each with its signed commitment and deadline."""
    plan = plan_of(row)
    commits, reveals = by_bureau(engine, row.joint_key)
    signed_by: dict[str, list[str]] = {}  # every commitment held, as evidence
    for r in held(engine, row.joint_key, ("commit",)):
        signed_by.setdefault(r.bureau, []).append(r.digest[:16])
    out = []
    failure = (row.outcome or {}).get("failure") if row.status == "failed" else None
    then = f"(`shuangsui joint bundle {row.joint_key}`)"
    if row.status == "withdrawn":  # here only: the partners see our reveal missing
        w = (row.outcome or {}).get("withdrawn", {})
        out.append(
            f"joint round {row.joint_key} withdrawn here at {w.get('at')} (the partners were not "
            f"told: each fails it at its deadline, reveal deadline {plan['reveal_deadline']})"
        )
    elif failure is None and row.status not in ("drawn", "failed"):
        frameless = announced(engine, row.joint_key, row.plan_hash)
        d = decide(plan, commits, reveals, now or now_utc(), frameless)
        if d.state.startswith("waiting"):
            what = "commitment" if d.state == "waiting-commitments" else "reveal"
            for b in d.bureaus:
                out.append(f"waiting for the {what} of {b}{FRAMES if b in frameless else ''}")
        elif d.state == "failed":  # a deadline passed: the rule has failed the round, though
            failure = d.failure()  # no draw has recorded it yet (it said nothing at all)
            then = (
                f"(the round has failed by the rule: `shuangsui joint draw {row.joint_key}` "
                "records it)"
            )
    if failure:
        deadline = plan["reveal_deadline" if failure["reason"] == "withheld" else "commit_deadline"]
        for b in failure["bureaus"]:
            signed = signed_by.get(b, [])
            word = {
                "withheld": "WITHHELD ITS REVEAL",
                "equivocation": "SIGNED TWO COMMITMENTS",
                "missing-commitment": "DID NOT COMMIT",
                "infeasible": "COULD NOT STAFF THE TEAMS",
            }.get(failure["reason"], "failed")
            out.append(
                f"!!! {b} {word} in joint round {row.joint_key}: deadline {deadline}; "
                f"signed commitment(s) {', '.join(signed) or 'none'} {then}"
            )
    for r in _after_the_decision(engine, row):
        out.append(
            f"!!! {r.bureau} SIGNED A SECOND COMMITMENT after joint round {row.joint_key} was "
            f"decided here ({row.status}; signed, kept: {r.digest[:16]}; not in the bundle, "
            "which holds what the decision was made from)"
        )
    for r in held(engine, row.joint_key, ("bad-reveal",)):
        out.append(
            f"!!! {r.bureau} REVEALED A NONCE THAT DOES NOT OPEN ITS COMMITMENT in joint "
            f"round {row.joint_key} (signed, kept: {r.digest[:16]})"
        )
    return out


def _after_the_decision(engine: Engine, row: JointRound) -> list[JointStatement]:
    """The commitments held after ``row`` was decided from a bureau that had one before: it
    changes nothing here (a decided round stays decided), but it is signed evidence of
    equivocation, and a participant that had not yet decided fails the round on it."""
    if row.decided_at is None:
        return []
    rows = sorted(held(engine, row.joint_key, ("commit",)), key=lambda r: r.received_at)
    before = {r.bureau for r in rows if r.received_at <= row.decided_at}
    return [r for r in rows if r.received_at > row.decided_at and r.bureau in before]


def all_evidence(engine: Engine) -> list[str]:
    with Session(engine, expire_on_commit=False) as s:
        rows = s.exec(select(JointRound)).all()
    return [line for row in rows for line in evidence(engine, row)]
