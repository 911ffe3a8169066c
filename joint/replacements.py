"""The replacements of a joint round a bureau holds (docs/draw-algorithm.md §13.7): read back in
order, applied to the drawn teams, and one from a partner checked before it is held.

A replacement is checked against the teams this bureau drew, so it is taken only once this
bureau has drawn (409 before). Each bureau's replacements are held in order of ``n``: the
check and the insert run under the joint round's row lock (``shuangsui.writes``), so two
statements of one bureau with the same ``n`` never both get in; the followers' turn
(``rounds.turns``) is taken before it, as a bureau's own round's replacement takes it.

The people a replacement concerns are told in the transaction that holds it, by the hooks of
``after_replacement_hooks`` (``joint.hooks`` adds ``joint.notify.tell_the_team``): a statement
is held once, so they are told once however often it arrives, and never without it. The hooks
are given the team's enterprise from the frame the pick read, so that they need not read the
lead's whole frame again to name it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from draw.canonical import canonical_json
from draw.frame import EnterpriseUnit
from joint.frames import bureau_frame
from joint.models import JointRound, JointStatement
from joint.plan import team_plan
from joint.protocol import JointError, statement_hash, team_seed, valid_reveal
from joint.replace import BureauPart, PickInputs, replacement_fault, teams_as_they_stand
from rounds import turns
from shuangsui.errors import Conflict
from shuangsui.writes import write

KIND = "replacement"

# each called as hook(session, row, our bureau code, statement, its enterprise) once a
# replacement is held; each returns the number of notices it queued
AfterReplacement = Callable[[Session, JointRound, str, Mapping[str, Any], EnterpriseUnit], int]
after_replacement_hooks: list[AfterReplacement] = []


def held_replacements(session: Session, joint: str) -> list[dict[str, Any]]:
    """Every replacement statement held for ``joint``, by bureau and then ``n``."""
    q = select(JointStatement).where(JointStatement.joint_key == joint, JointStatement.kind == KIND)
    sts = [json.loads(r.envelope)["statement"] for r in session.exec(q).all()]
    return sorted(sts, key=lambda st: (st["bureau"], st["n"]))


def held_envelopes(session: Session, joint: str) -> dict[str, list[dict[str, Any]]]:
    """The signed replacements held, by bureau, each bureau's in order of ``n`` (the bundle's
    ``statements.json``)."""
    q = select(JointStatement).where(JointStatement.joint_key == joint, JointStatement.kind == KIND)
    envs = [json.loads(r.envelope) for r in session.exec(q).all()]
    out: dict[str, list[dict[str, Any]]] = {}
    for env in sorted(envs, key=lambda e: (e["statement"]["bureau"], e["statement"]["n"])):
        out.setdefault(env["statement"]["bureau"], []).append(env)
    return out


def teams_now(engine: Engine, row: JointRound) -> dict[str, list[list[str]]]:
    """The teams of a drawn joint round as they stand: the draw's, with every replacement
    held applied."""
    with Session(engine) as s:
        done = held_replacements(s, row.joint_key)
    return teams_as_they_stand((row.outcome or {}).get("teams", {}), done)


def bureau_part(session: Session, row: JointRound, bureau: str) -> BureauPart:
    """``bureau``'s part of the round with its replacements held applied."""
    outcome = row.outcome or {}
    part = BureauPart(outcome["teams"], outcome["workloads"].get(bureau, {}), bureau)
    for st in held_replacements(session, row.joint_key):
        if st["bureau"] == bureau:
            part.apply(st)
    return part


def _counted(rows: Sequence[JointStatement], bureau: str) -> dict[str, Any]:
    """The frames of ``bureau``'s commitment the draw used: the one its reveal opens (a second
    commitment held after the draw is evidence, not an input)."""
    commits = {r.digest: r for r in rows if r.bureau == bureau and r.kind == "commit"}
    reveals = [r for r in rows if r.bureau == bureau and r.kind == "reveal"]
    for r in sorted(reveals, key=lambda r: (r.received_at, r.digest)):
        reveal = json.loads(r.envelope)["statement"]
        commit = commits.get(reveal.get("commit", ""))
        if commit and valid_reveal(json.loads(commit.envelope)["statement"], reveal) is None:
            return json.loads(commit.payload)  # type: ignore[no-any-return]
    raise Conflict(f"joint round {rows[0].joint_key}: no commitment of {bureau} is opened here")


