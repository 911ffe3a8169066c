"""What a bureau holds of joint rounds (``joint_round``, ``joint_statement``) and how a signed
statement from a partner is accepted: the receiver's rules of docs/exchange-protocol.md,
"Joint rounds" (statement checks, deadlines, refused reveals kept as evidence)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from draw.canonical import canonical_json
from exchange.directory import Partner
from joint.frames import check_payload
from joint.models import JointRound, JointStatement
from joint.protocol import (
    Decision,
    JointError,
    decide,
    finding_fault,
    open_envelope,
    statement_hash,
    valid_reveal,
)
from joint.replacements import accept_replacement, teams_now
from shuangsui.errors import Conflict, NotFound

logger = logging.getLogger(__name__)
KINDS = {"joint-commit": "commit", "joint-reveal": "reveal", "joint-finding": "finding",
         "joint-replacement": "replacement"}  # fmt: skip


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def plan_of(row: JointRound) -> dict[str, Any]:
    return json.loads(row.plan_json)  # type: ignore[no-any-return]


def get_joint(engine: Engine, joint: str) -> JointRound:
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(JointRound, joint)
    if row is None:
        raise NotFound(f"joint round {joint}: this bureau has not committed to it")
    return row


def held(
    engine: Engine, joint: str, kinds: tuple[str, ...] = ("commit", "reveal")
) -> list[JointStatement]:
    with Session(engine, expire_on_commit=False) as s:
        q = select(JointStatement).where(JointStatement.joint_key == joint)
        return [r for r in s.exec(q).all() if r.kind in kinds]


# refused reveals of one bureau kept as evidence in a joint round (each is its signed proof of
# a nonce that does not open its commitment; the first already is): a partner sending more
# made a row, a status line and a bundle entry each, without limit
BAD_REVEALS_KEPT = 3


def store(
    engine: Engine,
    joint: str,
    kind: str,
    st: Mapping[str, Any],
    envelope: Mapping[str, Any],
    payload: str = "",
    now: dt.datetime | None = None,
) -> None:
    key = (joint, st["bureau"], kind, statement_hash(st))
    with Session(engine) as s:
        if s.get(JointStatement, key) is None:
            s.add(
                JointStatement(
                    joint_key=joint,
                    bureau=st["bureau"],
                    kind=kind,
                    digest=key[3],
                    envelope=canonical_json(dict(envelope)).decode(),
                    payload=payload,
                    received_at=now or now_utc(),
                )
            )
            try:
                s.commit()
            except IntegrityError:  # the same statement, stored by a concurrent request
                s.rollback()


# ---------------------------------------------------------------- what partners send us
def receive(
    engine: Engine,
    me_code: str,
    sender: Partner,
    envelope: Any,
    payload: str,
    now: dt.datetime | None = None,
) -> str:
    """Accept one signed statement from ``sender`` (a verified partner). JointError (422) for
    a statement that does not check, Conflict (409) for one that comes too late or too early.
    A reveal that does not open the sender's commitment is kept as evidence, then refused."""
    now = now or now_utc()
    st = open_envelope(envelope, sender.keys)
    if st["bureau"] != sender.code:
        raise JointError(
            f"statement.bureau: {st['bureau']}, but the request is signed by {sender.code}"
        )
    return accept(engine, me_code, st, envelope, payload, now)


