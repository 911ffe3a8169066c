import random

import pytest

from draw.errors import FrameError, PlanError
from draw.frame import (
    EnterpriseUnit,
    InspectorUnit,
    build_enterprise_frame,
    build_inspector_frame,
    encode_enterprise,
    encode_inspector,
    frame_commitment,
)
from draw.plan import parse_plan

from .factories import credit_code, enterprise_rows, inspector_rows, plan_dict


def row(code: str, division: str = "350102", risk: str = "B", **kw: object) -> dict:
    return {"credit_code": code, "division_code": division, "risk_class": risk,
            "certs": [{"kind": "CCC", "status": "valid"}], **kw}  # fmt: skip


def test_enterprise_row_bytes_layout() -> None:
    u = EnterpriseUnit("9135X", "350102", "B", ("CCC", "ORG"), "350100/B")
    expected = b"".join(
        len(f.encode()).to_bytes(4, "big") + f.encode()
        for f in ["9135X", "350102", "B", "350100/B", "random", "", "2", "CCC", "ORG"]
    )
    assert encode_enterprise(u) == expected


def test_inspector_row_bytes_layout() -> None:
    u = InspectorUnit("FJ-1", "350100", ("CCC",), "福建局", True, "2024-01-01", "",
                      (("2026-12-01", "2026-12-03"),))  # fmt: skip
    fields = ["FJ-1", "350100", "福建局", "1", "2024-01-01", "", "1", "CCC", "1",
              "2026-12-01/2026-12-03"]  # fmt: skip
    assert encode_inspector(u) == b"".join(
        len(f.encode()).to_bytes(4, "big") + f.encode() for f in fields
    )


def test_population_filter_strata_targeted_and_exclusions() -> None:
    plan = parse_plan(
        plan_dict(
            population={"divisions": ["3501", "350200"], "cert_statuses": ["valid"]},
            strata={"by": ["division", "risk_class"]},
            targeted={
                "include_abnormal_listed": True,
                "list": [{"credit_code": "C5", "reason": "投诉"}],
            },
        )  # fmt: skip
    )
    rows = [
        row("C1"),
        row("C2", division="350503"),  # outside the divisions
        row("C3", certs=[{"kind": "CCC", "status": "suspended"}]),  # status out of scope
        row("C4", certs=[{"kind": "ORGANIC", "status": "valid"}]),  # kind out of scope
        row("C5", excluded=True),
        row("C6", division="350203", risk="D", abnormal_listed=True),
        row("C7", risk="A"),
    ]
    frame = build_enterprise_frame(rows, plan, {"C7": "FJ-2026-03 已检查", "C5": "FJ-2026-05"})
    assert [u.credit_code for u in frame] == ["C1", "C5", "C6", "C7"]
    by = {u.credit_code: u for u in frame}
    assert by["C1"].stratum == "350100/B" and by["C1"].status == "random"
    assert by["C5"].status == "targeted" and by["C5"].note == "投诉"  # targeted wins
    assert by["C6"].status == "targeted" and by["C6"].stratum == "350200/D"
    assert (by["C7"].status, by["C7"].note) == ("excluded", "FJ-2026-03 已检查")


def test_directed_filters() -> None:
    plan = parse_plan(plan_dict(population={"directed": True, "risk_classes": ["D"],
                                            "industries": ["C38"]}))  # fmt: skip
    rows = [row("A1", risk="D", industry="C38"), row("A2", risk="C", industry="C38"),
            row("A3", risk="D", industry="A01")]  # fmt: skip
    assert [u.credit_code for u in build_enterprise_frame(rows, plan)] == ["A1"]


def test_frame_is_order_independent() -> None:
    plan = parse_plan(plan_dict())
    rows = enterprise_rows(300)
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    a = [encode_enterprise(u) for u in build_enterprise_frame(rows, plan)]
    b = [encode_enterprise(u) for u in build_enterprise_frame(shuffled, plan)]
    assert frame_commitment(a) == frame_commitment(b)
    insp = inspector_rows(20)
    assert build_inspector_frame(insp) == build_inspector_frame(list(reversed(insp)))


def test_duplicates_and_bad_rows_are_refused() -> None:
    plan = parse_plan(plan_dict())
    with pytest.raises(FrameError, match="C1: appears twice"):
        build_enterprise_frame([row("C1"), row("C1")], plan)
    with pytest.raises(FrameError, match="bad credit_code"):
        build_enterprise_frame([row(" C1")], plan)
    with pytest.raises(FrameError, match="FJ-0000: appears twice"):
        build_inspector_frame(inspector_rows(2) + inspector_rows(1))
    with pytest.raises(PlanError, match="risk class 'E'"):
        build_enterprise_frame([row("C1", risk="E")], plan)


def test_targeted_outside_population_is_refused() -> None:
    plan = parse_plan(plan_dict(targeted={"list": [{"credit_code": "NOPE", "reason": "x"}]}))
    with pytest.raises(PlanError, match="targeted.list: NOPE is not in the plan's population"):
        build_enterprise_frame([row("C1")], plan)


def test_credit_codes_from_factory_are_valid() -> None:
    from stdnum.cn import uscc

    assert uscc.is_valid(credit_code("350102", 12345))
