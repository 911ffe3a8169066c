"""Replacing a team member after the draw (docs/draw-algorithm.md §14).

A member who must leave a team once it is drawn (a conflict declared late, 回避; illness or
another duty; a transfer) is replaced by a pick made the way §9 makes its picks: among the
inspectors §9's rules leave eligible for the enterprise, not on its team and not withdrawn
before, those with the lowest workload in the round as it stands, in frame order, at the index
a ticket gives. The ticket is ``SHA-256(seed || "replace" || lp(credit_code) || position ||
n)``: the round's seed, the seat and the replacement's number in the round, so the pick is
fixed by what the round committed to and the recorded withdrawals, and anyone holding the
bundle redoes it (``verify.py``).

:func:`replay` applies a round's replacements in order to the draw's teams and workloads and
checks each recorded replacement against the pick it must be; :func:`pick_replacement` makes
the next one. Both run on inspector ids (version 1) or on pseudonyms (version 2: the caller
renames, as ``draw.core`` does for §9).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .canonical import lp
from .frame import EnterpriseUnit, InspectorUnit
from .teams import RULES, _candidate, _rule

__all__ = [
    "CAUSES",
    "NoReplacement",
    "Replacement",
    "ReplayMismatch",
    "TeamsNow",
    "Withdrawal",
    "pick_replacement",
    "replace_ticket",
    "replay",
]

# why a member leaves a team, and what it means for later picks in the round (§14)
CAUSES: dict[str, str] = {
    "conflict": "回避：与该企业有利害关系",  # kept off this enterprise's team
    "unavailable": "不能到场：疾病、公务或其他原因",  # kept off every later pick of the round
    "left": "调离或执法资格终止",  # kept off every later pick of the round
}
ROUND_WIDE = frozenset({"unavailable", "left"})

Pairs = frozenset[tuple[str, str]]


class NoReplacement(ValueError):
    """No inspector is left to take the seat: names the enterprise, the seat and the counts."""


class ReplayMismatch(ValueError):
    """A recorded replacement is not the one the rules give: names it and what differs."""


@dataclass(frozen=True)
class Withdrawal:
    """A member leaving a team: the n-th replacement of the round (from 1)."""

    n: int
    credit_code: str
    position: int  # the seat: 0 is the lead
    withdrawn: str
    cause: str


@dataclass(frozen=True)
class Replacement:
    withdrawal: Withdrawal
    replacement: str

    def to_json(self) -> dict[str, object]:
        w = self.withdrawal
        return {
            "n": w.n,
            "credit_code": w.credit_code,
            "position": w.position,
            "withdrawn": w.withdrawn,
            "replacement": self.replacement,
            "cause": w.cause,
        }


@dataclass
class TeamsNow:
    """The teams and workloads of a round with its replacements so far applied, and who is
    kept off which later picks."""

    teams: dict[str, list[str]]
    workloads: dict[str, int]
    off_team: dict[str, set[str]] = field(default_factory=dict)  # credit code: withdrawn
    off_round: set[str] = field(default_factory=set)
    count: int = 0  # replacements applied

    @classmethod
    def drawn(cls, teams: Mapping[str, Sequence[str]], workloads: Mapping[str, int]) -> TeamsNow:
        return cls({c: list(t) for c, t in teams.items()}, dict(workloads))

    def apply(self, done: Replacement) -> None:
        w = done.withdrawal
        self.teams[w.credit_code][w.position] = done.replacement
        self.workloads[w.withdrawn] -= 1
        if not self.workloads[w.withdrawn]:
            del self.workloads[w.withdrawn]
        self.workloads[done.replacement] = self.workloads.get(done.replacement, 0) + 1
        self.off_team.setdefault(w.credit_code, set()).add(w.withdrawn)
        if w.cause in ROUND_WIDE:
            self.off_round.add(w.withdrawn)
        self.count += 1


def replace_ticket(seed: bytes, credit_code: str, position: int, n: int) -> int:
    """The integer that picks the ``n``-th replacement of the round, for seat ``position``."""
    digest = hashlib.sha256(
        seed + b"replace" + lp(credit_code) + position.to_bytes(4, "big") + n.to_bytes(4, "big")
    ).digest()
    return int.from_bytes(digest, "big")


def check_withdrawal(now: TeamsNow, w: Withdrawal) -> None:
    """The withdrawal names the round's next number, a drawn team, and its member there."""
    if w.n != now.count + 1:
        raise ReplayMismatch(f"replacement {w.n}: expected number {now.count + 1}")
    if w.cause not in CAUSES:
        raise ReplayMismatch(f"replacement {w.n}: unknown cause {w.cause!r}")
    team = now.teams.get(w.credit_code)
    if team is None:
        raise ReplayMismatch(f"replacement {w.n}: {w.credit_code} has no team in this round")
    if not 0 <= w.position < len(team) or team[w.position] != w.withdrawn:
        raise ReplayMismatch(
            f"replacement {w.n}: {w.withdrawn} is not at position {w.position} of the team of "
            f"{w.credit_code} ({team})"
        )