def accept(
    engine: Engine,
    me_code: str,
    st: dict[str, Any],
    envelope: Any,
    payload: str,
    now: dt.datetime,
    relayed: bool = False,
) -> str:
    """``relayed``: pulled from a participant that accepted it (and checked the deadline)."""
    joint, kind = st["joint"], KINDS[st["type"]]
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(JointRound, joint)
    plan = plan_of(row) if row else None
    ours = row.plan_hash if row else ""
    if plan is not None and st["joint_plan_hash"] != ours:
        raise JointError(
            f"joint_plan_hash: {st['joint_plan_hash'][:12]}… is not the plan this "
            f"bureau committed to ({ours[:12]}…)"
        )
    if plan is not None and st["bureau"] not in [p["bureau"] for p in plan["participants"]]:
        raise JointError(f"bureau {st['bureau']} is not a participant of {joint}")
    digest = statement_hash(st)
    with Session(engine) as s:
        if s.get(JointStatement, (joint, st["bureau"], kind, digest)) is not None:
            return f"{kind} already held"
    if kind == "commit":
        if plan is not None:
            check_payload(plan, st, payload)
            if row.status != "committed" or now > at(plan["commit_deadline"]):  # type: ignore[union-attr]
                if not [c for c in held(engine, joint, ("commit",)) if c.bureau == st["bureau"]]:
                    raise Conflict(
                        f"joint round {joint}: commitments are closed (the commit "
                        "deadline passed, or this bureau has revealed or withdrawn it)"
                    )
                # a second commitment of a bureau, however late: evidence of equivocation
        store(engine, joint, "commit", st, envelope, payload, now)
        return "commitment held"
    if plan is None:
        raise Conflict(f"joint round {joint}: this bureau has not committed to it yet")
    if kind == "finding":
        assert row is not None  # a plan is held, so is its row
        _check_finding(engine, row, me_code, st)
        store(engine, joint, "finding", st, envelope, "", now)
        return "finding held"
    if kind == "replacement":  # checked against the teams drawn here (joint.replacements)
        return accept_replacement(engine, me_code, joint, st, envelope, now)
    commits = [
        json.loads(c.envelope)["statement"]
        for c in held(engine, joint, ("commit",))
        if c.bureau == st["bureau"]
    ]
    if not commits:
        raise Conflict(f"joint round {joint}: no commitment of {st['bureau']} is held here")
    if now > at(plan["reveal_deadline"]) and not relayed:
        raise Conflict(
            f"joint round {joint}: the reveal deadline {plan['reveal_deadline']} "
            "has passed (rule withheld-fails)"
        )
    why = valid_reveal(commits[0], st)
    if why:
        held_already = sum(r.bureau == st["bureau"] for r in held(engine, joint, ("bad-reveal",)))
        if held_already >= BAD_REVEALS_KEPT:  # evidence enough: the rest would only pile up
            raise JointError(f"reveal of {st['bureau']} refused, not kept ({held_already} of "
                             f"its refused reveals are kept already): {why}")  # fmt: skip
        store(engine, joint, "bad-reveal", st, envelope, "", now)
        logger.warning(
            "joint round %s: %s revealed a nonce that does not open its commitment",
            joint,
            st["bureau"],
        )
        raise JointError(f"reveal of {st['bureau']} refused and kept as evidence: {why}")
    store(engine, joint, "reveal", st, envelope, "", now)
    return "reveal held"


def _check_finding(engine: Engine, row: JointRound, me_code: str, st: Mapping[str, Any]) -> None:
    """A finding goes to the lead once the lead has drawn, and is the signer's part of a team
    as it stands (``finding_fault``, the replacements held applied): held unchecked, one
    naming inspectors nobody drew went into the lead's log as the joint result."""
    joint = row.joint_key
    if row.lead != me_code:
        raise Conflict(f"joint round {joint}: findings go to the lead, {row.lead}")
    if row.status == "failed":
        raise Conflict(f"joint round {joint} failed: it takes no findings")
    if row.status != "drawn" or not row.outcome:
        raise Conflict(
            f"joint round {joint}: this bureau (the lead) has not drawn joint round {joint} "
            "yet; send the finding again once it has"
        )
    fault = finding_fault(teams_now(engine, row), st)
    if fault:
        raise JointError(f"finding of {st['bureau']} refused: {fault}")


def state(engine: Engine, joint: str) -> dict[str, Any]:
    """What we hold of a joint round, for partners: commitments (with frames), reveals and
    replacements (§13.7)."""
    rows = held(engine, joint, ("commit", "reveal", "replacement"))
    return {
        "joint": joint,
        "statements": [
            {"kind": r.kind, "envelope": json.loads(r.envelope), "payload": r.payload}
            for r in sorted(rows, key=lambda r: (r.kind, r.bureau, r.digest))
        ],
    }


def by_bureau(
    engine: Engine, joint: str
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Commitments and reveals held for our joint plan, by bureau. Statements that reached us
    before we committed were not checked then: one for another plan, or a commitment whose
    frames differ from it, does not count."""
    row = get_joint(engine, joint)
    plan = plan_of(row)
    commits: dict[str, list[dict[str, Any]]] = {}
    reveals: dict[str, list[dict[str, Any]]] = {}
    for r in held(engine, joint):
        st = json.loads(r.envelope)["statement"]
        if st["joint_plan_hash"] != row.plan_hash:
            continue
        if r.kind == "commit":
            try:
                check_payload(plan, st, r.payload)
            except JointError:
                continue
        (commits if r.kind == "commit" else reveals).setdefault(r.bureau, []).append(st)
    return commits, reveals


def decision(engine: Engine, joint: str, now: dt.datetime | None = None) -> Decision:
    row = get_joint(engine, joint)
    commits, reveals = by_bureau(engine, joint)
    return decide(plan_of(row), commits, reveals, now or now_utc())
