"""A reminder of the old date that a new date cannot withdraw, to a member whose notice it
writes again.

A new date (延期, ``rounds.redates``; or a replacement that gives one) withdraws the members'
reminders of the old date that have not reached them, and writes again with the new date each
检查任务通知 that has not reached its member. A reminder sent, or in a dispatcher's hands, stays
as it was: it went, or may be going now. Before, a member whose notice was written again was
told nothing more (the notice names the new date), so one whose reminder of the old date went
held a reminder saying one date and, later, a notice saying another, and nothing saying which
stands. Now such a member gets the 检查期限变更通知 too (after a replacement, the 检查组变更通知
saying the new date); and a member withdrawn whose notice never went but whose reminder did
(its link opens nothing now) gets the 检查任务变更通知.

The reminders go through a real dispatcher to an SMTP server on loopback; the one "in a
dispatcher's hands" is held there mid-send, by the server, while the date moves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from notifications import hooks
from notifications.dispatch import DispatchReport, dispatch
from notifications.links import idempotency_keys
from notifications.models import Notification, NotificationKind
from notifications.settings import NotifySettings, SmtpSettings
from rounds.redates import move_due_date
from rounds.replacements import replace_member
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.servers import SinkHandler, SmtpSink
from tests.notifications.test_reminders_follow_dates import (
    DUE,
    LATER,
    REASON,
    TODAY,
    _remind,
    _reminder_key,
)
from tests.notifications.test_replacement_messages import _messages, _row

T = Notification.__table__  # type: ignore[attr-defined]
AGAIN = date(2027, 2, 26)  # a second new date
NOTICE = idempotency_keys(ROUND, NotificationKind.assignment.value)


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bureau's today, for the date's rules (a date from today on), fixed."""
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: TODAY)


class HeldSink(SinkHandler):
    """Accepts everything; the first message's data waits, the server holding it mid-send,
    until :attr:`go` is set (:attr:`reached` once it waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.reached, self.go = threading.Event(), threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.reached.is_set():
            self.reached.set()
            waited = await asyncio.get_running_loop().run_in_executor(None, self.go.wait, 60)
            assert waited, "the test never let the message through"
        return await super().handle_DATA(server, session, envelope)


def _only_due(engine: sa.Engine, keys: list[str]) -> None:
    """Only the messages of ``keys`` due now: the rest (the notices above all) put off a month,
    so a dispatcher sends these alone and leaves the rest unsent."""
    later = datetime.now(UTC) + timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(T.update().where(T.c.idempotency_key.not_in(keys)).values(
            next_attempt_at=later))  # fmt: skip


def _dispatch(engine: sa.Engine, sink: SmtpSink) -> DispatchReport:
    """A real dispatcher run, sending by SMTP to ``sink``, one message at a time."""
    notify = NotifySettings(channel="live", batch_size=10, processes=1)
    return dispatch(engine=engine, notify=notify, smtp=SmtpSettings(port=sink.port),
                    concurrency=1)  # fmt: skip


def _sent_by_a_dispatcher(engine: sa.Engine, keys: list[str]) -> None:
    """The messages of ``keys`` sent by a dispatcher run, and nothing else."""
    sink = SmtpSink().start()
    try:
        _only_due(engine, keys)
        report = _dispatch(engine, sink)
    finally:
        sink.stop()
    assert report.sent == len(keys) and len(sink.handler.received) == len(keys)
    for key in keys:
        assert _row(engine, key).status == "sent"


def _in_a_dispatchers_hands(engine: sa.Engine, key: str, meanwhile: Callable[[], object]) -> None:
    """The message of ``key`` claimed by a real dispatcher run and held mid-send (leased,
    not yet accepted by the server) while ``meanwhile()`` runs; then let go, and sent."""
    sink = SmtpSink(HeldSink()).start()
    handler = sink.handler
    assert isinstance(handler, HeldSink)
    try:
        _only_due(engine, [key])
        with ThreadPoolExecutor(1) as pool:
            run = pool.submit(_dispatch, engine, sink)
            try:
                assert handler.reached.wait(60), f"the dispatcher never sent: {run}"
                held = _row(engine, key)
                assert (held.status, held.lease_until is not None) == ("pending", True)
                meanwhile()
            finally:
                handler.go.set()
            assert run.result(60).sent >= 1  # and what the change queued meanwhile
    finally:
        sink.stop()
    assert _row(engine, key).status == "sent"


def _reads_the_date(engine: sa.Engine, who: str, code: str, due_on: date) -> None:
    """``who``'s 检查任务通知 has not gone and now says ``due_on``."""
    notice = _row(engine, NOTICE(who, code))
    assert notice.status == "pending" and notice.payload["due_on"] == due_on.isoformat()
    assert f"- 完成期限：{due_on.isoformat()}（自 " in notice.body


