"""A joint plan's deadlines are bounded: both within 31 days of ``joint commit`` (a round's
check window lies within its month). A plan with a reveal deadline two years away was taken,
so a withholder's or a silent partner's round waited two years before the rule could fail it.
Partners send no plan (their statements carry its hash alone): the plan a lead proposes
reaches a partner as a file, and the partner's ``joint commit`` refuses it the same way
(three bureaus served on loopback, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import Session

from joint import service
from joint.models import JointRound
from joint.plan import read_joint_plan
from shuangsui.errors import PlanError, UserError
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, Trio
from tests.joint.world import joint_yaml

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
DAY = 86_400


def _far(text: str, field: str, years: int) -> str:
    """``text`` with ``field`` moved ``years`` on."""
    old = re.search(rf"^{field}: (\S+)$", text, re.M)
    assert old is not None
    when = dt.datetime.fromisoformat(old[1].replace("Z", "+00:00"))
    new = (when + dt.timedelta(days=365 * years)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text.replace(old[0], f"{field}: {new}")


def test_a_reveal_deadline_more_than_a_month_after_the_commit_deadline_is_named() -> None:
    text = joint_yaml("jt-far", commit_in=600, reveal_in=600 + 32 * DAY)
    with pytest.raises(PlanError, match=r"^reveal_deadline: \S+ is 32 days after commit_deadline"):
        read_joint_plan(text)
    read_joint_plan(joint_yaml("jt-near", commit_in=600, reveal_in=600 + 31 * DAY))


@pytest.mark.parametrize("field", ["commit_deadline", "reveal_deadline"])
def test_a_deadline_years_away_is_refused_at_commit(trio: Trio, field: str) -> None:
    joint = "jt-years"
    text = _far(joint_yaml(joint), "reveal_deadline", 2)
    if field == "commit_deadline":  # both moved: the gap between them stays small
        text = _far(text, "commit_deadline", 2)
    for code in (FJ, SH):  # the lead proposing it, a partner asked to commit to it
        with pytest.raises(
            UserError, match=rf"^{field}: \S+ is 7\d\d days (away|after commit_deadline)"
        ):
            service.commit(trio.b[code].engine, trio.me[code], text)
        with Session(trio.b[code].engine) as s:
            assert s.get(JointRound, joint) is None  # nothing held, nothing sent


def test_a_deadline_in_the_past_is_refused(trio: Trio) -> None:
    text = joint_yaml("jt-past", commit_in=-600, reveal_in=600)
    with pytest.raises(UserError, match=r"^commit_deadline: \S+ has passed"):
        service.commit(trio.b[SH].engine, trio.me[SH], text)


def test_deadlines_within_a_month_are_taken(trio: Trio) -> None:
    text = joint_yaml("jt-month", commit_in=30 * DAY, reveal_in=31 * DAY - 60)
    assert service.commit(trio.b[FJ].engine, trio.me[FJ], text).status == "committed"
