"""Escalations after years of rounds: a round keeps its checks past their deadline until each
has a final finding, so with one check never done it stays open for good. Each such round
escalated the same checks to the coordinator every day: after five years of monthly rounds,
120 messages every morning, most about checks of 2022. A late check is escalated once; a
round is escalated again only when one more of its checks passes its deadline."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.models import Notification, NotificationKind
from notifications.outbox import enqueue_overdue_escalations
from rounds import service as rounds
from rounds.models import Assignment
from tests.findings.factories import ROUND, drawn_round
from tests.rounds.factories import plan_yaml

EARLIER = "ccc-2026-11"


def _escalate(engine: sa.Engine, day: dt.date) -> int:
    with Session(engine) as session:
        queued = enqueue_overdue_escalations(session=session, today=day)
        session.commit()
    return queued


def _escalated(engine: sa.Engine) -> list[tuple[str, list[str]]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Notification.round_key, Notification.payload)
            .where(Notification.kind == NotificationKind.overdue)
            .order_by(Notification.id)
        ).all()
    return [(key, list(payload["overdue"])) for key, payload in rows]


def test_late_checks_are_escalated_once_not_every_day(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    drawn_round(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml(plan_id=EARLIER, period="2026-11"))
    digits = rounds.EntropyInput(witness_digits="2718281828459045235360", witnesses=("李四",))
    rounds.draw_round(engine=engine, round_key=EARLIER, entropy=digits)

    code = _due_later(engine, dt.date(2027, 2, 1))  # one check of ROUND is due a month later

    assert _escalate(engine, dt.date(2027, 1, 5)) == 2  # both rounds have late checks
    for day in (dt.date(2027, 1, 6), dt.date(2027, 1, 7), dt.date(2027, 1, 29)):
        assert _escalate(engine, day) == 0, day  # the same late checks: nothing new to say
    first = _escalated(engine)
    assert [key for key, _ in first] == [EARLIER, ROUND]
    assert code not in dict(first)[ROUND]

    assert _escalate(engine, dt.date(2027, 2, 2)) == 1  # it is late now: said, with the rest
    key, late = _escalated(engine)[-1]
    assert key == ROUND and code in late and set(dict(first)[ROUND]) < set(late)
    assert _escalate(engine, dt.date(2028, 2, 2)) == 0


def _due_later(engine: sa.Engine, day: dt.date) -> str:
    """Give one enterprise of ``ROUND`` the due date ``day``; its credit code."""
    with Session(engine) as session:
        first = session.exec(select(Assignment).where(Assignment.round_key == ROUND)).first()
        assert first is not None
        session.execute(
            sa.update(Assignment)
            .where(
                Assignment.round_key == ROUND,  # type: ignore[arg-type]
                Assignment.credit_code == first.credit_code,  # type: ignore[arg-type]
            )
            .values(due_on=day)
        )
        session.commit()
        return first.credit_code
