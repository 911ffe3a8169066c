"""Plans that make no sense are refused at commit with one line naming the file and the field,
and leave nothing behind: no round, no audit entry, the round key still free."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, func, select

from registry.models import CheckItem
from rounds import service
from rounds.models import RoundKind
from shuangsui.errors import PlanError, UserError
from tests.rounds.factories import NOW, plan_yaml, seed_registry

SOURCE = "plans/2026-12/ccc.yaml"


def _organic_item(engine: sa.Engine) -> None:
    with Session(engine) as s:
        s.add(CheckItem(code="RZ-03", name="有机产品认证获证企业检查",
                        legal_basis="《有机产品认证管理办法》", cert_kinds=["organic"],
                        updated_at=NOW))  # fmt: skip
        s.commit()


def _row_counts(engine: sa.Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            t.name: s.exec(select(func.count()).select_from(t)).one()
            for t in SQLModel.metadata.sorted_tables
        }


BAD = [
    # (what the plan says, the one line expected after "plans/2026-12/ccc.yaml: ")
    (
        plan_yaml().replace("check_item: CCC-01", "check_item: RZ-03"),
        r"population\.cert_kinds\.0: 'ccc' is not a certificate kind of check item RZ-03 "
        r"\(有机产品认证获证企业检查\); write \[organic\]",
    ),
    (
        plan_yaml().replace("check_item: CCC-01", "check_item: RZ-99"),
        r"check_item: 'RZ-99' is not in the check-item list",
    ),
    (
        plan_yaml().replace("divisions: ['350000']", "divisions: ['330000']"),
        r"population\.divisions\.0: 330000 \(浙江省\) is outside this bureau's jurisdiction "
        r"350000 \(福建省\); write a division code starting 35",
    ),
    (
        plan_yaml().replace("divisions: ['350000']", "divisions: ['359999']"),
        r"population\.divisions\.0: 359999 is not a GB/T 2260 division code",
    ),
    (
        plan_yaml().replace("end: 2026-12-31", "end: 2026-11-31"),
        r"window\.end: .*day value is outside expected range.*write a real calendar date",
    ),
    (
        plan_yaml().replace("end: 2026-12-31", "end: 2027-01-15"),
        r"window\.end: 2027-01-15 is outside the period 2026-12; write a date from "
        r"2026-12-01 to 2026-12-31",
    ),
    (
        plan_yaml().replace("teams:", "teams:\n  sise: 3"),
        r"teams\.sise: Extra inputs are not permitted: did you mean 'size'\?",
    ),
    (
        plan_yaml().replace("strata:", "stratta: {}\nstrata:"),
        r"stratta: Extra inputs are not permitted: did you mean 'strata'\?",
    ),
    (  # misspelled, a required key was reported missing without naming what the plan says
        plan_yaml().replace("title:", "titel:"),
        r"^plans/2026-12/ccc\.yaml: titel: Extra inputs are not permitted: did you mean 'title'\?",
    ),
]


@pytest.mark.parametrize(("text", "line"), BAD, ids=range(len(BAD)))
def test_a_bad_plan_is_refused_in_one_line_and_leaves_nothing(
    engine: sa.Engine, text: str, line: str
) -> None:
    seed_registry(engine)
    _organic_item(engine)
    before = _row_counts(engine)
    with pytest.raises(PlanError) as caught:
        service.commit_round(engine=engine, plan_text=text, plan_source=SOURCE)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: ")
    assert re.search(line, message), message
    assert _row_counts(engine) == before
    # the key is still free: the corrected plan commits under it
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml(), plan_source=SOURCE)
    assert rnd.round_key == "ccc-2026-12"


def test_a_committed_round_asked_again_with_other_arguments_is_refused(engine: sa.Engine) -> None:
    seed_registry(engine)
    key = "adhoc-ccc-2026-12-0123456789"
    args = {"engine": engine, "plan_text": plan_yaml(), "kind": RoundKind.adhoc,
            "round_key": key, "requested_by": "林科长", "reason": "投诉举报 复查"}  # fmt: skip
    first = service.commit_round(**args, overrides={"rates": {"D": "100%"}})
    assert service.commit_round(**args, overrides={"rates": {"D": "100%"}}) == first
    with pytest.raises(UserError) as refused:
        service.commit_round(**args, overrides={"rates": {"C": "50%"}, "divisions": ["350100"]})
    message = str(refused.value)
    assert message.startswith(f"round {key} was committed with other arguments")
    assert "population.divisions: committed ['35'], asked ['3501']" in message
    assert "strata.rates.C: committed '40%', asked '50%'" in message


def test_a_second_round_over_the_same_firms_and_days_needs_a_recheck_reason(
    engine: sa.Engine,
) -> None:
    seed_registry(engine)
    fuzhou = plan_yaml().replace("['350000']", "['350100']")
    service.commit_round(engine=engine, plan_text=fuzhou)
    before = _row_counts(engine)
    adhoc = {"engine": engine, "kind": RoundKind.adhoc, "requested_by": "林科长"}
    province = plan_yaml(plan_id="ccc-fj")
    with pytest.raises(UserError, match=r"window: check item CCC-01 is already checked in this "
                       r"window by ccc-2026-12 \(2026-12-07 to 2026-12-31\).*'复查'"):  # fmt: skip
        service.commit_round(**adhoc, plan_text=province, round_key="adhoc-a", reason="投诉举报")
    assert _row_counts(engine) == before
    # 厦门 does not overlap 福州
    xiamen = plan_yaml(plan_id="ccc-xm").replace("['350000']", "['350200']")
    service.commit_round(**adhoc, plan_text=xiamen, round_key="adhoc-b", reason="投诉举报")
    recheck = service.commit_round(
        **adhoc, plan_text=province, round_key="adhoc-c", reason="投诉举报 复查"
    )
    assert recheck.reason == "投诉举报 复查"


def test_a_broken_plan_file_does_not_hide_another_plan_by_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Looking a plan up by its id reads every plan file: one that is not YAML (sorting
    first) is passed over, and named if the id is found nowhere."""
    from rounds.plans import find_plan

    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "aa-broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    (plans / "ccc.yaml").write_text(plan_yaml(), encoding="utf-8")
    plan_id = re.search(r"^id: (\S+)$", plan_yaml(), re.M)[1]  # type: ignore[index]
    assert find_plan(plans, plan_id) == (plans / "ccc.yaml").resolve()
    with pytest.raises(PlanError, match=r"no plan with that id .*aa-broken\.yaml"):
        find_plan(plans, "no-such-plan")
