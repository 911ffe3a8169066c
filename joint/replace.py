"""Replacing a member of a joint round's team (docs/draw-algorithm.md §13.7), pure.

Each bureau draws its own inspectors (§13.5), so each replaces only its own: bureau b's n-th
replacement is a ``joint-replacement`` statement b signs, with n counted per bureau so that
bureaus never need to agree on an order. The pick is §14's (``draw.replace``) run on b's part
of the round, as §13.5 runs §9 for b: b's members of each team, b's workloads, b's inspector
frame and conflicts, ``team_seed(b)`` in place of the seed. Only the ticket reads the whole
team: it hashes the seat's place in the team as ``outcome.json`` lists it.

A replacement of b changes only b's seats, and b's picks read only b's part, so the teams as
they stand are the same whatever order the bureaus' replacements arrive in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from draw.frame import EnterpriseUnit
from draw.replace import (
    CAUSES,
    NoReplacement,
    Replacement,
    TeamsNow,
    Withdrawal,
    pick_replacement,
)
from joint.draw import BureauFrame
from joint.protocol import TYPES

__all__ = [
    "BureauPart",
    "PickInputs",
    "replacement_fault",
    "replacement_statement",
    "seat_fault",
    "teams_as_they_stand",
]

JointTeams = Mapping[str, Sequence[Sequence[str]]]  # credit code: [[bureau, inspector_id], …]


@dataclass(frozen=True)
class PickInputs:
    """What bureau b's picks read: ``team_seed(b)``, the round's plan with b's team size
    (``joint.plan.team_plan``), the lead's enterprise frame, b's committed frame."""

    seed: bytes
    plan: Mapping[str, Any]
    enterprises: Mapping[str, EnterpriseUnit]
    frame: BureauFrame


class BureauPart:
    """One bureau's members of every team with its replacements so far applied (§14's state,
    on b's part), and where its seats lie in the whole teams (they never move: a replacement
    keeps the seat's bureau)."""

    def __init__(self, drawn: JointTeams, workloads: Mapping[str, int], bureau: str):
        self.bureau = bureau
        self.seats = {
            code: [p for p, (b, _) in enumerate(team) if b == bureau]
            for code, team in drawn.items()
        }
        own = {code: [i for b, i in team if b == bureau] for code, team in drawn.items()}
        self.now = TeamsNow.drawn(own, workloads)

    def next_n(self) -> int:
        return self.now.count + 1

    def withdrawal(self, credit_code: str, position: int, withdrawn: str, cause: str) -> Withdrawal:
        """§14's withdrawal on b's part: the seat as b's members of the team number it."""
        local = self.seats[credit_code].index(position)
        return Withdrawal(self.next_n(), credit_code, local, withdrawn, cause)

    def pick(
        self, inputs: PickInputs, credit_code: str, position: int, withdrawn: str, cause: str
    ) -> str:
        """The inspector §14 seats at ``position`` (the whole team's numbering) in place of
        ``withdrawn``; ``draw.replace.NoReplacement`` when nobody is left."""
        w = self.withdrawal(credit_code, position, withdrawn, cause)
        ent = inputs.enterprises[credit_code]
        frame = inputs.frame
        return pick_replacement(inputs.seed, inputs.plan, ent, frame.inspectors, frame.conflicts,
                                frozenset(), self.now, w, seat=position)  # fmt: skip

    def apply(self, st: Mapping[str, Any]) -> None:
        """Seat a checked replacement statement's replacement."""
        w = self.withdrawal(st["credit_code"], st["position"], st["withdrawn"], st["cause"])
        self.now.apply(Replacement(w, st["replacement"]))


def replacement_statement(
    joint: str,
    plan_hash: str,
    bureau: str,
    *,
    n: int,
    credit_code: str,
    position: int,
    withdrawn: str,
    replacement: str,
    cause: str,
) -> dict[str, Any]:
    """The ``joint-replacement`` statement (§13.7); the reason and who recorded it are not in
    it: they stay in the bureau's own audit log."""
    return {
        "v": 1,
        "type": "joint-replacement",
        "joint": joint,
        "joint_plan_hash": plan_hash,
        "bureau": bureau,
        "n": n,
        "credit_code": credit_code,
        "position": position,
        "withdrawn": withdrawn,
        "replacement": replacement,
        "cause": cause,
    }


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def seat_fault(drawn: JointTeams, part: BureauPart, st: Mapping[str, Any]) -> str | None:
    """Why ``st`` is not bureau b's next withdrawal as its part stands (None if it is): the
    field named first. Neither the pick nor the signature: see :func:`replacement_fault`."""
    b, code, position = part.bureau, st.get("credit_code"), st.get("position")
    extra = sorted(set(st) - TYPES["joint-replacement"])
    if extra:  # verify_joint.py reads exactly these fields: one more was never checked
        return f"{extra[0]}: not a field of a joint-replacement"
    if not _int(st.get("n")) or st["n"] != part.next_n():
        return f"n: {st.get('n')!r}, but the next replacement of {b} is {part.next_n()}"
    if st.get("cause") not in CAUSES:
        return f"cause: {st.get('cause')!r} is not one of {', '.join(CAUSES)}"
    if not isinstance(code, str) or code not in drawn:
        return "credit_code: not an enterprise of this joint round"
    team = drawn[code]
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < len(team):
        return f"position: {position!r} is not a seat of the team of {code}"
    holder = team[position][0]
    if holder != b:
        return f"position: seat {position} of the team of {code} is {holder}'s, not {b}'s"
    sitting = part.now.teams[code][part.seats[code].index(position)]
    if st.get("withdrawn") != sitting:
        return f"withdrawn: seat {position} of the team of {code} is {sitting}'s as it stands"
    if not isinstance(st.get("replacement"), str):
        return "replacement: an inspector id"
    return None


def replacement_fault(
    drawn: JointTeams, part: BureauPart, inputs: PickInputs, st: Mapping[str, Any]
) -> str | None:
    """Why ``st`` is not bureau b's next replacement (None if it is): its seat
    (:func:`seat_fault`), then ``replacement`` against the pick §13.7 gives."""
    fault = seat_fault(drawn, part, st)
    if fault:
        return fault
    try:
        want = part.pick(inputs, st["credit_code"], st["position"], st["withdrawn"], st["cause"])
    except NoReplacement as exc:
        return f"replacement: the rules leave nobody to take the seat ({exc})"
    if st["replacement"] != want:
        return f"replacement: {st['replacement']}, but the pick is {want}"
    return None


def teams_as_they_stand(
    drawn: JointTeams, replacements: Iterable[Mapping[str, Any]]
) -> dict[str, list[list[str]]]:
    """The drawn teams with ``replacements`` (checked statements; each bureau's in order of
    ``n``) applied: each seat holds its bureau's latest replacement."""
    teams = {code: [list(member) for member in team] for code, team in drawn.items()}
    for st in replacements:
        teams[st["credit_code"]][st["position"]] = [st["bureau"], st["replacement"]]
    return teams
