"""Over many seeds, every unit of a stratum is drawn equally often, at the configured rate.

Statistic per stratum (N units, k drawn per round, T rounds, p = k / N, E = T * p):

    S = (N - 1) / N * sum_i (O_i - E)**2 / (T * p * (1 - p))

For sampling k of N without replacement, the count vector has covariance
T p (1 - p) * N / (N - 1) * (I - J / N), so S is approximately chi-square with N - 1 degrees of
freedom. Critical values are the 0.999 quantiles of chi-square (computed once with the
regularised incomplete gamma function; scipy is not available): df 29 -> 58.301,
df 39 -> 72.055, df 59 -> 98.324. The lower 0.001 quantiles (10.986, 17.262, 31.020) guard
against a suspiciously even (non-random) allocation.
"""

from collections import Counter
from fractions import Fraction

from draw.core import DrawInputs, draw
from draw.frame import EnterpriseUnit, InspectorUnit
from draw.plan import parse_plan

from .factories import WITNESS, credit_code, plan_dict

ROUNDS = 400
STRATA = {"A": (60, "10%"), "B": (40, "25%"), "C": (30, "50%")}  # size, rate
CRITICAL = {29: (10.986, 58.301), 39: (17.262, 72.055), 59: (31.020, 98.324)}
CAP = 3


def test_inclusion_frequencies_and_workload_caps() -> None:
    plan = parse_plan(plan_dict(
        strata={"by": ["risk_class"], "rates": {s: r for s, (_, r) in STRATA.items()}},
        teams={"size": 2, "workload_cap": CAP},
    ))  # fmt: skip
    units, serial = [], 0
    for stratum, (size, _) in STRATA.items():
        for _ in range(size):
            serial += 1
            units.append(EnterpriseUnit(credit_code("350102", serial), "350102", stratum,
                                        ("CCC",), stratum))  # fmt: skip
    inspectors = [InspectorUnit(f"I{i:02d}", "350200", ("CCC",), "u") for i in range(25)]
    counts: Counter[str] = Counter()
    for r in range(ROUNDS):
        result = draw(DrawInputs(f"stat-{r}", plan, units, inspectors, [WITNESS]))
        counts.update(s.credit_code for s in result.selected)
        assert max(result.workloads.values()) <= CAP
        for c in result.strata:
            rate = Fraction(int(STRATA[c.stratum][1][:-1]), 100)
            assert rate <= Fraction(c.drawn, c.eligible) < rate + Fraction(1, c.eligible)
    for stratum, (size, rate_text) in STRATA.items():
        k = -(-size * int(rate_text[:-1]) // 100)
        p = k / size
        expected = ROUNDS * p
        observed = [counts[u.credit_code] for u in units if u.stratum == stratum]
        assert sum(observed) == ROUNDS * k
        s = (size - 1) / size * sum((o - expected) ** 2 for o in observed)
        s /= ROUNDS * p * (1 - p)
        low, high = CRITICAL[size - 1]
        assert low < s < high, f"stratum {stratum}: chi-square {s:.2f} outside ({low}, {high})"


def test_weighted_draw_favours_heavier_units() -> None:
    """Sequential Poisson with weights C=1, D=3 at a 10% fraction: a D unit's inclusion rate is
    close to 3x a C unit's (first-order approximation k * w_i / sum(w))."""
    plan = parse_plan(plan_dict(
        strata={"by": [], "rates": {"*": "10%"}, "weights": {"C": 1, "D": 3}},
        teams={"size": 2, "workload_cap": 10},
    ))  # fmt: skip
    units = [EnterpriseUnit(credit_code("350102", i), "350102", "CD"[i % 2], ("CCC",), "*")
             for i in range(80)]  # fmt: skip
    inspectors = [InspectorUnit(f"I{i:02d}", "350200", ("CCC",), "u") for i in range(4)]
    risk = {u.credit_code: u.risk_class for u in units}
    counts: Counter[str] = Counter()
    for r in range(300):
        result = draw(DrawInputs(f"w-{r}", plan, units, inspectors, [WITNESS]))
        counts.update(risk[s.credit_code] for s in result.selected)
    ratio = (counts["D"] / 40) / (counts["C"] / 40)
    assert counts["C"] + counts["D"] == 300 * 8
    assert 2.4 < ratio < 3.6, ratio
