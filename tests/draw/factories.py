"""Deterministic test data: enterprises with valid 统一社会信用代码, inspectors, plans."""

from __future__ import annotations

import random
from typing import Any

from draw.core import DrawInputs
from draw.frame import build_enterprise_frame, build_inspector_frame
from draw.plan import parse_plan

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [pow(3, i, 31) for i in range(17)]
FUJIAN = ["350102", "350103", "350203", "350206", "350302", "350402", "350503", "350602",
          "350702", "350802", "350902"]  # fmt: skip
WITNESS = {
    "source": "witness-digits",
    "digits": "31415926535897932384",
    "witnesses": ["纪检监察室 张敏", "企业代表 李强"],
}


def credit_code(division: str, serial: int) -> str:
    """A GB 32100-2015 code '91' + division + 9-char organisation code + check character."""
    org = f"{serial:09d}"
    body = "91" + division + org
    total = sum(ALPHABET.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + ALPHABET[(31 - total % 31) % 31]


def enterprise_rows(n: int, seed: int = 1, kinds: tuple[str, ...] = ("CCC",)) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        division = rng.choice(FUJIAN)
        rows.append(
            {
                "credit_code": credit_code(division, 10_000 + i),
                "division_code": division,
                "risk_class": rng.choice("AABBBCCD"),
                "industry": rng.choice(["C38", "C39", "A01"]),
                "certs": [{"kind": rng.choice(kinds), "status": "valid"}],
                "abnormal_listed": False,
                "serious_violation": False,
            }
        )
    return rows


def inspector_rows(n: int, seed: int = 2, kinds: tuple[str, ...] = ("CCC",)) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "inspector_id": f"FJ-{i:04d}",
            "division_code": rng.choice(FUJIAN[:4])[:4] + "00",
            "expertise": sorted(set(rng.sample(kinds, k=1) + [kinds[0]])),
            "unit": "福建省市场监督管理局认证监管处",
            "active": True,
            "credential_from": "2024-01-01",
            "credential_until": "2029-12-31",
            "leaves": [],
        }
        for i in range(n)
    ]


def plan_dict(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-plan",
        "check_item": "RZ-CCC-01",
        "period": "2026-12",
        "title": "测试计划",
        "legal_basis": ["国市监信〔2019〕38号"],
        "population": {"cert_kinds": ["CCC"], "divisions": ["350000"]},
        "strata": {"by": ["risk_class"], "rates": {"A": "1%", "B": "3%", "C": "10%", "D": "30%"}},
        "teams": {"size": 2, "workload_cap": 50},
        "window": {"start": "2026-12-01", "end": "2026-12-31"},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_inputs(
    n: int = 200,
    inspectors: int = 30,
    plan: dict[str, Any] | None = None,
    entropy: list[dict] | None = None,
    exclusions: dict[str, str] | None = None,
    round_key: str = "FJ-2026-12-CCC",
    seed: int = 1,
) -> DrawInputs:
    canonical = parse_plan(plan or plan_dict())
    return DrawInputs(
        round_key=round_key,
        plan=canonical,
        enterprises=build_enterprise_frame(enterprise_rows(n, seed), canonical, exclusions),
        inspectors=build_inspector_frame(inspector_rows(inspectors)),
        entropy=entropy or [WITNESS],
    )
