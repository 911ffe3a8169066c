"""What a team's check given a new date with no one withdrawn (rounds/redates.py) tells the
team: a 检查任务通知 not yet reached its member is written again with the new date; a member
whose notice went, or may go now, is sent a 检查期限变更通知 saying it; never the reason."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications import hooks
from notifications.links import idempotency_keys
from notifications.models import Notification, NotificationKind
from rounds.redates import move_due_date
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.test_replacement_messages import _messages, _row, _set_state

NEW_DATE = date(2027, 1, 29)
REASON = "企业负责人住院，停业一个月"  # the coordinator's reason: never in a message


def _notices(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(Notification.id)).all())


@pytest.mark.parametrize("state", ["pending", "failed", "dead", "sent", "leased"])
def test_each_member_reads_the_new_date(engine: sa.Engine, state: str) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    keys = idempotency_keys(ROUND, NotificationKind.assignment.value)
    _set_state(engine, keys(lead, code), state)
    before = _row(engine, keys(lead, code))
    assert "2026-12-31" in before.body
    move_due_date(engine, ROUND, code, due_on=NEW_DATE, reason=REASON, recorded_by="李协调")
    after = _row(engine, keys(lead, code))
    told = _messages(engine, lead, NotificationKind.due_changed)
    assert after.id == before.id and after.status == before.status
    if state in ("sent", "leased"):  # gone, or maybe going now: as it was, and told
        assert (after.subject, after.body, after.payload) == (
            before.subject, before.body, before.payload)  # fmt: skip
        (notice,) = told
        assert "【检查期限变更通知】" in notice.subject
        assert "- 原完成期限：2026-12-31" in notice.body
        assert f"- 新的完成期限：{NEW_DATE.isoformat()}（全组相同" in notice.body
        assert REASON not in notice.body and REASON not in str(notice.payload)
        assert notice.payload["due_on"] == NEW_DATE.isoformat()
    else:  # not reached them: written again with the new date, the same link, nothing more
        assert f"- 完成期限：{NEW_DATE.isoformat()}（自 " in after.body
        assert after.payload["due_on"] == NEW_DATE.isoformat()
        assert after.payload["link"] == before.payload["link"]
        assert told == []
    # the member whose notice was left waiting is not told twice
    (stays,) = [n for n in _messages(engine, second, NotificationKind.assignment) if code in n.body]
    assert f"- 完成期限：{NEW_DATE.isoformat()}（自 " in stays.body
    assert _messages(engine, second, NotificationKind.due_changed) == []
    assert REASON not in stays.body


def test_a_second_new_date_is_told_again_and_a_repeat_of_the_hook_queues_nothing(
    engine: sa.Engine,
) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, _ = drawn[code]
    _set_state(engine, idempotency_keys(ROUND, NotificationKind.assignment.value)(lead, code),
               "sent")  # fmt: skip
    move_due_date(engine, ROUND, code, due_on=NEW_DATE, reason=REASON, recorded_by="李")
    done = move_due_date(engine, ROUND, code, due_on=date(2027, 2, 26), reason=REASON,
                         recorded_by="李")  # fmt: skip
    sent = _messages(engine, lead, NotificationKind.due_changed)
    told = sorted(m.payload["due_on"] for m in sent)
    assert told == [NEW_DATE.isoformat(), "2027-02-26"]
    count = _notices(engine)
    with Session(engine) as s:
        hooks.after_redate(s, ROUND, done)
        s.commit()
    assert _notices(engine) == count
