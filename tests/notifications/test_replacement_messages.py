"""What a member replaced on a drawn team (docs/draw-algorithm.md §14) tells each person.

Before, the replacement's 检查任务通知 read as if the draw had named them ("经'双随机、一公开'抽取，
您被确定为…"); the members who stay heard nothing of the change; the member withdrawn, their
notice already gone, was never told they no longer check the enterprise; and a seat whose date
had passed was announced to the replacement with a count of working days left."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, select

from notifications import hooks
from notifications.links import idempotency_keys
from notifications.messages import (
    AssignmentMessages,
    Common,
    EnterpriseInfo,
    Person,
    RoundInfo,
    seat_taken,
)
from notifications.models import Notification, NotificationKind, NotificationStatus
from registry.models import Inspector
from rounds.models import Assignment
from rounds.replacements import Replaced, replace_member
from tests.findings.factories import ROUND, drawn_round

DRAWN = '经"双随机、一公开"抽取，您被确定为'
REASON = "其配偶在该企业任职"  # the coordinator's reason: personal, never in a message


def _messages(engine: sa.Engine, who: str, kind: NotificationKind) -> list[Notification]:
    with Session(engine) as s:
        rows = s.exec(
            select(Notification).where(
                Notification.round_key == ROUND,
                Notification.recipient == who,
                Notification.kind == kind,
            )
        ).all()
    return list(rows)


def _name(engine: sa.Engine, inspector_id: str) -> tuple[str, str]:
    with Session(engine) as s:
        person = s.get(Inspector, inspector_id)
        assert person is not None
        return person.name, person.unit


def _replace(engine: sa.Engine, code: str, who: str, cause: str = "conflict") -> Replaced:
    return replace_member(engine, ROUND, code, who, cause=cause, note=REASON,
                          recorded_by="李协调")  # fmt: skip


def _mark_sent(engine: sa.Engine, who: str, code: str) -> None:
    key = idempotency_keys(ROUND, NotificationKind.assignment.value)(who, code)
    with Session(engine) as s:
        table = Notification.__table__  # type: ignore[attr-defined]
        s.execute(
            sa.update(table)
            .where(table.c.idempotency_key == key)
            .values(status=NotificationStatus.sent.value)
        )
        s.commit()


def test_the_replacement_is_told_whose_seat_they_take(engine: sa.Engine) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    done = _replace(engine, code, lead, cause="unavailable")
    new = done.replacement.replacement
    (notice,) = [n for n in _messages(engine, new, NotificationKind.assignment) if code in n.body]
    leaver, _ = _name(engine, lead)
    assert f"本检查组原组长{leaver}因不能到场退出本次检查。" in notice.body
    picked = "由本批次公开的随机种子确定由您接替其位置（并非由任何人指定），担任以下检查任务的组长"
    assert picked in notice.body
    assert DRAWN not in notice.body
    assert REASON not in notice.body and REASON not in str(notice.payload)
    # the notice the draw queued for the member who stays reads as it did
    (kept,) = [n for n in _messages(engine, second, NotificationKind.assignment) if code in n.body]
    assert DRAWN in kept.body and "接替" not in kept.body


def test_the_members_who_stay_are_told_the_team_changed(engine: sa.Engine) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    done = _replace(engine, code, second)
    new = done.replacement.replacement
    (told,) = _messages(engine, lead, NotificationKind.team_changed)
    key = idempotency_keys(ROUND, NotificationKind.team_changed.value)(lead, f"{code}|r1")
    assert told.idempotency_key == key
    leaver, _ = _name(engine, second)
    joined, unit = _name(engine, new)
    assert told.subject.startswith("【检查组变更通知】")
    assert f"- 退出：{leaver}（原因：回避）" in told.body
    assert f"- 加入：{joined}（{unit}）\n" in told.body
    assert "您的检查任务、完成期限和专属链接均不变" in told.body
    assert REASON not in told.body
    # the replacement has their notice, not news of their own arrival
    assert _messages(engine, new, NotificationKind.team_changed) == []


def test_the_member_withdrawn_is_told_only_when_their_notice_went(engine: sa.Engine) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    went, unsent = sorted(drawn)[:2]
    leaver = drawn[went][1]
    _mark_sent(engine, leaver, went)
    _replace(engine, went, leaver)
    (told,) = _messages(engine, leaver, NotificationKind.assignment_withdrawn)
    assert told.subject.startswith("【检查任务变更通知】")
    assert went in told.body and "您已不再承担以下检查任务" in told.body
    assert "专属链接将不再能打开该企业的检查页面" in told.body
    assert REASON not in told.body and "回避" not in told.body
    # a notice never sent is withdrawn, and nothing is said in its place
    other = drawn[unsent][1]
    _replace(engine, unsent, other)
    assert [n for n in _messages(engine, other, NotificationKind.assignment)
            if unsent in n.body] == []  # fmt: skip
    assert [n for n in _messages(engine, other, NotificationKind.assignment_withdrawn)
            if unsent in n.body] == []  # fmt: skip


def test_a_repeated_hook_sends_nothing_twice(engine: sa.Engine) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    _mark_sent(engine, second, code)
    done = _replace(engine, code, second)

    def counts() -> dict[str, int]:
        with Session(engine) as s:
            rows = s.exec(select(Notification.kind, sa.func.count()).group_by(Notification.kind))
            return {str(kind): n for kind, n in rows.all()}

    before = counts()
    assert before[NotificationKind.team_changed] == 1
    assert before[NotificationKind.assignment_withdrawn] == 1
    with Session(engine) as s:
        hooks.after_replacement(s, ROUND, done)
        s.commit()
    assert counts() == before


def test_a_seat_past_its_date_says_so(engine: sa.Engine) -> None:
    """The seat keeps its date (§14); a date gone is said to be gone, not counted down."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    leaver = drawn[code][1]
    with Session(engine) as s:
        seat = s.get(Assignment, (ROUND, code, leaver))
        assert seat is not None
        seat.due_on = date(2026, 11, 30)  # before any day this test runs
        s.add(seat)
        s.commit()
    done = _replace(engine, code, leaver)
    assert str(done.due_on) == "2026-11-30"  # not moved
    new = done.replacement.replacement
    (notice,) = [n for n in _messages(engine, new, NotificationKind.assignment) if code in n.body]
    assert "- 完成期限：2026-11-30（已过期，请与协调员联系确定完成时间）" in notice.body
    assert "个工作日" not in notice.body


