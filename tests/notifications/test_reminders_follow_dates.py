"""A reminder queued for a check's date, and the date moved before it went.

The follow-up queues each member's reminder a few working days before the check's date, keyed
by that date (``notifications.outbox.enqueue_reminders``). Before, a new date (延期,
``rounds.redates``; or a replacement that gives one) rewrote the team's notices and sign-off
requests but left a reminder still waiting in the outbox: it went later and told the member
the old date; and the member withdrawn by a replacement was still reminded of a check they no
longer had, their link opening nothing. Now a reminder that has not reached its member and
names a date the check no longer has is withdrawn in the transaction that moves the date; one
sent, or in a dispatcher's hands, stays as it was. The follow-up then reminds of the new date,
once, when it comes near; and it holds the drawn rounds while it reads the dates, so a date
moved as it runs is read before the change (which then withdraws what it queued) or after."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications import hooks, outbox
from notifications.links import idempotency_keys
from notifications.models import Notification, NotificationKind
from notifications.outbox import enqueue_reminders
from rounds.redates import move_due_date
from rounds.replacements import replace_member
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.test_replacement_messages import _row, _set_state
from tests.races import assert_blocked
from tests.rounds.test_due_dates_at_once import one_after_the_other, postgres_only

TODAY = date(2026, 12, 28)  # a Monday: the round's checks, due on the 31st, are 3 working days on
DUE = date(2026, 12, 31)
LATER = date(2027, 1, 29)  # more than 3 working days on: no reminder yet
EARLIER = date(2026, 12, 29)  # still to come, and within the window
REASON = "企业停产整顿"


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bureau's today, for the date's rules (a date from today on), fixed."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: TODAY)


def _remind(engine: sa.Engine, day: date = TODAY) -> int:
    """The morning's follow-up: the reminders it queues, committed."""
    with Session(engine) as s:
        queued = enqueue_reminders(session=s, today=day)
        s.commit()
    return queued


def _reminders(engine: sa.Engine, code: str) -> dict[str, list[str]]:
    """The outbox's reminders of ``code``'s check, by member: the dates they name."""
    with Session(engine) as s:
        rows = s.exec(
            select(Notification).where(
                Notification.round_key == ROUND, Notification.kind == NotificationKind.reminder
            )
        ).all()
    out: dict[str, list[str]] = {}
    for n in rows:
        if n.payload["credit_code"] == code:
            out.setdefault(n.recipient, []).append(n.payload["due_on"])
    return {who: sorted(dates) for who, dates in out.items()}


def _reminder_key(who: str, code: str, due_on: date) -> str:
    keys = idempotency_keys(ROUND, NotificationKind.reminder.value)
    return keys(who, f"{code}|{due_on.isoformat()}")


@pytest.mark.parametrize("new_date", [LATER, EARLIER], ids=["later", "earlier"])
def test_a_reminder_of_the_old_date_is_withdrawn_and_the_new_date_reminded_once(
    engine: sa.Engine, new_date: date
) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code, other = sorted(drawn)[:2]
    team = drawn[code]
    assert _remind(engine) == sum(len(t) for t in drawn.values())  # everyone's, for the 31st
    assert _reminders(engine, code) == {who: [DUE.isoformat()] for who in team}

    move_due_date(engine, ROUND, code, due_on=new_date, reason=REASON, recorded_by="李协调")

    assert _reminders(engine, code) == {}  # none left to tell the 31st
    assert _reminders(engine, other) == {who: [DUE.isoformat()] for who in drawn[other]}
    if new_date == EARLIER:  # within the window: reminded of it, once
        assert _remind(engine) == len(team)
        assert _reminders(engine, code) == {who: [new_date.isoformat()] for who in team}
    else:  # not within it: nothing yet, then the new date's when it comes near
        assert _remind(engine) == 0
        assert _reminders(engine, code) == {}
        assert _remind(engine, date(2027, 1, 26)) == len(team)
        assert _reminders(engine, code) == {who: [new_date.isoformat()] for who in team}
    assert _remind(engine) == 0 and _remind(engine, date(2027, 1, 26)) == 0


