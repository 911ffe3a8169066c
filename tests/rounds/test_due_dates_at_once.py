"""A team's date moved twice at once on PostgreSQL (rounds/redates.py, rounds/replacements.py),
the interleaving forced: the first writer is held at its insert of the change's row (its
transaction holds the round's lock and has moved the team's dates), the second is started and
seen waiting for a lock, then the first is let go. Both are recorded, one after the other: the
second reads the dates the first committed (a new date says the date it replaces as the first
left it; a replacement keeping the seat's date keeps the first's), and ``round verify`` passes
(every assignment is due on the last date recorded). SQLite's writers hold the database's
write lock from their first statement: there is nothing to interleave."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from rounds import audit, bundle
from rounds.models import Assignment, DueChange, TeamChange
from rounds.redates import move_due_date
from rounds.replacements import replace_member
from shuangsui.cli import _register_groups, app
from tests.findings.factories import ROUND, drawn_round
from tests.races import assert_blocked

T = TypeVar("T")
END = dt.date(2026, 12, 31)  # the test round's window's last day
FIRST, SECOND = dt.date(2027, 1, 20), dt.date(2027, 2, 10)


class FirstHeld:
    """The first writer, in any thread, to send an insert into ``table`` held there (before
    the database runs it) until :attr:`go` is set; every later one passes."""

    def __init__(self, table: str) -> None:
        self.insert = f"INSERT INTO {table} "
        self.reached, self.go = threading.Event(), threading.Event()

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.reached.is_set() or not statement.lstrip().startswith(self.insert):
            return
        self.reached.set()
        assert self.go.wait(120), "the test never let the held writer go on"


@contextmanager
def first_held(engine: sa.Engine, table: str) -> Iterator[FirstHeld]:
    """A :class:`FirstHeld` listening to ``engine``; let go, and removed, at the end."""
    hold = FirstHeld(table)
    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield hold
    finally:
        hold.go.set()
        event.remove(engine, "before_cursor_execute", hold)


def one_after_the_other(
    engine: sa.Engine, table: str, first: Callable[[], T], second: Callable[[], T]
) -> tuple[T, T]:
    """``first()`` held at its insert into ``table``; ``second()`` started meanwhile and seen
    waiting for a lock in PostgreSQL; then both let go. What each returned."""
    with ThreadPoolExecutor(2) as pool, first_held(engine, table) as hold:
        one = pool.submit(first)
        assert hold.reached.wait(60), f"the first writer never inserted into {table}: {one}"
        two = pool.submit(second)
        assert_blocked(engine, two, "the second writer did not wait for the first")
        hold.go.set()
        return one.result(60), two.result(60)


def postgres_only(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite's writers hold the database's write lock")


def _dues(engine: sa.Engine, code: str) -> list[dt.date]:
    with Session(engine) as s:
        return list(s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all())


def _logged(engine: sa.Engine) -> list[str]:
    """The round's replacements and new dates in the audit log's order (their events' names)."""
    with Session(engine) as s:
        events = [e.event for e in audit.load_chain(s)]
    return [e for e in events if e in ("MemberReplaced", "DueDateMoved")]


def _verified(engine: sa.Engine) -> None:
    bundle.recompute(engine, ROUND)
    _register_groups()
    out = CliRunner().invoke(app, ["round", "verify", ROUND])
    assert out.exit_code == 0, out.output
    assert "every check's due date is the one its record gives" in out.output


@pytest.mark.parametrize(
    ("first", "redate_to", "replace_to", "last"),
    [
        ("redate", FIRST, SECOND, SECOND),  # then a replacement giving a date
        ("redate", FIRST, None, FIRST),  # then a replacement keeping the seat's date
        ("replacement", SECOND, FIRST, SECOND),  # then a new date
    ],
    ids=["redate-then-replacement-giving-a-date", "redate-then-replacement-keeping-it",
         "replacement-then-redate"],
)  # fmt: skip
def test_a_new_date_and_a_replacement_at_once(
    engine: sa.Engine, first: str, redate_to: dt.date, replace_to: dt.date | None, last: dt.date
) -> None:
    """A new date and a replacement of the same team: the one let go second reads the date
    the first left (a replacement keeping the seat's date keeps the new one; a new date after
    a replacement's says the replacement's date as the one it replaces)."""
    postgres_only(engine)
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]

    def redate() -> object:
        return move_due_date(engine, ROUND, code, due_on=redate_to, reason="企业停业",
                             recorded_by="李协调")  # fmt: skip

    def replace() -> object:
        return replace_member(engine, ROUND, code, drawn[code][1], cause="left", note="调离",
                              recorded_by="王协调", due_on=replace_to)  # fmt: skip

    if first == "redate":
        one_after_the_other(engine, "due_change", redate, replace)
        order, replaced = ["DueDateMoved", "MemberReplaced"], END
    else:
        one_after_the_other(engine, "team_change", replace, redate)
        order, replaced = ["MemberReplaced", "DueDateMoved"], replace_to

    assert _dues(engine, code) == [last] * 2
    assert _logged(engine) == order
    with Session(engine) as s:
        (moved,) = s.exec(select(DueChange)).all()
        (changed,) = s.exec(select(TeamChange)).all()
    assert (moved.old_due_on, moved.due_on, changed.due_on) == (replaced, redate_to, replace_to)
    _verified(engine)


def test_two_new_dates_at_once_are_numbered_in_turn(engine: sa.Engine) -> None:
    """Two new dates of one team: rows 1 and 2, the second saying the first's date as the
    one it replaces; the team due on the second's."""
    postgres_only(engine)
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]

    def redate(due_on: dt.date) -> Callable[[], object]:
        return lambda: move_due_date(engine, ROUND, code, due_on=due_on, reason="企业停业",
                                     recorded_by="李协调")  # fmt: skip

    one_after_the_other(engine, "due_change", redate(FIRST), redate(SECOND))
    with Session(engine) as s:
        rows = s.exec(select(DueChange).order_by(col(DueChange.n))).all()
        got = [(r.n, r.old_due_on, r.due_on) for r in rows]
    assert got == [(1, END, FIRST), (2, FIRST, SECOND)]
    assert _dues(engine, code) == [SECOND] * 2
    _verified(engine)
