"""What a member replaced on a drawn team (docs/draw-algorithm.md §14) tells each person.

Before, the replacement's 检查任务通知 read as if the draw had named them ("经'双随机、一公开'抽取，
您被确定为…"); the members who stay heard nothing of the change; the member withdrawn, their
notice already gone, was never told they no longer check the enterprise; and a seat whose date
had passed was announced to the replacement with a count of working days left."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
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
from rounds import replacements
from rounds.models import Assignment
from rounds.replacements import Replaced, replace_member
from shuangsui.errors import UserError
from tests.findings.factories import ROUND, drawn_round
from tests.races import assert_blocked

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
    _mark_sent(engine, lead, code)  # the lead has read the team as drawn
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
    _mark_sent(engine, lead, code)
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


def _date_the_team(engine: sa.Engine, code: str, due: date) -> None:
    """Every seat of ``code``'s team due on ``due`` (a round whose window has closed)."""
    with Session(engine) as s:
        for seat in s.exec(select(Assignment).where(Assignment.credit_code == code)).all():
            seat.due_on = due
            s.add(seat)
        s.commit()


def _co_inspectors(body: str) -> str:
    return next(line for line in body.splitlines() if line.startswith("- 同组检查人员："))


def test_a_seat_past_its_date_is_handed_on_only_with_a_new_one(engine: sa.Engine) -> None:
    """Before, the seat kept its date, gone or not: the replacement's notice said 已过期 the day
    they were named. A seat whose date is gone is now refused without a new date; the new
    date is the team's, in the replacement's notice and in the notice of the member who stays
    (written again, not yet sent), and told to a member whose notice went."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, leaver = drawn[code]
    gone = replacements.bureau_today() - timedelta(days=3)
    _date_the_team(engine, code, gone)
    with pytest.raises(UserError, match=f"the seat's due date, {gone.isoformat()}, is gone"):
        _replace(engine, code, leaver)
    new_date = replacements.bureau_today() + timedelta(days=200)  # still to come in the notice
    done = replace_member(engine, ROUND, code, leaver, cause="conflict", note=REASON,
                          recorded_by="李协调", due_on=new_date)  # fmt: skip
    assert done.due_on == new_date and done.due_moved
    new = done.replacement.replacement
    (notice,) = [n for n in _messages(engine, new, NotificationKind.assignment) if code in n.body]
    assert f"- 完成期限：{new_date.isoformat()}（自 " in notice.body and "已过期" not in notice.body
    (stays,) = [n for n in _messages(engine, lead, NotificationKind.assignment) if code in n.body]
    assert f"- 完成期限：{new_date.isoformat()}（自 " in stays.body
    assert stays.payload["due_on"] == new_date.isoformat()
    # a member whose notice went is told the new date with the change
    _mark_sent(engine, lead, code)
    again = replace_member(engine, ROUND, code, new, cause="unavailable", note="病假",
                           recorded_by="李协调", due_on=new_date + timedelta(days=5))  # fmt: skip
    (told,) = _messages(engine, lead, NotificationKind.team_changed)
    later = (new_date + timedelta(days=5)).isoformat()
    assert f"本项检查的完成期限改为 {later}（全组相同）" in told.body
    assert "完成期限和专属链接均不变" not in told.body
    assert again.due_on.isoformat() == later


def _set_state(engine: sa.Engine, key: str, state: str) -> None:
    """The outbox row of ``key`` as a dispatcher would have left it: sent, leased (claimed,
    maybe on its way), or pending, failed or dead (not reached its recipient)."""
    table = Notification.__table__  # type: ignore[attr-defined]
    values: dict[str, object] = {"status": state}
    if state == "leased":
        values = {"status": "pending", "lease_until": datetime.now(UTC) + timedelta(minutes=5)}
    with Session(engine) as s:
        s.execute(sa.update(table).where(table.c.idempotency_key == key).values(**values))
        s.commit()


def _row(engine: sa.Engine, key: str) -> Notification:
    with Session(engine) as s:
        return s.exec(select(Notification).where(Notification.idempotency_key == key)).one()


@pytest.mark.parametrize("state", ["pending", "failed", "dead", "sent", "leased"])
def test_a_member_who_stays_and_has_not_had_their_notice_gets_the_team_as_it_stands(
    engine: sa.Engine, state: str
) -> None:
    """Before, a member who stays and whose 检查任务通知 had not gone was sent it naming the
    team as drawn, then a 检查组变更通知. A notice that has not reached them (waiting, to be
    retried, given up on) is now written again naming the team as it stands, with the same
    key and link, and no change notice follows; one sent, or leased (a dispatcher may be
    sending it now), stays as it was and the change notice follows."""
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    key = idempotency_keys(ROUND, NotificationKind.assignment.value)(lead, code)
    _set_state(engine, key, state)
    before = _row(engine, key)
    done = _replace(engine, code, second)
    after = _row(engine, key)
    left, _ = _name(engine, second)
    joined, _ = _name(engine, done.replacement.replacement)
    told = _messages(engine, lead, NotificationKind.team_changed)
    assert after.id == before.id and after.status == before.status
    if state in ("sent", "leased"):
        assert (after.subject, after.body, after.payload) == (
            before.subject,
            before.body,
            before.payload,
        )
        assert f"{left}（" in _co_inspectors(after.body)
        assert len(told) == 1
        return
    co = _co_inspectors(after.body)
    assert f"{joined}（" in co and f"{left}（" not in co
    assert after.payload["link"] == before.payload["link"] and DRAWN in after.body
    assert after.attempts == before.attempts
    assert told == []


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


@pytest.mark.postgres
def test_a_notice_a_dispatcher_claims_while_the_replacement_is_written_stays_as_it_was(
    engine: sa.Engine,
) -> None:
    """The interleaving forced: a dispatcher's claim has leased the member's notice and not yet
    committed when the replacement comes to write it again. The replacement must wait for the
    claim, then find the notice leased (PostgreSQL reads the row the claim committed) and
    leave it: it may be on its way, so the member is told of the change instead. SQLite:
    the replacement holds the database's write lock, and a claim waits for it to end."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    key = idempotency_keys(ROUND, NotificationKind.assignment.value)(lead, code)
    before = _row(engine, key)
    table = Notification.__table__  # type: ignore[attr-defined]
    with ThreadPoolExecutor(1) as pool, engine.connect() as claim:
        claim.begin()  # as notifications.dispatch.claim leases a row, not yet committed
        claim.execute(
            sa.update(table)
            .where(table.c.idempotency_key == key)
            .values(lease_until=datetime.now(UTC) + timedelta(minutes=5))
        )
        try:
            replacing = pool.submit(_replace, engine, code, second)
            assert_blocked(engine, replacing, "the replacement did not wait for the claim")
        finally:
            claim.commit()
        replacing.result(60)
    after = _row(engine, key)
    assert (after.subject, after.body) == (before.subject, before.body)
    assert len(_messages(engine, lead, NotificationKind.team_changed)) == 1
