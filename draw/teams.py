"""Inspector teams (docs/draw-algorithm.md §9).

For each selected enterprise, in processing order, every inspector is checked against the
rules below in this order; the first rule that fails eliminates it. Among the eligible, the
team is the ``size`` inspectors with the smallest (current workload in this round, team
ticket, inspector_id). All or nothing: an infeasible enterprise raises InfeasibleDraw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InfeasibleDraw
from .frame import EnterpriseUnit, InspectorUnit
from .plan import normalise_division
from .select import team_ticket

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


def draw_teams(
    seed: bytes,
    plan: Mapping[str, Any],
    enterprises: Sequence[EnterpriseUnit],
    inspectors: Sequence[InspectorUnit],
    conflicts: frozenset[tuple[str, str]] = frozenset(),
    recent: frozenset[tuple[str, str]] = frozenset(),
) -> TeamDraw:
    """Teams for ``enterprises`` in the given (processing) order, and final workloads."""
    size = plan["teams"]["size"]
    candidates = [_candidate(i, plan["window"]) for i in inspectors]
    workloads: dict[str, int] = {}
    teams: dict[str, tuple[str, ...]] = {}
    for ent in enterprises:
        counts: dict[str, int] = {}
        eligible: list[tuple[int, bytes, str]] = []
        for c in candidates:
            load = workloads.get(c.inspector_id, 0)
            rule = _rule(c, ent, plan["teams"], conflicts, recent, load)
            if rule:
                counts[rule] = counts.get(rule, 0) + 1
            else:
                tk = team_ticket(seed, ent.credit_code, c.inspector_id)
                eligible.append((load, tk, c.inspector_id))
        if len(eligible) < size:
            raise InfeasibleDraw(_infeasible(ent, size, len(eligible), counts))
        eligible.sort()
        team = tuple(i for _, _, i in eligible[:size])
        for i in team:
            workloads[i] = workloads.get(i, 0) + 1
        teams[ent.credit_code] = team
    return teams, dict(sorted(workloads.items()))
