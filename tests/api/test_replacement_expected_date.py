"""A replacement that gives the check a new date, against the date its sender read
(``rounds.replacements.replace_member``'s ``expected_due_on``): a colleague's 延期 (or another
replacement's date) recorded meanwhile was overridden by it unseen, as two 延期 were before
``b5a1d48``. Now it is refused with :class:`rounds.replacements.DueMoved`, naming the date in
force and who set it, nothing written; without a new date the seat keeps whatever date the team
has, so nothing is overridden and nothing refused. Through the service, the API and the
coordinator's page (tests/workspace/test_replace_moved_meanwhile.py), on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import Assignment, TeamChange
from rounds.redates import move_due_date
from rounds.replacements import DueMoved, replace_member
from tests.api.desk import Served, bearer
from tests.findings.factories import ROUND, drawn_round

END = dt.date(2026, 12, 31)  # the test round's window's last day
MOVED, GIVEN = dt.date(2027, 2, 1), dt.date(2027, 1, 10)  # the pinned today is 2026-12-07


def _team(engine: sa.Engine, code: str) -> tuple[list[str], set[dt.date]]:
    with Session(engine) as s:
        rows = s.exec(select(Assignment).where(Assignment.credit_code == code)).all()
    return sorted(a.inspector_id for a in rows), {a.due_on for a in rows}


def _changes(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(TeamChange)).all())


def test_a_new_date_over_a_colleagues_is_refused_naming_it(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    move_due_date(engine, ROUND, code, due_on=MOVED, reason="企业停产至二月", recorded_by="王协调")
    before = _team(engine, code)
    with pytest.raises(DueMoved) as refused:
        replace_member(engine, ROUND, code, drawn[code][1], cause="left", note="调离",
                       recorded_by="李协调", due_on=GIVEN, expected_due_on=END)  # fmt: skip
    exc = refused.value
    assert (exc.kind, exc.expected, exc.due_on, exc.set_by) == ("due-moved", END, MOVED, "王协调")
    assert _team(engine, code) == before and _changes(engine) == 0
    # read again, the date in force expected: made
    replace_member(engine, ROUND, code, drawn[code][1], cause="left", note="调离",
                   recorded_by="李协调", due_on=GIVEN, expected_due_on=MOVED)  # fmt: skip
    assert _team(engine, code)[1] == {GIVEN} and _changes(engine) == 1


def test_without_a_new_date_the_seat_keeps_the_colleagues(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    move_due_date(engine, ROUND, code, due_on=MOVED, reason="企业停产至二月", recorded_by="王协调")
    replace_member(engine, ROUND, code, drawn[code][1], cause="left", note="调离",
                   recorded_by="李协调", expected_due_on=END)  # fmt: skip
    assert _team(engine, code)[1] == {MOVED} and _changes(engine) == 1


def _post(served: Served, code: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{served.base}/rounds/{ROUND}/teams/{code}/replacements",
        json={"cause": "left", "note": "调离"} | body,
        timeout=30,
        headers=bearer(served.coordinator),
    )


def test_the_api_answers_409_naming_the_expected_date(served: Served) -> None:
    code = sorted(served.teams)[0]
    move_due_date(served.engine, ROUND, code, due_on=MOVED, reason="企业停产至二月",
                  recorded_by="王协调")  # fmt: skip
    member = served.teams[code][1]
    body = {"inspector_id": member, "due_on": GIVEN.isoformat(), "expected_due_on": END.isoformat()}
    r = _post(served, code, body)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("replacement-due-moved")
    assert [e["field"] for e in problem["errors"]] == ["body.expected_due_on"]
    assert f"is due on {MOVED} now, not {END} (set by 王协调 at " in problem["detail"]
    assert _changes(served.engine) == 0
    again = _post(served, code, body | {"expected_due_on": MOVED.isoformat()})
    assert again.status_code == 201, again.text
