"""The joint draw, pure (docs/draw-algorithm.md §13.4): the lead's selection on the shared
seed, then each bureau's inspectors from its own committed frame on its own team seed.

Selection is §7-§8 unchanged; processing order is §9's. For bureau b the team draw is §9 run
with ``team_seed(seed, b)``, b's inspector frame and conflicts, and ``teams.size`` = the
inspectors b gives per team. A team lists the lead's picks first, then each participant's in
plan order, each member as ``[bureau, inspector_id]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from draw.core import Selection, select_random
from draw.errors import InfeasibleDraw
from draw.frame import EnterpriseUnit, InspectorUnit
from draw.select import stratum_quota, stratum_rate, tickets, trim_to_cap
from draw.teams import draw_teams
from joint.plan import team_plan
from joint.protocol import team_seed

Pairs = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class BureauFrame:
    inspectors: Sequence[InspectorUnit]
    conflicts: Pairs = frozenset()


class JointInfeasible(ValueError):
    def __init__(self, bureau: str, message: str):
        super().__init__(f"bureau {bureau}: {message}")
        self.bureau, self.message = bureau, message


def select(
    seed: bytes, plan: Mapping[str, Any], ents: Sequence[EnterpriseUnit]
) -> tuple[list[dict[str, Any]], list[Selection], list[EnterpriseUnit]]:
    """Strata counts, the selection (targeted, then random by stratum and rank) and the
    processing order of §9, exactly as ``draw.core.draw`` computes them."""
    labels = sorted({u.stratum for u in ents})
    tally = {s: dict.fromkeys(("random", "targeted", "excluded"), 0) for s in labels}
    for u in ents:
        tally[u.stratum][u.status] += 1
    st = plan["strata"]
    quotas = {
        s: stratum_quota(stratum_rate(plan, s), tally[s]["random"], st["min_per_stratum"])
        for s in labels
    }
    drawn = trim_to_cap(quotas, st["total_cap"])
    pool = [u for u in ents if u.status == "random"]
    randoms = select_random(seed, plan, pool, drawn)
    targeted = [u for u in ents if u.status == "targeted"]
    digests = tickets(seed, [u.credit_code for u in targeted])
    order_t = sorted(range(len(targeted)), key=lambda i: (digests[i], targeted[i].credit_code))
    selected = [
        Selection(targeted[i].credit_code, targeted[i].stratum, "targeted", digests[i].hex(), r)
        for r, i in enumerate(order_t, 1)
    ] + randoms
    by_code = {u.credit_code: u for u in ents}
    order = [
        by_code[s.credit_code] for s in sorted(selected, key=lambda s: (s.ticket, s.credit_code))
    ]
    strata = [
        {
            "stratum": s,
            "rate": str(stratum_rate(plan, s)),
            "eligible": tally[s]["random"],
            "targeted": tally[s]["targeted"],
            "excluded": tally[s]["excluded"],
            "quota": quotas[s],
            "drawn": drawn[s],
        }
        for s in labels
    ]
    return strata, selected, order


def joint_draw(
    seed: bytes,
    plan: Mapping[str, Any],
    ents: Sequence[EnterpriseUnit],
    frames: Mapping[str, BureauFrame],
) -> dict[str, Any]:
    """``{"seed", "strata", "selected", "teams", "workloads"}`` (teams: credit_code → members
    ``[bureau, inspector_id]``; workloads: bureau → inspector_id → n). JointInfeasible names
    the first bureau (plan order) whose inspectors cannot staff every team."""
    ents = sorted(ents, key=lambda u: u.credit_code)
    strata, selected, order = select(seed, plan["round"], ents)
    teams: dict[str, list[list[str]]] = {u.credit_code: [] for u in order}
    workloads: dict[str, dict[str, int]] = {}
    for p in plan["participants"]:
        b = p["bureau"]
        frame = frames[b]
        try:
            picked, loads = draw_teams(
                team_seed(seed, b),
                team_plan(dict(plan), b),
                order,
                frame.inspectors,
                frame.conflicts,
            )
        except InfeasibleDraw as exc:
            raise JointInfeasible(b, str(exc)) from None
        for code, team in picked.items():
            teams[code] += [[b, i] for i in team]
        workloads[b] = loads
    return {
        "seed": seed.hex(),
        "strata": strata,
        "selected": [s._asdict() for s in selected],
        "teams": teams,
        "workloads": workloads,
    }
