"""Rules decided once per (division, risk class) must not leak a per-row rule (industry)."""

from __future__ import annotations

from draw.frame import build_enterprise_frame
from draw.plan import parse_plan

from .factories import plan_dict


def _row(code: str, industry: str, risk: str = "C", division: str = "350102") -> dict:
    return {"credit_code": code, "division_code": division, "risk_class": risk,
            "industry": industry, "certs": [{"kind": "CCC", "status": "valid"}]}  # fmt: skip


def test_directed_industry_filter_is_per_row_and_placement_per_pair() -> None:
    plan = parse_plan(
        plan_dict(
            population={
                "cert_kinds": ["CCC"],
                "divisions": ["3501"],
                "directed": True,
                "risk_classes": ["C", "D"],
                "industries": ["电线电缆"],
            }
        )  # fmt: skip
    )
    rows = [
        _row("A1", "家用电器"),  # same place as A2, wrong industry: out
        _row("A2", "电线电缆"),  # in
        _row("A3", "电线电缆", risk="A"),  # risk class not targeted: out
        _row("A4", "电线电缆", division="350200"),  # outside the divisions: out
        _row("A5", "电线电缆", risk="D"),
    ]
    assert [u.credit_code for u in build_enterprise_frame(rows, plan)] == ["A2", "A5"]
