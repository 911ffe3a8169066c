"""The scoring rules, pure: each input moves the score as the rules say, bounds are exact,
and nothing is a float."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from risk import rules as risk_rules
from risk.rules import RulesError, parse
from risk.verify_classes import input_digest, rules_hash, score

AS_OF = dt.date(2026, 12, 31)
RULES = risk_rules.load()
DOC = RULES.doc


def s(inputs: dict) -> tuple[int, str]:
    total, cls, lines = score(DOC, inputs, AS_OF)
    assert all(isinstance(p, int) and not isinstance(p, bool) for _s, _d, p in lines)
    assert isinstance(total, int)
    return total, cls


def days_ago(n: int) -> str:
    return (AS_OF - dt.timedelta(days=n)).isoformat()


def test_nothing_known_is_class_a_with_the_never_checked_points() -> None:
    assert s({}) == (DOC["clean_check"]["otherwise"], "A")


def test_each_finding_counts_by_its_category_and_age_band() -> None:
    base = s({})[0]
    nc = DOC["findings"]["points"]["nonconforming"]
    for age, band in ((0, 0), (365, 0), (366, 1), (730, 1), (731, 2), (1095, 2)):
        assert s({"findings": [["nonconforming", days_ago(age)]]})[0] == base + nc[band], age
    assert s({"findings": [["nonconforming", days_ago(1096)]]})[0] == base  # too old
    assert s({"findings": [["nonconforming", days_ago(-1)]]})[0] == base  # after the date
    two = s({"findings": [["nonconforming", days_ago(10)], ["unreachable", days_ago(10)]]})[0]
    assert two == base + nc[0] + DOC["findings"]["points"]["unreachable"][0]


def test_findings_are_capped() -> None:
    many = [["certificate_withdrawn", days_ago(i)] for i in range(5)]
    assert s({"findings": many})[0] == DOC["findings"]["cap"] + s({})[0]


def test_partner_results_count_by_their_own_table_and_unknown_categories_count_zero() -> None:
    base = s({})[0]
    p = DOC["partner_results"]["points"]["nonconforming"]
    assert s({"partner_results": [["310000", "nonconforming", days_ago(400)]]})[0] == base + p[1]
    assert s({"partner_results": [["310000", "不知道", days_ago(1)]]})[0] == base


def test_lists_add_points_and_serious_violation_floors_the_class_at_d() -> None:
    base = s({})[0]
    assert s({"abnormal_listed": True}) == (base + 20, "B")
    total, cls = s({"serious_violation": True})
    assert total == base + 40 and total < DOC["classes"]["D"] and cls == "D"


def test_certificates_and_complaints_per_item_with_caps() -> None:
    base = s({})[0]
    assert s({"certificates": {"suspended": 1}})[0] == base + 15
    assert s({"certificates": {"suspended": 1, "withdrawn": 1}})[0] == base + 45
    assert s({"certificates": {"withdrawn": 3}})[0] == base + 60  # cap
    assert s({"complaints": {"count": 2, "commitment": "x"}})[0] == base + 20
    assert s({"complaints": {"count": 9, "commitment": "x"}})[0] == base + 30  # cap


def test_a_recent_clean_check_lowers_the_score_and_bands_are_inclusive() -> None:
    assert s({"last_clean_check": days_ago(365)})[0] == -10
    assert s({"last_clean_check": days_ago(366)})[0] == 0
    assert s({"last_clean_check": days_ago(1095)})[0] == 0
    assert s({"last_clean_check": days_ago(1096)})[0] == 5


@pytest.mark.parametrize("points,cls", [(9, "A"), (10, "B"), (29, "B"), (30, "C"), (59, "C"),
                                        (60, "D"), (-50, "A")])  # fmt: skip
def test_class_bounds_are_exact_a_score_on_a_bound_is_in_the_higher_class(
    points: int, cls: str
) -> None:
    doc = DOC | {"clean_check": {"bands": [], "otherwise": points}}
    assert score(doc, {}, AS_OF)[:2] == (points, cls)


def test_the_rules_hash_is_the_canonical_json_hash_and_moves_with_any_number() -> None:
    assert rules_hash(DOC) == RULES.hash
    text = risk_rules.DEFAULT_RULES.read_text(encoding="utf-8")
    moved = parse(text.replace("{B: 10, C: 30, D: 60}", "{B: 11, C: 30, D: 60}"))
    assert moved.hash != RULES.hash
    reformatted = parse(text.replace("{B: 10, C: 30, D: 60}", "{D: 60, C: 30, B: 10}"))
    assert reformatted.hash == RULES.hash  # the YAML's layout is not part of the identity


def test_input_digest_binds_the_enterprise_and_the_inputs() -> None:
    a = input_digest("91350100MA0000000X", b"{}")
    assert a != input_digest("91350100MA0000000Y", b"{}")
    assert a != input_digest("91350100MA0000000X", b'{"abnormal_listed":true}')


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("{B: 10, C: 30, D: 60}", "{B: 10.5, C: 30, D: 60}", "classes.B: must be a whole number"),
        ("{B: 10, C: 30, D: 60}", "{B: 30, C: 10, D: 60}", "classes: B < C < D"),
        ("nonconforming: [40, 20, 10]", "nonconforming: [40, 20]", "findings.points.nonconforming"),
        ("nonconforming: [40, 20, 10]", "nonconformin: [4, 2, 1]", "points.nonconformin"),
        ("age_days: [365, 730, 1095]", "age_days: [730, 365, 1095]", "strictly increasing"),
        ("min_class: D", "min_class: E", "lists.serious_violation.min_class"),
        ("otherwise: 5", "otherwise: 5.0", "clean_check.otherwise: must be a whole number"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(old: str, new: str, message: str) -> None:
    text = risk_rules.DEFAULT_RULES.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(RulesError, match=message.replace("(", r"\(")):
        parse(text.replace(old, new, 1), source="r.yaml")


def test_no_float_literal_and_no_true_division_in_the_scoring_code() -> None:
    import ast

    import risk.verify_classes as v

    tree = ast.parse(Path(v.__file__).read_text(encoding="utf-8"))
    scoring = {"score", "_band", "_age", "_capped", "_results"}
    funcs = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in scoring]
    assert len(funcs) == len(scoring)
    for func in funcs:
        for node in ast.walk(func):
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), func.name
            assert not isinstance(node, ast.Div), func.name
            assert not (isinstance(node, ast.Name) and node.id == "float"), func.name
