"""The team rule read literally from docs/draw-algorithm.md §9, one inspector at a time.

Slow (every pick scans every inspector) and obviously faithful to the text: the tests hold
both fast implementations (draw/teams.py and verify.py's) to it.
"""

# ruff: noqa
from __future__ import annotations

from tests.draw.vectors import load_reference

_ref = load_reference()
elimination, RULES, Infeasible, sha, lp = (
    _ref.elimination,
    _ref.RULES,
    _ref.Infeasible,
    _ref.sha,
    _ref.lp,
)


def draw_teams(seed, plan, ents, inspectors, conflicts, recent):
    """Each pick: the lowest-workload eligible inspectors not yet on the team, sorted by id,
    index = SHA-256(seed || "team" || lp(credit_code) || uint32be(k)) mod their count."""
    t = plan["teams"]
    size, cap = t["size"], t["workload_cap"]
    insps = sorted(inspectors, key=lambda i: i["inspector_id"])
    ids = [i["inspector_id"] for i in insps]
    loads = [0] * len(insps)
    teams: dict = {}
    for ent in ents:
        code = ent["credit_code"]
        chosen = []
        for k in range(size):
            eligible = [
                n
                for n, insp in enumerate(insps)
                if n not in chosen
                and elimination(insp, ent, plan, conflicts, recent, loads[n]) is None
            ]
            if not eligible:
                counts: dict = {}
                for n, insp in enumerate(insps):
                    rule = elimination(insp, ent, plan, conflicts, recent, loads[n])
                    if rule:
                        counts[rule] = counts.get(rule, 0) + 1
                names = list(RULES)
                worst = max(names, key=lambda r: (counts.get(r, 0), -names.index(r)))
                parts = ", ".join(f"{counts[r]} {RULES[r]}" for r in names if counts.get(r))
                have = len(insps) - sum(counts.values())
                raise Infeasible(
                    f"{code}: needs {size} inspectors, {have} eligible "
                    f"({parts or 'no inspectors in the frame'}); rule eliminating the most: "
                    f"'{worst}' ({RULES[worst]}); shortfall {size - have}"
                )
            low = min(loads[n] for n in eligible)
            level = [n for n in eligible if loads[n] == low]  # already in id order
            h = int.from_bytes(sha(seed + b"team" + lp(code) + k.to_bytes(4, "big")), "big")
            chosen.append(level[h % len(level)])
        for n in chosen:
            loads[n] += 1
        teams[code] = [ids[n] for n in chosen]
    return teams, {ids[n]: loads[n] for n in range(len(insps)) if loads[n]}
