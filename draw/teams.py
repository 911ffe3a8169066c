"""Inspector teams (docs/draw-algorithm.md §9).

For each selected enterprise, in processing order, the team is picked one member at a time.
An inspector is eligible unless a rule below eliminates it (RULES, in order). The k-th pick
(k = 0 is the lead) takes, among the eligible inspectors not yet on this team, those with the
lowest workload in this round, sorts them by inspector_id, and takes the one at index
``pick_ticket(seed, credit_code, k) mod count``. Workloads rise once the team is complete.
All or nothing: an infeasible enterprise raises InfeasibleDraw naming the rule and shortfall.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .canonical import lp
from .errors import InfeasibleDraw
from .frame import EnterpriseUnit, InspectorUnit
from .plan import normalise_division

__all__ = ["RULES", "TeamDraw", "draw_teams", "elimination_rule"]

RULES: dict[str, str] = {
    "inactive": "not active",
    "credential": "enforcement credential not valid over the whole window",
    "leave": "on leave during the window",
    "expertise": "no expertise in the enterprise's in-scope cert kinds",
    "conflict": "recused for declared conflict",
    "same-division": "recused: enterprise in the inspector's own division",
    "recent": "on a team for this enterprise in recent rounds",
    "workload": "at the workload cap",
}

TeamDraw = tuple[dict[str, tuple[str, ...]], dict[str, int]]


def _static_rule(insp: InspectorUnit, start: str, end: str) -> str | None:
    """Rules that do not depend on the enterprise."""
    if not insp.active:
        return "inactive"
    if (insp.credential_from and insp.credential_from > start) or (
        insp.credential_until and insp.credential_until < end
    ):
        return "credential"
    if any(s <= end and e >= start for s, e in insp.leaves):
        return "leave"
    return None


@dataclass(frozen=True, slots=True)
class _Candidate:
    """An inspector with its enterprise-independent facts precomputed."""

    inspector_id: str
    static: str | None  # inactive / credential / leave, or None
    expertise: frozenset[str]
    prefix: str  # division with trailing '00' pairs removed


def _candidate(insp: InspectorUnit, window: Mapping[str, str]) -> _Candidate:
    return _Candidate(
        insp.inspector_id,
        _static_rule(insp, window["start"], window["end"]),
        frozenset(insp.expertise),
        normalise_division(insp.division_code),
    )


def _rule(
    c: _Candidate,
    ent: EnterpriseUnit,
    teams: Mapping[str, Any],
    conflicts: frozenset[tuple[str, str]],
    recent: frozenset[tuple[str, str]],
    workload: int,
) -> str | None:
    if c.static:
        return c.static
    if teams["expertise_required"] and c.expertise.isdisjoint(ent.cert_kinds):
        return "expertise"
    if (c.inspector_id, ent.credit_code) in conflicts:
        return "conflict"
    if teams["recuse_same_division"] and ent.division_code.startswith(c.prefix):
        return "same-division"
    if teams["recuse_recent_rounds"] > 0 and (c.inspector_id, ent.credit_code) in recent:
        return "recent"
    if workload >= teams["workload_cap"]:
        return "workload"
    return None


def elimination_rule(
    insp: InspectorUnit,
    ent: EnterpriseUnit,
    plan: Mapping[str, Any],
    conflicts: frozenset[tuple[str, str]] = frozenset(),
    recent: frozenset[tuple[str, str]] = frozenset(),
    workload: int = 0,
) -> str | None:
    """The first rule that eliminates ``insp`` for ``ent`` (see RULES), or None if eligible."""
    c = _candidate(insp, plan["window"])
    return _rule(c, ent, plan["teams"], conflicts, recent, workload)


def _infeasible(ent: EnterpriseUnit, size: int, eligible: int, counts: dict[str, int]) -> str:
    worst = max(RULES, key=lambda r: (counts.get(r, 0), -list(RULES).index(r)))
    parts = ", ".join(f"{counts[r]} {RULES[r]}" for r in RULES if counts.get(r))
    return (
        f"{ent.credit_code}: needs {size} inspectors, {eligible} eligible "
        f"({parts or 'no inspectors in the frame'}); rule eliminating the most: '{worst}' "
        f"({RULES[worst]}); shortfall {size - eligible}"
    )


def nth_set_bit(mask: int, r: int) -> int:
    """Position of the ``r``-th (0-based, from the least significant) set bit of ``mask``."""
    lo, hi = 0, mask.bit_length() - 1
    while lo < hi:  # smallest p with popcount(mask & (2^(p+1) - 1)) > r
        mid = (lo + hi) // 2
        if (mask & ((2 << mid) - 1)).bit_count() > r:
            hi = mid
        else:
            lo = mid + 1
    return lo


def pick_ticket(seed: bytes, credit_code: str, k: int) -> int:
    """The integer that picks the ``k``-th member (0 = lead) of an enterprise's team."""
    digest = hashlib.sha256(seed + b"team" + lp(credit_code) + k.to_bytes(4, "big")).digest()
    return int.from_bytes(digest, "big")