def _to(engine: sa.Engine, who: str, code: str, kind: NotificationKind) -> list[Notification]:
    """The ``kind`` messages to ``who`` of ``code``'s check (a lead may be on other teams)."""
    return [m for m in _messages(engine, who, kind) if m.payload.get("credit_code") == code]


def _told(engine: sa.Engine, who: str, code: str) -> list[str]:
    """The new dates the 检查期限变更通知 to ``who`` of ``code``'s check say."""
    return sorted(m.payload["due_on"] for m in _to(engine, who, code, NotificationKind.due_changed))


def _redate(code: str, due_on: date = LATER) -> Callable[[sa.Engine], object]:
    return lambda engine: move_due_date(engine, ROUND, code, due_on=due_on, reason=REASON,
                                        recorded_by="李协调")  # fmt: skip


@pytest.mark.parametrize("held", ["sent", "leased"])
def test_a_member_whose_reminder_went_is_told_the_new_date_beside_the_notice_written_again(
    engine: sa.Engine, held: str
) -> None:
    """The lead's reminder of the 31st went (or is on its way: a dispatcher holds it) while
    their notice had not: the notice is written again with the new date, and the lead gets the
    检查期限变更通知 as well. The second member's reminder was waiting: it is withdrawn, their
    notice written again, and nothing more said (the ordinary case)."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _remind(engine)
    reminder = _reminder_key(lead, code, DUE)
    if held == "sent":
        _sent_by_a_dispatcher(engine, [reminder])
        _redate(code)(engine)
    else:
        _in_a_dispatchers_hands(engine, reminder, lambda: _redate(code)(engine))

    _reads_the_date(engine, lead, code, LATER)
    assert _told(engine, lead, code) == [LATER.isoformat()]
    (notice,) = _to(engine, lead, code, NotificationKind.due_changed)
    assert "- 原完成期限：2026-12-31" in notice.body
    assert f"- 新的完成期限：{LATER.isoformat()}（全组相同" in notice.body
    assert REASON not in notice.body
    assert _row(engine, reminder).payload["due_on"] == DUE.isoformat()  # went as it was

    _reads_the_date(engine, second, code, LATER)
    assert _to(engine, second, code, NotificationKind.reminder) == []
    assert _told(engine, second, code) == []


def test_a_second_new_date_tells_them_again_and_a_repeat_tells_no_one_twice(
    engine: sa.Engine,
) -> None:
    """Each new date is a change of its own (keyed by its number in the round): the member
    holding the old reminder is told each once; the hook run again in its transaction's
    place queues nothing more."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _remind(engine)
    _sent_by_a_dispatcher(engine, [_reminder_key(lead, code, DUE)])
    _redate(code)(engine)
    done = _redate(code, AGAIN)(engine)
    with Session(engine) as s:
        hooks.after_redate(s, ROUND, done)
        s.commit()

    _reads_the_date(engine, lead, code, AGAIN)
    assert _told(engine, lead, code) == [LATER.isoformat(),
                                                                 AGAIN.isoformat()]  # fmt: skip
    assert _told(engine, second, code) == []


