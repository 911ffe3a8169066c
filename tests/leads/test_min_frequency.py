"""``strata.min_frequency``: a class-D firm not checked for the item in 12 months is targeted,
in the committed frame, and the preflight shows the expected sample per risk class."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from draw.plan import load_plan
from rounds import service
from rounds.artifacts import load_inputs
from rounds.plans import load_plan_text
from rounds.preflight import describe, preflight
from shuangsui.errors import PlanError
from tests.leads.helpers import draw
from tests.rounds.factories import plan_yaml, seed_registry

DUE = "最低检查频次: D 类 12 个月内未检查"
MIN_D = "  min_frequency: {D: 12}"


def _with_min(text: str) -> str:
    return text.replace("  min_per_stratum: 1\n", f"  min_per_stratum: 1\n{MIN_D}\n")


def test_the_canonical_plan_holds_min_frequency_only_when_stated() -> None:
    plain = load_plan(plan_yaml())
    stated = load_plan(_with_min(plan_yaml()))
    assert "min_frequency" not in plain["strata"]
    assert stated["strata"]["min_frequency"] == {"D": 12}
    with pytest.raises(Exception, match=r"strata.min_frequency.D: 6 months is shorter than "):
        load_plan(_with_min(plan_yaml()).replace("{D: 12}", "{D: 6}"))
    with pytest.raises(Exception, match=r"strata.min_frequency.D: months must be"):
        load_plan(_with_min(plan_yaml()).replace("{D: 12}", "{D: 0}"))


def test_class_d_firms_unchecked_for_a_year_are_targeted(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=48)  # class D: three in 350200, two in 350500
    first = _with_min(plan_yaml(division="350200"))
    plan, _ = load_plan_text(first)
    with engine.connect() as conn:
        report = preflight(conn, plan)
    classes = {c.risk_class: c for c in report.classes}
    rnd = service.commit_round(engine=engine, plan_text=first)
    with Session(engine) as s:
        frame = load_inputs(s, rnd.round_key).enterprises
    d_firms = {u.credit_code for u in frame if u.risk_class == "D"}
    assert d_firms and all(u.status == "targeted" and u.note == DUE
                           for u in frame if u.risk_class == "D")  # fmt: skip
    assert all(u.status == "random" for u in frame if u.risk_class != "D")
    # the preflight saw exactly this, per class, before the commit
    assert classes["D"].targeted == classes["D"].due == len(d_firms)
    assert classes["D"].expected == len(d_firms)
    per_stratum = {s.stratum: s.expected for s in report.strata}
    for cls in set(classes) - {"D"}:  # strata by division and class: each figure is exact
        exact = sum(n for label, n in per_stratum.items() if label.endswith(f"/{cls}"))
        assert classes[cls].expected == exact and classes[cls].label() == str(exact)
    assert any(line.lstrip().startswith("D ") and f"{len(d_firms)}" in line
               for line in describe(report))  # fmt: skip
    draw(engine, rnd.round_key)

    # next month, over the whole province: the D firms checked in December are left out
    # (exclusion window), the D firms of the other prefectures are due
    nxt = _with_min(plan_yaml(plan_id="ccc-2027-01", period="2027-01"))
    again = service.commit_round(engine=engine, plan_text=nxt, accept="全省范围")
    with Session(engine) as s:
        frame2 = load_inputs(s, again.round_key).enterprises
    d2 = {u.credit_code: u for u in frame2 if u.risk_class == "D"}
    assert {c for c, u in d2.items() if u.status == "excluded"} == d_firms
    assert all(u.status == "targeted" and u.note == DUE
               for c, u in d2.items() if c not in d_firms)  # fmt: skip
    assert len(d2) > len(d_firms)


def test_per_class_figures_share_a_strata_expected_sample(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=60)
    text = (
        plan_yaml()
        .replace("by: [division, risk_class]", "by: [division]")
        .replace("rates: {A: '10%', B: '20%', C: '40%', D: '100%'}", "rates: {'*': '10%'}")
    )
    plan, _ = load_plan_text(text)
    with engine.connect() as conn:
        report = preflight(conn, plan)
    total = sum(c.expected_random for c in report.classes)
    assert total == sum(s.expected for s in report.strata)  # exact: shares, not rounding
    assert any(c.expected.denominator != 1 and c.label().startswith("≈") for c in report.classes)
    counts = Counter(c.risk_class for c in report.classes)
    assert all(n == 1 for n in counts.values())
    assert isinstance(report.classes[0].expected_random, Fraction)


def test_a_plan_with_min_frequency_too_short_is_refused_at_commit(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=8)
    with pytest.raises(PlanError, match="strata.min_frequency.D"):
        service.commit_round(engine=engine, plan_text=_with_min(plan_yaml()).replace("12}", "3}"))
