"""Reminders and escalations after years of rounds: a round stays drawn until each of its
checks has a final finding, so the drawn rounds pile up (one check never done keeps a round
open for good). Both read every drawn round's assignments, one round after another: the
queries of each morning's follow-up grew with every round ever drawn, though only this month's
checks can be coming due, and only checks newly late need an escalation. They take a fixed
number of queries now, however many rounds lie behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.outbox import enqueue_overdue_escalations, enqueue_reminders
from rounds.models import Assignment, Round
from tests.findings.factories import ROUND, drawn_round

REMIND_ON = dt.date(2026, 12, 29)  # two working days before ROUND's checks are due


def _old_rounds(engine: sa.Engine, first: int, count: int) -> None:
    """``count`` more drawn rounds like ``ROUND``, each with a check that was due in 2022 and
    never finished (numbered from ``first``)."""
    with Session(engine) as session:
        model = session.get(Round, ROUND)
        assert model is not None
        one = session.exec(select(Assignment).where(Assignment.round_key == ROUND)).first()
        assert one is not None
        for n in range(first, first + count):
            key = f"old-{n:03d}"
            fields = model.model_dump() | {"round_key": key, "period": f"2022-{n:03d}"}
            session.add(Round.model_validate(fields))
            session.flush()
            session.add(Assignment(round_key=key, credit_code=one.credit_code,
                                   inspector_id=one.inspector_id, position=0,
                                   due_on=dt.date(2022, 1, 31)))  # fmt: skip
        session.commit()


def _queued(
    engine: sa.Engine, enqueue: Callable[..., int], today: dt.date, *, keep: bool = False
) -> tuple[int, int]:
    """``enqueue`` today's messages (kept only with ``keep``); how many, and the queries it
    took."""
    sent: list[str] = []

    def count(*args: object) -> None:
        sent.append(str(args[2]))

    with Session(engine) as session:
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            queued = enqueue(session=session, today=today)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        if keep:
            session.commit()
    return queued, len(sent)


def test_reminders_take_as_many_queries_after_forty_rounds_as_after_two(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    teams = drawn_round(engine)
    _old_rounds(engine, 1, 2)
    queued, few = _queued(engine, enqueue_reminders, REMIND_ON)
    assert queued == sum(len(team) for team in teams.values())  # every member of this round
    _old_rounds(engine, 3, 38)
    assert _queued(engine, enqueue_reminders, REMIND_ON) == (queued, few)


def test_escalations_take_as_many_queries_after_forty_rounds_as_after_two(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each morning after the first, nothing new is late: as few queries with 40 old rounds
    behind as with 2 (a round newly late is still read for its title: one message each)."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    drawn_round(engine)
    _old_rounds(engine, 1, 2)
    first = dt.date(2027, 1, 5)
    assert _queued(engine, enqueue_overdue_escalations, first, keep=True)[0] == 3
    queued, few = _queued(engine, enqueue_overdue_escalations, first + dt.timedelta(days=1))
    assert queued == 0
    _old_rounds(engine, 3, 38)
    assert _queued(engine, enqueue_overdue_escalations, first, keep=True)[0] == 38
    assert _queued(engine, enqueue_overdue_escalations, first + dt.timedelta(days=1)) == (0, few)
