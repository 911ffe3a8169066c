import hashlib
from typing import Any

import pytest

from draw.errors import InfeasibleDraw
from draw.frame import EnterpriseUnit, InspectorUnit
from draw.plan import parse_plan
from draw.teams import draw_teams, nth_set_bit, pick_ticket

from .factories import plan_dict

SEED = hashlib.sha256(b"teams").digest()
ENT = EnterpriseUnit("91350102MA0000001X", "350102", "B", ("CCC",), "B")


def insp(i: int, **kw: object) -> InspectorUnit:
    base: dict[str, Any] = {"division_code": "350200", "expertise": ("CCC",), "unit": "u"}
    base.update(kw)
    return InspectorUnit(f"I{i:02d}", **base)


def plan(**teams: object) -> dict:
    return parse_plan(plan_dict(teams={"size": 2, "workload_cap": 10, **teams}))


def test_pick_ticket_layout() -> None:
    expected = hashlib.sha256(SEED + b"team" + b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x01")
    assert pick_ticket(SEED, "ab", 1) == int.from_bytes(expected.digest(), "big")


def test_nth_set_bit() -> None:
    mask = 0b1011_0100
    assert [nth_set_bit(mask, r) for r in range(4)] == [2, 4, 5, 7]
    big = (1 << 4999) | (1 << 17)
    assert nth_set_bit(big, 0) == 17 and nth_set_bit(big, 1) == 4999


def test_each_pick_is_the_ticket_modulo_the_lowest_workload_level() -> None:
    inspectors = [insp(i) for i in range(6)]
    teams, loads = draw_teams(SEED, plan(), [ENT], inspectors)
    remaining = [x.inspector_id for x in inspectors]
    expected = []
    for k in range(2):
        pick = remaining[pick_ticket(SEED, ENT.credit_code, k) % len(remaining)]
        expected.append(pick)
        remaining.remove(pick)
    assert teams[ENT.credit_code] == tuple(expected)
    assert loads == dict.fromkeys(teams[ENT.credit_code], 1)


def test_fast_teams_agree_with_the_literal_rule_under_every_constraint() -> None:
    import random

    from tests.draw.naive_teams import draw_teams as naive

    rng = random.Random(5)
    kinds = ("ccc", "organic", "management_system")
    divisions = ("350100", "350200", "350500", "350600")
    for trial in range(12):
        inspectors = [
            InspectorUnit(
                f"I{i:03d}",
                rng.choice(divisions),
                tuple(sorted(rng.sample(kinds, rng.randint(1, 2)))),
                "u",
                active=rng.random() > 0.05,
                leaves=(("2026-12-10", "2026-12-12"),) if rng.random() < 0.1 else (),
            )
            for i in range(rng.randint(20, 60))
        ]
        ents = [
            EnterpriseUnit(
                f"E{trial:02d}{j:04d}",
                rng.choice(divisions),
                "B",
                tuple(sorted(rng.sample(kinds, rng.randint(1, 2)))),
                "B",
            )  # fmt: skip
            for j in range(rng.randint(10, 80))
        ]
        conflicts = frozenset(
            (rng.choice(inspectors).inspector_id, rng.choice(ents).credit_code) for _ in range(15)
        )
        recent = frozenset(
            (rng.choice(inspectors).inspector_id, rng.choice(ents).credit_code) for _ in range(15)
        )
        p = plan(
            workload_cap=rng.randint(4, 9),
            size=rng.choice((2, 3)),
            recuse_same_division=rng.random() < 0.5,
            recuse_recent_rounds=rng.choice((0, 2)),
        )
        seed = hashlib.sha256(str(trial).encode()).digest()
        try:
            fast = draw_teams(seed, p, ents, inspectors, conflicts, recent)
        except InfeasibleDraw as exc:
            with pytest.raises(Exception, match=__import__("re").escape(str(exc))):
                naive(seed, p, [e.to_json() for e in ents], [i.to_json() for i in inspectors],
                      conflicts, recent)  # fmt: skip
            continue
        slow = naive(seed, p, [e.to_json() for e in ents], [i.to_json() for i in inspectors],
                     conflicts, recent)  # fmt: skip
        assert {k: list(v) for k, v in fast[0].items()} == slow[0]
        assert fast[1] == slow[1]


def test_workloads_are_balanced_and_capped() -> None:
    ents = [EnterpriseUnit(f"E{i:03d}", "350102", "B", ("CCC",), "B") for i in range(30)]
    teams, loads = draw_teams(SEED, plan(workload_cap=10), ents, [insp(i) for i in range(7)])
    assert sum(loads.values()) == 60 and max(loads.values()) - min(loads.values()) <= 1
    assert all(len(set(t)) == 2 for t in teams.values())


@pytest.mark.parametrize(
    ("bad", "rule", "text"),
    [
        ({"active": False}, "inactive", "not active"),
        ({"credential_until": "2026-12-30"}, "credential", "enforcement credential not valid"),
        ({"credential_from": "2026-12-02"}, "credential", "enforcement credential not valid"),
        ({"leaves": (("2026-12-31", "2027-01-03"),)}, "leave", "on leave"),
        ({"expertise": ("ORGANIC",)}, "expertise", "no expertise"),
        (
            {"division_code": "350100"},
            "same-division",
            "recused: enterprise in the inspector's own division",
        ),
    ],
)
def test_each_rule_and_the_infeasible_message(bad: dict, rule: str, text: str) -> None:
    inspectors = [insp(0), *(insp(i, **bad) for i in range(1, 4))]
    with pytest.raises(InfeasibleDraw) as err:
        draw_teams(SEED, plan(recuse_same_division=True), [ENT], inspectors)
    msg = str(err.value)
    assert msg.startswith(f"{ENT.credit_code}: needs 2 inspectors, 1 eligible (3 {text}")
    assert f"rule eliminating the most: '{rule}'" in msg and msg.endswith("shortfall 1")


def test_conflict_recent_and_workload_rules() -> None:
    inspectors = [insp(i) for i in range(4)]
    conflicts = frozenset({("I00", ENT.credit_code), ("I01", ENT.credit_code)})
    recent = frozenset({("I02", ENT.credit_code)})
    with pytest.raises(InfeasibleDraw, match=r"2 recused for declared conflict, 1 on a team"):
        draw_teams(SEED, plan(recuse_recent_rounds=2), [ENT], inspectors, conflicts, recent)
    # recent pairs are ignored when the plan does not recuse recent rounds
    teams, _ = draw_teams(SEED, plan(recuse_recent_rounds=0), [ENT], inspectors, conflicts, recent)
    assert set(teams[ENT.credit_code]) == {"I02", "I03"}
    ents = [EnterpriseUnit(f"E{i}", "350102", "B", ("CCC",), "B") for i in range(3)]
    with pytest.raises(InfeasibleDraw, match=r"^E2: needs 2 .*'workload'.*shortfall 2$"):
        draw_teams(SEED, plan(workload_cap=1), ents, inspectors)


def test_expertise_not_required() -> None:
    inspectors = [insp(i, expertise=("ORGANIC",)) for i in range(2)]
    teams, _ = draw_teams(SEED, plan(expertise_required=False), [ENT], inspectors)
    assert teams[ENT.credit_code]


def test_no_inspectors_at_all() -> None:
    with pytest.raises(InfeasibleDraw, match="0 eligible .no inspectors in the frame."):
        draw_teams(SEED, plan(), [ENT], [])