def draw_teams(
    seed: bytes,
    plan: Mapping[str, Any],
    enterprises: Sequence[EnterpriseUnit],
    inspectors: Sequence[InspectorUnit],
    conflicts: frozenset[tuple[str, str]] = frozenset(),
    recent: frozenset[tuple[str, str]] = frozenset(),
) -> TeamDraw:
    """Teams for ``enterprises`` in the given (processing) order, and final workloads.

    Inspectors are bits of Python integers (bit n = the n-th inspector by id), so each pick is
    a handful of big-integer operations whatever the number of inspectors.
    """
    rules = plan["teams"]
    size, cap = rules["size"], rules["workload_cap"]
    cands = sorted(
        (_candidate(i, plan["window"]) for i in inspectors), key=lambda c: c.inspector_id
    )
    index = {c.inspector_id: n for n, c in enumerate(cands)}
    ok = 0
    by_kind: dict[str, int] = {}
    for n, c in enumerate(cands):
        if c.static is None:
            ok |= 1 << n
            for kind in c.expertise:
                by_kind[kind] = by_kind.get(kind, 0) | 1 << n
    excluded: dict[str, int] = {}
    pairs = set(conflicts) | (set(recent) if rules["recuse_recent_rounds"] > 0 else set())
    for inspector_id, code in pairs:
        if inspector_id in index:
            excluded[code] = excluded.get(code, 0) | 1 << index[inspector_id]
    pools: dict[tuple[tuple[str, ...], str], int] = {}

    def pool(ent: EnterpriseUnit) -> int:
        key = (
            ent.cert_kinds if rules["expertise_required"] else (),
            ent.division_code if rules["recuse_same_division"] else "",
        )
        if key not in pools:
            mask = ok
            if rules["expertise_required"]:
                mask = 0
                for kind in ent.cert_kinds:
                    mask |= by_kind.get(kind, 0)
            if rules["recuse_same_division"]:
                for n, c in enumerate(cands):
                    if ent.division_code.startswith(c.prefix):
                        mask &= ~(1 << n)
            pools[key] = mask
        return pools[key]

    levels = [(1 << len(cands)) - 1]  # levels[w]: inspectors with workload w in this round
    loads = [0] * len(cands)
    teams: dict[str, tuple[str, ...]] = {}
    for ent in enterprises:
        avail = pool(ent) & ~excluded.get(ent.credit_code, 0)
        chosen: list[int] = []
        for k in range(size):
            for w in range(min(cap, len(levels))):
                cand = levels[w] & avail
                if cand:
                    n = nth_set_bit(cand, pick_ticket(seed, ent.credit_code, k) % cand.bit_count())
                    chosen.append(n)
                    avail &= ~(1 << n)
                    break
            else:
                _raise_infeasible(ent, plan, cands, inspectors, conflicts, recent, loads)
        for n in chosen:
            levels[loads[n]] &= ~(1 << n)
            loads[n] += 1
            if loads[n] == len(levels):
                levels.append(0)
            levels[loads[n]] |= 1 << n
        teams[ent.credit_code] = tuple(cands[n].inspector_id for n in chosen)
    workloads = {c.inspector_id: loads[n] for n, c in enumerate(cands) if loads[n]}
    return teams, workloads


def _raise_infeasible(
    ent: EnterpriseUnit,
    plan: Mapping[str, Any],
    cands: Sequence[_Candidate],
    inspectors: Sequence[InspectorUnit],
    conflicts: frozenset[tuple[str, str]],
    recent: frozenset[tuple[str, str]],
    loads: Sequence[int],
) -> None:
    """The slow path, on failure only: which rule eliminated how many inspectors."""
    counts: dict[str, int] = {}
    eligible = 0
    for n, c in enumerate(cands):
        rule = _rule(c, ent, plan["teams"], conflicts, recent, loads[n])
        if rule:
            counts[rule] = counts.get(rule, 0) + 1
        else:
            eligible += 1
    raise InfeasibleDraw(_infeasible(ent, plan["teams"]["size"], eligible, counts))
