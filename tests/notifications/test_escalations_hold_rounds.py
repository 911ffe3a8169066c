"""The coordinator's escalations queued on their own as a check's date moves (PostgreSQL, the
interleaving forced).

``outbox.enqueue_overdue_escalations`` reads the late checks' dates from ``assignment``. The
follow-up (``tasks.follow_up.queue_follow_ups``, ``notifications remind``) calls it in the
transaction where ``enqueue_reminders`` has held the drawn rounds' rows (``FOR KEY SHARE``), so
a new date (延期, ``rounds.redates``, which moves the dates with the round's row locked for
update) waits for it or it for the new date. Called on its own it took no hold: it read the old
date as a 延期 was committing, and queued an escalation saying a check was late that the
coordinator had just given more time. Now it holds the rounds itself (taken again in a
transaction that holds them already, the hold is granted at once)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications import hooks
from notifications.models import Notification, NotificationKind
from notifications.outbox import enqueue_overdue_escalations, enqueue_reminders
from rounds.redates import move_due_date
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.test_reminders_follow_dates import _held_at_its_queueing
from tests.rounds.test_due_dates_at_once import one_after_the_other, postgres_only

DUE = date(2026, 12, 31)  # every check's date as drawn
LATE_ON = date(2027, 1, 4)  # a Monday: every check late
LATER = date(2027, 1, 29)


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bureau's today, for the date's rules (a date from today on), fixed."""
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: LATE_ON)


def _escalate(engine: sa.Engine) -> int:
    """The escalations alone, as a caller outside the follow-up would queue them."""
    with Session(engine) as s:
        queued = enqueue_overdue_escalations(session=s, today=LATE_ON)
        s.commit()
    return queued


def _said(engine: sa.Engine) -> dict[str, str]:
    """The late checks the escalations name, each with the date it was late against."""
    with Session(engine) as s:
        rows = s.exec(select(Notification.payload).where(
            Notification.kind == NotificationKind.overdue)).all()  # fmt: skip
    return {code: due for payload in rows for code, due in payload["due_on"].items()}


@pytest.mark.parametrize("first", ["escalations", "new-date"])
def test_escalations_and_a_new_date_at_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """The one started second waits for the first. Escalations first: they name the check late
    against the date it had then (true when said), and the new date follows. The new date
    first: the escalations read it and leave the check out, no longer late."""
    postgres_only(engine)
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]

    def redate() -> object:
        return move_due_date(engine, ROUND, code, due_on=LATER, reason="企业停产整顿",
                             recorded_by="李协调")  # fmt: skip

    if first == "escalations":
        _held_at_its_queueing(engine, monkeypatch, _escalate, redate)
        assert _said(engine)[code] == DUE.isoformat()
    else:
        one_after_the_other(engine, "due_change", redate, lambda: _escalate(engine))
        assert code not in _said(engine)
    assert set(_said(engine)) >= set(drawn) - {code}  # the others, late all along


def test_after_the_reminders_in_one_transaction(engine: sa.Engine) -> None:
    """The follow-up's way: the reminders hold the rounds, the escalations take the hold again
    in the same transaction (granted at once: it is theirs), and both are queued."""
    hooks.install()
    drawn = drawn_round(engine)
    with Session(engine) as s:
        assert enqueue_reminders(session=s, today=date(2026, 12, 28)) > 0
        assert enqueue_overdue_escalations(session=s, today=LATE_ON) == 1
        s.commit()
    assert set(_said(engine)) == set(drawn)