def test_the_english_notices() -> None:
    common = Common("s", "https://x.cn", "Bureau", date(2026, 12, 20))
    info = RoundInfo("R1", "Check", "Item", "RZ-01", [], date(2026, 12, 7), date(2026, 12, 31))
    firm = EnterpriseInfo("91350100M000000001", "Acme", "")
    left = Person("I1", "Li Si")
    new = Person("I3", "Wang Wu", language="en")
    stays = Person("I2", "Zhang San", language="en")
    out = AssignmentMessages(common, info).team(
        enterprise=firm, certificates=[],
        team=[(new, True, date(2026, 12, 18)), (stays, False, date(2026, 12, 18))],
        extra={"I3": seat_taken(left, "left", lead=True)},
    )  # fmt: skip
    replacement, drawn = (o.body for o in out)
    assert "Li Si, the team lead, has left this check (transferred)." in replacement
    assert "the round's public random seed picked you to take the seat" in replacement
    assert "Deadline: 2026-12-18 (already passed: agree a completion date" in replacement
    assert "You have been drawn at random as inspector" in drawn


def test_a_dead_notice_of_the_member_withdrawn_is_withdrawn_too(engine: sa.Engine) -> None:
    """A notice given up on (dead) never reached them; left in place, `notifications retry`
    would send them a task whose link opens nothing now. It goes, and nothing is said."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    leaver = drawn[code][1]
    key = idempotency_keys(ROUND, NotificationKind.assignment.value)(leaver, code)
    with Session(engine) as s:
        table = Notification.__table__  # type: ignore[attr-defined]
        s.execute(sa.update(table).where(table.c.idempotency_key == key)
                  .values(status=NotificationStatus.dead.value))  # fmt: skip
        s.commit()
    _replace(engine, code, leaver)
    assert [n for n in _messages(engine, leaver, NotificationKind.assignment)
            if code in n.body] == []  # fmt: skip
    assert _messages(engine, leaver, NotificationKind.assignment_withdrawn) == []
