"""A joint plan whose numbers its hash cannot hold exactly is refused naming the field."""

from __future__ import annotations

import pytest

from joint.plan import read_joint_plan
from shuangsui.errors import PlanError
from tests.joint.world import joint_yaml

HUGE = 2**60


def test_a_share_of_inspectors_past_an_exact_json_number_is_named() -> None:
    """It passed every check and stopped ``joint commit`` with a ``TypeError`` traceback when
    the plan was hashed (the lead's team size is the participants' sum, so both were huge)."""
    text = joint_yaml("jt-2026-12")
    assert "size: 3" in text and "{bureau: '330000', inspectors: 1}" in text
    text = text.replace("size: 3", f"size: {HUGE + 2}").replace(
        "{bureau: '330000', inspectors: 1}", f"{{bureau: '330000', inspectors: {HUGE}}}"
    )
    with pytest.raises(PlanError, match=r"^participants\[2\]\.inspectors: integer 1152921504606"):
        read_joint_plan(text)


def test_a_plan_within_bounds_still_reads() -> None:
    plan = read_joint_plan(joint_yaml("jt-2026-12").replace("size: 3", "size: 4").replace(
        "{bureau: '330000', inspectors: 1}", "{bureau: '330000', inspectors: 2}"))  # fmt: skip
    assert [p["inspectors"] for p in plan["participants"]] == [1, 1, 2]