def pick_replacement(
    seed: bytes,
    plan: Mapping[str, object],
    enterprise: EnterpriseUnit,
    inspectors: Sequence[InspectorUnit],
    conflicts: Pairs,
    recent: Pairs,
    now: TeamsNow,
    withdrawal: Withdrawal,
    *,
    seat: int | None = None,
) -> str:
    """The inspector who takes ``withdrawal``'s seat (§14), or :class:`NoReplacement`.

    ``seat``: the seat's number the ticket hashes (and the refusal names) when it is not
    ``withdrawal.position``. A bureau of a joint round picks on its own members of each team
    (``now`` holds only those), while the ticket hashes the seat's place in the whole team
    (docs/draw-algorithm.md §13.7)."""
    check_withdrawal(now, withdrawal)
    position = withdrawal.position if seat is None else seat
    rules = plan["teams"]
    assert isinstance(rules, Mapping)
    keep_off = (
        set(now.teams[enterprise.credit_code])
        | now.off_team.get(enterprise.credit_code, set())
        | {withdrawal.withdrawn}
        | now.off_round
    )
    counts: dict[str, int] = {}
    eligible: list[tuple[int, bytes]] = []
    window = plan["window"]
    assert isinstance(window, Mapping)
    for insp in inspectors:
        if insp.inspector_id in keep_off:
            counts["team"] = counts.get("team", 0) + 1
            continue
        c = _candidate(insp, window)
        load = now.workloads.get(insp.inspector_id, 0)
        rule = _rule(c, enterprise, rules, conflicts, recent, load)
        if rule:
            counts[rule] = counts.get(rule, 0) + 1
        else:
            eligible.append((load, insp.inspector_id.encode("utf-8")))
    if not eligible:
        texts = {"team": "on the team, or withdrawn from it or from the round", **RULES}
        parts = ", ".join(f"{counts[r]} {texts[r]}" for r in texts if counts.get(r))
        raise NoReplacement(
            f"{enterprise.credit_code}: no inspector left to take position "
            f"{position} of {withdrawal.withdrawn} "
            f"({parts or 'no inspectors in the frame'})"
        )
    lowest = min(load for load, _ in eligible)
    level = sorted(key for load, key in eligible if load == lowest)
    ticket = replace_ticket(seed, enterprise.credit_code, position, withdrawal.n)
    return level[ticket % len(level)].decode("utf-8")


def replay(
    seed: bytes,
    plan: Mapping[str, object],
    enterprises: Mapping[str, EnterpriseUnit],
    inspectors: Sequence[InspectorUnit],
    conflicts: Pairs,
    recent: Pairs,
    teams: Mapping[str, Sequence[str]],
    workloads: Mapping[str, int],
    recorded: Sequence[Replacement],
) -> TeamsNow:
    """The draw's ``teams`` and ``workloads`` with ``recorded`` applied in order, each checked
    to be the pick §14 gives (:class:`ReplayMismatch` names the first that is not)."""
    now = TeamsNow.drawn(teams, workloads)
    for done in recorded:
        w = done.withdrawal
        check_withdrawal(now, w)
        want = pick_replacement(
            seed, plan, enterprises[w.credit_code], inspectors, conflicts, recent, now, w
        )
        if done.replacement != want:
            raise ReplayMismatch(
                f"replacement {w.n}: {w.credit_code} position {w.position} recorded "
                f"{done.replacement}, the rules give {want}"
            )
        now.apply(done)
    return now