def pick_inputs(engine: Engine, row: JointRound, bureau: str) -> PickInputs:
    """What ``bureau``'s picks read (§13.7), from the commitments the draw used."""
    plan = json.loads(row.plan_json)
    with Session(engine) as s:
        q = select(JointStatement).where(JointStatement.joint_key == row.joint_key)
        rows = list(s.exec(q).all())
    lead = _counted(rows, plan["lead"])
    ents = (EnterpriseUnit.from_json(e) for e in lead["enterprises"])
    seed = team_seed(bytes.fromhex((row.outcome or {})["seed"]), bureau)
    return PickInputs(seed, team_plan(plan, bureau), {u.credit_code: u for u in ents},
                      bureau_frame(_counted(rows, bureau)))  # fmt: skip


def lock_round(session: Session, joint: str) -> None:
    """Take the joint round's row lock (on SQLite the writer holds the database's already), so
    that its replacements are checked and held in turn. Only the key is read: the row's outcome
    holds every team, megabytes of JSON in a large round."""
    q = select(JointRound.joint_key).where(JointRound.joint_key == joint).with_for_update()
    session.exec(q).one()


def lock_for_replacement(session: Session, joint: str) -> None:
    """:func:`lock_round` for a replacement, the turns of what builds on rounds first
    (``rounds.turns``), as a bureau's own round's replacement takes them
    (``rounds.replacements.drawn_round``): its hooks write again the notices of our members
    who stay, in the team's order, and ours then appends to the audit log, while a dispatcher's
    claim following our members' messages (``notifications.follow``) writes them by inspector,
    holding the log's head from the seat it audited before; each waited on the other
    (PostgreSQL: ``deadlock detected``)."""
    turns.take(session.connection())
    lock_round(session, joint)


def not_drawn(row: JointRound | None, joint: str) -> Conflict:
    state = row.status if row else "not committed to"
    return Conflict(
        f"joint round {joint} is {state} here: a replacement is checked against the teams "
        "this bureau drew (send it again once it has drawn)"
    )


def accept_replacement(
    engine: Engine, me_code: str, joint: str, st: dict[str, Any], envelope: Any, now: dt.datetime
) -> str:
    """Hold a partner's replacement once it checks (§13.7): Conflict before this bureau has
    drawn, JointError naming the field when it is not the bureau's next replacement of its own
    member, or not the pick; an identical statement already held is taken again as held."""
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(JointRound, joint)
    if row is None or row.status != "drawn" or not row.outcome:
        raise not_drawn(row, joint)
    bureau, digest = st["bureau"], statement_hash(st)
    inputs = pick_inputs(engine, row, bureau)
    drawn = row.outcome["teams"]

    def work(session: Session) -> str:
        lock_for_replacement(session, joint)
        if session.get(JointStatement, (joint, bureau, KIND, digest)) is not None:
            return "replacement already held"
        fault = replacement_fault(drawn, bureau_part(session, row, bureau), inputs, st)
        if fault:
            raise JointError(f"replacement of {bureau} refused: {fault}")
        hold(session, row, me_code, st, envelope, now, inputs.enterprises[st["credit_code"]])
        return "replacement held"

    return write(engine, work, what=f"replacement in joint round {joint}")


def hold(
    session: Session, row: JointRound, me_code: str, st: dict[str, Any], envelope: Any,
    now: dt.datetime, enterprise: EnterpriseUnit,
) -> int:  # fmt: skip
    """Hold a checked replacement in ``session``'s transaction, and tell whom it concerns
    (``after_replacement_hooks``) in the same; ``enterprise``: the team's, as the pick read
    it. The number of notices queued."""
    session.add(held_row(row.joint_key, st, envelope, now))
    session.flush()  # the hooks read the teams with it applied
    return sum(hook(session, row, me_code, st, enterprise) for hook in after_replacement_hooks)


def held_row(joint: str, st: dict[str, Any], envelope: Any, now: dt.datetime) -> JointStatement:
    return JointStatement(
        joint_key=joint,
        bureau=st["bureau"],
        kind=KIND,
        digest=statement_hash(st),
        envelope=canonical_json(dict(envelope)).decode(),
        payload="",
        received_at=now,
    )
