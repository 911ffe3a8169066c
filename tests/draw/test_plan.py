from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from draw.canonical import canonical_json
from draw.errors import PlanError
from draw.plan import load_plan, normalise_division, normalise_rate, parse_plan, plan_hash

from .factories import plan_dict

PLANS = Path(__file__).resolve().parents[2] / "plans"


@pytest.mark.parametrize("path", sorted(PLANS.rglob("*.yaml")), ids=lambda p: p.name)
def test_the_bureaus_plans_load_and_have_no_floats(path: Path) -> None:
    plan = load_plan(path)
    canonical_json(plan)  # raises on any float
    assert len(plan_hash(plan)) == 64
    assert any("国市监信〔2019〕38号" in b for b in plan["legal_basis"])
    assert plan["teams"]["size"] >= 2


def test_directed_organic_plan_shape() -> None:
    plan = load_plan(PLANS / "2026-12" / "rz-03-organic.yaml")
    assert plan["population"]["directed"] is True
    assert plan["population"]["risk_classes"] == ["C", "D"]
    assert plan["strata"]["weights"] == {"C": 1, "D": 3}


def test_hash_ignores_yaml_layout_and_key_order() -> None:
    a = plan_dict()
    b = dict(reversed(list(plan_dict().items())))
    b["strata"] = {"rates": {"D": "30.0%", "C": "10%", "B": "3 %", "A": "1%"}, "by": ["risk_class"]}
    text = yaml.safe_dump(b, allow_unicode=True, default_flow_style=True)
    assert plan_hash(parse_plan(a)) == plan_hash(load_plan(text))


def test_defaults_are_filled() -> None:
    plan = parse_plan(plan_dict())
    assert plan["population"]["cert_statuses"] == ["valid"]
    assert plan["strata"]["min_per_stratum"] == 1
    assert plan["exclusions"] == {"window_months": 12}
    assert plan["population"]["divisions"] == ["35"]


def test_team_of_one_cites_article_42() -> None:
    with pytest.raises(PlanError, match=r"^teams\.size: 1 < 2; 行政处罚法 art\. 42"):
        parse_plan(plan_dict(teams={"size": 1}))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"strata": {"rates": {"A": 0.03}}}, r"^strata\.rates\.A: .*quote"),
        ({"strata": {"rates": {"A": "3"}}}, r"^strata\.rates\.A: rate '3' must be a percentage"),
        ({"strata": {"rates": {"A": "120%"}}}, r"^strata\.rates\.A: rate '120%' exceeds"),
        ({"strata": {"by": ["division"], "rates": {"A": "1%"}}}, r"^strata\.rates: without"),
        ({"population": {"divisions": [3501]}}, r"^population\.divisions\.0: .*quote"),
        ({"population": {"divisions": ["35010"]}}, r"^population\.divisions\.0: division"),
        ({"population": {"divisions": ["３５0100"]}}, r"^population\.divisions\.0: division"),
        ({"population": {"risk_classes": ["D"]}}, r"^population\.directed: filters"),
        ({"period": "2026-13"}, r"^period: "),
        ({"period": "２０２６-12"}, r"^period: "),  # full-width digits
        ({"window": {"start": "2026-12-31", "end": "2026-12-01"}}, r"^window\.end: before"),
        ({"teams": {"workload_cap": 0}}, r"^teams\.workload_cap: "),
        ({"surprise": 1}, r"^surprise: "),
        ({"strata": {"weights": {"A": 0}}}, r"^strata\.weights\.A: "),
        ({"targeted": {"list": [{"credit_code": 9135, "reason": "x"}]}}, r"targeted\.list\.0\."),
    ],
)
def test_validation_errors_name_the_field(override: dict, field: str) -> None:
    with pytest.raises(PlanError, match=field):
        parse_plan(plan_dict(**override))


def test_rates_and_divisions_normalise() -> None:
    assert normalise_rate("3.50 %") == "3.5%"
    assert normalise_rate("0.5%") == "0.5%"
    assert normalise_rate("10%") == "10%"
    assert normalise_rate("100%") == "100%"
    plan = parse_plan(plan_dict(strata={"rates": {"*": "0.50%"}, "by": []}))
    assert plan["strata"]["rates"] == {"*": "0.5%"}
    from draw.plan import rate_fraction

    assert rate_fraction("0.5%") == Fraction(1, 200)
    assert rate_fraction("3%") == Fraction(3, 100)
    assert normalise_division("350000") == "35"
    assert normalise_division("350100") == "3501"
    assert normalise_division("350102") == "350102"


def test_not_yaml_mapping() -> None:
    with pytest.raises(PlanError, match="^plan: must be a mapping"):
        load_plan("- a\n- b\n")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan("a: [\n")


def test_a_yaml_mistake_is_one_line_naming_its_line_and_column() -> None:
    """A YAML syntax error was YAML's own multi-line text, its place given as offsets into
    "<unicode string>"."""
    with pytest.raises(PlanError) as caught:
        load_plan("title: x\nteams:\n  size: [2, 3\n  cap: 4\n")
    assert str(caught.value) == (
        "plan: not valid YAML: line 4, column 6: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 3, column 9)"
    )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"teams": {"size": 2**53}}, r"^teams\.size: integer 9007199254740992 outside the I-JSON"),
        ({"strata": {"rates": {"*": "1%"}, "by": ["division"], "total_cap": 2**60}},
         r"^strata\.total_cap: integer 1152921504606846976 outside the I-JSON"),
    ],
)  # fmt: skip
def test_a_number_the_plan_hash_cannot_hold_is_named(override: dict, field: str) -> None:
    """It passed every check, then stopped the commit (or an ad hoc round, in the background)
    with a TypeError when the plan was hashed."""
    with pytest.raises(PlanError, match=field):
        parse_plan(plan_dict(**override))
