"""A replacement and a new date take the turns of what builds on rounds (``rounds.turns``)
first in their transaction, before the round's row: notifications' followers' turn
(``follow.not_while_following``; a dispatcher's following of the messages the change's hooks write
again deadlocked with it on PostgreSQL: tests/notifications/test_replacement_while_following.py).

Every statement the change sends is watched: the turns come once, and what comes next is the
round's read (on PostgreSQL, the followers' advisory lock first). On SQLite a turn has
nothing to wait for, and sends nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from notifications import follow, hooks
from rounds import turns
from rounds.redates import move_due_date
from rounds.replacements import bureau_today, replace_member
from tests.findings.factories import ROUND, drawn_round, teams

TURN = "-- the turns taken --"


@pytest.fixture
def said(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent to ``engine`` from now, and :data:`TURN` where the turns were
    taken (a turn appended to notifications')."""
    hooks.install()
    assert follow.not_while_following in turns.before_change
    out: list[str] = []
    monkeypatch.setattr(turns, "before_change", [*turns.before_change, lambda _: out.append(TURN)])

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        out.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    yield out
    sa.event.remove(engine, "before_cursor_execute", seen)


def _replace(engine: sa.Engine, code: str, team: list[str]) -> object:
    return replace_member(engine, ROUND, code, team[1], cause="conflict",
                          note="与该企业负责人系亲属", recorded_by="李协调")  # fmt: skip


def _redate(engine: sa.Engine, code: str, team: list[str]) -> object:
    return move_due_date(engine, ROUND, code, due_on=bureau_today() + dt.timedelta(days=20),
                         reason="企业停产整顿一个月", recorded_by="李协调")  # fmt: skip


@pytest.mark.parametrize("change", [_replace, _redate], ids=["replacement", "new-date"])
def test_a_change_of_a_drawn_round_takes_the_turns_before_the_rounds_row(
    engine: sa.Engine, said: list[str], change: Callable[[sa.Engine, str, list[str]], object]
) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    said.clear()
    change(engine, code, drawn[code])
    assert teams(engine) != drawn or change is _redate  # the change was made
    assert said.count(TURN) == 1, said
    after = said[said.index(TURN) + 1 :]
    if engine.dialect.name == "postgresql":  # the followers' turn, in the same transaction
        assert "pg_advisory_xact_lock" in said[said.index(TURN) - 1], said
        assert "FOR UPDATE" in after[0], after[:3]
    assert re.search(r"\bFROM round\b", after[0]), after[:3]  # the round's row, next