@pytest.mark.parametrize("state", ["pending", "failed", "dead", "sent", "leased"])
def test_only_a_reminder_that_has_not_reached_its_member_is_withdrawn(
    engine: sa.Engine, state: str
) -> None:
    """Waiting, to be retried or given up on (``notifications retry`` would send it): it
    would tell the old date, and goes. Sent, or leased (a dispatcher may be sending it now):
    it stays as it was; the 检查期限变更通知 tells the new date."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _remind(engine)
    key = _reminder_key(lead, code, DUE)
    _set_state(engine, key, state)
    before = _row(engine, key)

    move_due_date(engine, ROUND, code, due_on=EARLIER, reason=REASON, recorded_by="李协调")

    with Session(engine) as s:
        left = s.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if state in ("sent", "leased"):
        assert left is not None
        assert (left.status, left.body, left.payload) == (before.status, before.body,
                                                          before.payload)  # fmt: skip
    else:
        assert left is None
    assert _reminders(engine, code).get(second) is None  # the other member's was waiting
    assert _remind(engine) == 2  # the new date's, to each member, beside the old one kept
    assert _reminders(engine, code)[lead] == sorted(
        [EARLIER.isoformat()] + ([DUE.isoformat()] if left is not None else [])
    )


@pytest.mark.parametrize("new_date", [None, LATER], ids=["date-kept", "new-date"])
def test_a_replacement_withdraws_the_reminders_that_no_longer_hold(
    engine: sa.Engine, new_date: date | None
) -> None:
    """The member withdrawn is no longer reminded of the check (their link opens nothing
    now), whatever its date; a member who stays keeps a reminder of the date the seat kept,
    and loses one of a date the replacement moved."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _remind(engine)

    done = replace_member(engine, ROUND, code, second, cause="conflict", note="其配偶在该企业任职",
                          recorded_by="李协调", due_on=new_date)  # fmt: skip
    newcomer = done.replacement.replacement

    if new_date is None:
        assert _reminders(engine, code) == {lead: [DUE.isoformat()]}
        assert _remind(engine) == 1  # the replacement's, for the seat's date
        assert _reminders(engine, code) == {lead: [DUE.isoformat()], newcomer: [DUE.isoformat()]}
    else:
        assert _reminders(engine, code) == {}
        assert _remind(engine) == 0
        assert _remind(engine, date(2027, 1, 26)) == 2
        assert _reminders(engine, code) == {lead: [LATER.isoformat()],
                                            newcomer: [LATER.isoformat()]}  # fmt: skip


@pytest.mark.parametrize("first", ["follow-up", "new-date"])
def test_a_follow_up_and_a_new_date_at_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """PostgreSQL, the interleaving forced. Before, the follow-up could read the old date,
    the new date commit (no reminder to withdraw yet), and the follow-up then queue the old
    date's reminder, which went. Now the one started second waits for the first: a new date
    after the follow-up withdraws what it queued; a follow-up after the new date reads it."""
    postgres_only(engine)
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]

    def redate() -> object:
        return move_due_date(engine, ROUND, code, due_on=LATER, reason=REASON,
                             recorded_by="李协调")  # fmt: skip

    if first == "follow-up":
        _held_at_its_queueing(engine, monkeypatch, _remind, redate)
    else:
        one_after_the_other(engine, "due_change", redate, lambda: _remind(engine))
    assert _reminders(engine, code) == {}
    assert _remind(engine, date(2027, 1, 26)) == len(drawn[code])
    assert _reminders(engine, code) == {who: [LATER.isoformat()] for who in drawn[code]}


def _held_at_its_queueing(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    follow_up: Callable[[sa.Engine], int],
    change: Callable[[], object],
) -> None:
    """The follow-up held as it queues its reminders (the dates read), ``change()`` started
    meanwhile and seen waiting for a lock, then both let go. (The outbox's rows go by
    ``COPY`` on PostgreSQL, past the statement events: the queueing function is held.)"""
    reached, go = threading.Event(), threading.Event()
    real = outbox.add_messages

    def held(*args: Any, **kwargs: Any) -> int:
        if not reached.is_set():
            reached.set()
            assert go.wait(120), "the test never let the follow-up go on"
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox, "add_messages", held)
    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(follow_up, engine)
        assert reached.wait(60), f"the follow-up never queued: {one}"
        two = pool.submit(change)
        try:
            assert_blocked(engine, two, "the new date did not wait for the follow-up")
        finally:
            go.set()
        one.result(60)
        two.result(60)
