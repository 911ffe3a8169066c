"""An ad hoc round's total cap past what the plan's hash can hold is named as the override it
is: ``round adhoc --total-cap 9007199254740992`` (or the deployment's parameter) stopped with
a TypeError when the plan was hashed."""

from __future__ import annotations

import pytest

from rounds.plans import apply_overrides, load_plan_text
from shuangsui.errors import PlanError
from tests.rounds.factories import plan_yaml


def test_a_total_cap_past_i_json_is_refused_as_an_override() -> None:
    plan, _ = load_plan_text(plan_yaml(), source="ccc.yaml")
    assert apply_overrides(plan, {"total_cap": 2**53 - 1})["strata"]["total_cap"] == 2**53 - 1
    with pytest.raises(PlanError, match=r"^overrides: strata\.total_cap: integer 9007199254740992"):
        apply_overrides(plan, {"total_cap": 2**53})
