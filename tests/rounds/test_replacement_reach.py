"""What a coordinator is told beyond the one team a replacement changes (docs/draw-algorithm.md
§14): a member withdrawn as unable to attend or transferred still sits on their other teams of
the round, and a joint round's key is named as one, whose members are replaced by `joint
replace`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from joint.models import JointRound
from rounds.replacements import Refused, replace_member
from shuangsui.cli import _register_groups, app
from tests.findings.factories import ROUND, drawn_round, teams


def _on_two_teams(drawn: dict[str, list[str]]) -> tuple[str, list[str]]:
    """An inspector of the round on more than one team, and those teams' enterprises."""
    held: dict[str, list[str]] = {}
    for code, team in sorted(drawn.items()):
        for inspector in team:
            held.setdefault(inspector, []).append(code)
    inspector, codes = next((i, c) for i, c in sorted(held.items()) if len(c) > 1)
    return inspector, codes


def test_a_member_withdrawn_from_the_round_is_named_on_their_other_teams(
    engine: sa.Engine,
) -> None:
    drawn = drawn_round(engine)
    inspector, codes = _on_two_teams(drawn)
    done = replace_member(
        engine, ROUND, codes[0], inspector, cause="unavailable", note="住院治疗", recorded_by="林"
    )
    others = tuple(codes[1:])
    assert done.still_on == others
    assert all(inspector in teams(engine)[code] for code in others)
    # a conflict is with one enterprise: the member's other teams are not in question
    again = replace_member(
        engine, ROUND, others[0], inspector, cause="conflict", note="申报回避", recorded_by="林"
    )
    assert again.still_on == ()


def test_the_command_line_says_which_teams_still_hold_the_member(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    inspector, codes = _on_two_teams(drawn)
    _register_groups()
    argv = ["round", "replace", ROUND, codes[0], inspector, "--cause", "left"]
    out = CliRunner().invoke(app, [*argv, "--note", "调离本局", "--by", "林"])
    assert out.exit_code == 0, out.output
    assert f"warning: {inspector} (left) is still on the team of {', '.join(codes[1:])}" in (
        out.output
    )


def test_a_joint_round_s_key_is_named_as_one(engine: sa.Engine) -> None:
    key = "jt-2026-12"
    with Session(engine) as s:
        s.add(JointRound(joint_key=key, plan_hash="0" * 64, plan_json=json.dumps({}),
                         lead="350000", nonce="0" * 64, status="drawn",
                         created_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)))  # fmt: skip
        s.commit()
    with pytest.raises(Refused) as joint:
        replace_member(engine, key, "9" * 18, "I1", cause="conflict", note="回避", recorded_by="林")
    assert joint.value.kind == "no-round"
    assert "is a joint round" in str(joint.value)
    assert f"shuangsui joint replace {key} CREDIT_CODE INSPECTOR" in str(joint.value)
    with pytest.raises(Refused) as unknown:
        replace_member(engine, "rz-09-2026-12", "9" * 18, "I1", cause="conflict", note="回避",
                       recorded_by="林")  # fmt: skip
    assert str(unknown.value) == "round 'rz-09-2026-12': no such round"
