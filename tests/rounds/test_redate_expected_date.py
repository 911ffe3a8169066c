"""A new date given against the date the caller expects the check to have now
(rounds/redates.py, ``expected_due_on``): moved only if it still is; otherwise refused with
:class:`rounds.redates.DueMoved`, naming the date in force and who set it (a 延期, or a
replacement that gave one; the window's last day when none did), nothing written. Without
it, the date moves from whatever it is, as before. Both databases."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds.models import Assignment, DueChange
from rounds.redates import move_due_date
from rounds.replacements import DueMoved, replace_member
from tests.findings.factories import ROUND, drawn_round

END = dt.date(2026, 12, 31)  # the test round's window's last day
FIRST, SECOND, THIRD = dt.date(2027, 1, 20), dt.date(2027, 2, 10), dt.date(2027, 3, 3)


def _stored(engine: sa.Engine) -> list[tuple[int, dt.date, dt.date]]:
    with Session(engine) as s:
        rows = s.exec(select(DueChange).order_by(col(DueChange.n))).all()
        return [(r.n, r.old_due_on, r.due_on) for r in rows]


def _dues(engine: sa.Engine, code: str) -> set[dt.date]:
    with Session(engine) as s:
        return set(s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all())


def test_a_date_moved_since_it_was_read_is_refused_naming_who_moved_it(
    engine: sa.Engine,
) -> None:
    code = sorted(drawn_round(engine))[0]
    move_due_date(engine, ROUND, code, due_on=FIRST, reason="企业停业", recorded_by="王协调",
                  expected_due_on=END)  # fmt: skip
    with pytest.raises(DueMoved) as refused:
        move_due_date(engine, ROUND, code, due_on=SECOND, reason="等待检测", recorded_by="李协调",
                      expected_due_on=END)  # fmt: skip
    exc = refused.value
    assert (exc.kind, exc.expected, exc.due_on, exc.set_by) == ("due-moved", END, FIRST, "王协调")
    said = str(exc)
    assert said.startswith(f"expected_due_on: the check of {code} is due on {FIRST} now, not {END}")
    assert "set by 王协调 at " in said
    assert _stored(engine) == [(1, END, FIRST)] and _dues(engine, code) == {FIRST}
    # read again: the date in force expected, the move made
    move_due_date(engine, ROUND, code, due_on=SECOND, reason="等待检测", recorded_by="李协调",
                  expected_due_on=FIRST)  # fmt: skip
    assert _stored(engine) == [(1, END, FIRST), (2, FIRST, SECOND)]


def test_a_replacement_s_date_is_named_as_its_recorder_s(engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    move_due_date(engine, ROUND, code, due_on=FIRST, reason="企业停业", recorded_by="王协调")
    replace_member(engine, ROUND, code, drawn[code][1], cause="left", note="调离",
                   recorded_by="赵科长", due_on=SECOND)  # fmt: skip
    with pytest.raises(DueMoved) as refused:
        move_due_date(engine, ROUND, code, due_on=THIRD, reason="等待检测", recorded_by="李协调",
                      expected_due_on=FIRST)  # fmt: skip
    assert (refused.value.due_on, refused.value.set_by) == (SECOND, "赵科长")
    assert _stored(engine) == [(1, END, FIRST)] and _dues(engine, code) == {SECOND}


def test_the_drawn_date_is_named_as_the_window_s(engine: sa.Engine) -> None:
    code = sorted(drawn_round(engine))[0]
    with pytest.raises(DueMoved) as refused:
        move_due_date(engine, ROUND, code, due_on=SECOND, reason="等待检测", recorded_by="李协调",
                      expected_due_on=FIRST)  # fmt: skip
    assert (refused.value.due_on, refused.value.set_by) == (END, None)
    assert "the round's window's last day, as drawn" in str(refused.value)
    assert _stored(engine) == []


def test_without_an_expected_date_the_date_moves_from_whatever_it_is(engine: sa.Engine) -> None:
    code = sorted(drawn_round(engine))[0]
    move_due_date(engine, ROUND, code, due_on=FIRST, reason="企业停业", recorded_by="王协调")
    move_due_date(engine, ROUND, code, due_on=SECOND, reason="等待检测", recorded_by="李协调")
    assert _stored(engine) == [(1, END, FIRST), (2, FIRST, SECOND)]