@pytest.mark.parametrize(
    ("state", "kept"),
    [("pending", False), ("failed", False), ("dead", False), ("sent", True),
     ("leased", True), ("failed-leased", True)],
)  # fmt: skip
def test_only_a_reminder_left_in_place_brings_the_change_notice(
    engine: sa.Engine, state: str, kept: bool
) -> None:
    """Every state a reminder can be in: waiting, to be retried or given up on, it is
    withdrawn and nothing is said beside the notice written again; sent, leased, or being
    retried while leased (a dispatcher took it up again), it stays and the member is told."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, _ = drawn[code]
    _remind(engine)
    key = _reminder_key(lead, code, DUE)
    lease = {"lease_until": datetime.now(UTC) + timedelta(minutes=5)}
    values: dict[str, Any] = {
        "leased": lease, "failed-leased": {"status": "failed", **lease},
    }.get(state, {"status": state})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(T.update().where(T.c.idempotency_key == key).values(**values))

    _redate(code)(engine)

    _reads_the_date(engine, lead, code, LATER)
    assert bool(_to(engine, lead, code, NotificationKind.reminder)) is kept
    assert _told(engine, lead, code) == ([LATER.isoformat()]
                                                                 if kept else [])  # fmt: skip


@pytest.mark.parametrize("due_on", [LATER, None], ids=["new-date", "date-kept"])
def test_a_replacement_tells_those_whose_reminder_went(
    engine: sa.Engine, due_on: date | None
) -> None:
    """Both members' reminders of the 31st went, neither's notice. The second is withdrawn:
    their notice is withdrawn, and their reminder's link opens nothing now, so they get the
    检查任务变更通知. The lead stays and has the notice written again naming the team as it
    stands; given a new date, the lead is sent the 检查组变更通知 saying it (the reminder
    said the old one); with the date kept, the reminder still holds and nothing more is
    said."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _remind(engine)
    _sent_by_a_dispatcher(engine, [_reminder_key(lead, code, DUE),
                                   _reminder_key(second, code, DUE)])  # fmt: skip

    replace_member(engine, ROUND, code, second, cause="conflict", note="其配偶在该企业任职",
                   recorded_by="李协调", due_on=due_on)  # fmt: skip

    _reads_the_date(engine, lead, code, due_on or DUE)
    told = _to(engine, lead, code, NotificationKind.team_changed)
    if due_on is None:
        assert told == []
    else:
        (change,) = told
        assert f"本项检查的完成期限改为 {due_on.isoformat()}（全组相同）" in change.body
    with Session(engine) as s:
        gone = s.execute(sa.select(T.c.id).where(T.c.idempotency_key == NOTICE(second, code)))
        assert gone.all() == []  # never sent: withdrawn
    (withdrawn,) = _to(engine, second, code, NotificationKind.assignment_withdrawn)
    assert "您已不再承担以下检查任务" in withdrawn.body


def test_a_replacement_while_the_reminder_is_in_a_dispatchers_hands(engine: sa.Engine) -> None:
    """The same with the lead's reminder held mid-send by a dispatcher as the replacement
    gives the new date."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _remind(engine)

    def replace() -> None:
        replace_member(engine, ROUND, code, second, cause="conflict", note="其配偶在该企业任职",
                       recorded_by="李协调", due_on=LATER)  # fmt: skip

    _in_a_dispatchers_hands(engine, _reminder_key(lead, code, DUE), replace)

    _reads_the_date(engine, lead, code, LATER)
    (change,) = _to(engine, lead, code, NotificationKind.team_changed)
    assert f"本项检查的完成期限改为 {LATER.isoformat()}" in change.body
    assert _to(engine, second, code, NotificationKind.assignment_withdrawn) == []  # not reached
