"""A 待您签字确认 (sign-off request) states the check's due date. When the team's date moves
(a new date on its own, rounds/redates.py, or a replacement's ``due_on``), a request that has
not reached its member is written again with the new date (the same key and link), as the
检查任务通知 is; one sent, or in a dispatcher's hands, stays as it was: the member is told the
new date by a 检查期限变更通知 (or a 检查组变更通知). Before, every request kept the old date."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from findings import service as findings
from notifications import hooks
from notifications.links import idempotency_keys
from notifications.models import NotificationKind
from rounds.redates import move_due_date
from rounds.replacements import replace_member
from tests.findings.factories import ROUND, drawn_round, finding
from tests.notifications.test_replacement_messages import _messages, _row, _set_state

NEW_DATE = date(2027, 1, 29)
OLD = "完成期限：2026-12-31（自 "
NEW = f"完成期限：{NEW_DATE.isoformat()}（自 "


def _asked(engine: sa.Engine) -> tuple[str, str, str]:
    """A team whose lead submitted and signed version 1: the enterprise, the lead, and the
    key of the request waiting for the second member's signature."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    findings.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                    submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    key = idempotency_keys(ROUND, NotificationKind.signoff_request.value)(second, f"{code}|v1")
    return code, lead, key


@pytest.mark.parametrize("state", ["pending", "failed", "dead", "sent", "leased"])
def test_a_request_not_yet_sent_says_the_new_date(engine: sa.Engine, state: str) -> None:
    hooks.install()
    code, _, key = _asked(engine)
    _set_state(engine, key, state)
    before = _row(engine, key)
    assert OLD in before.body and before.payload["due_on"] == "2026-12-31"
    move_due_date(engine, ROUND, code, due_on=NEW_DATE, reason="等待检测结果",
                  recorded_by="李协调")  # fmt: skip
    after = _row(engine, key)
    assert (after.id, after.status, after.recipient) == (before.id, before.status,
                                                         before.recipient)  # fmt: skip
    if state in ("sent", "leased"):  # gone, or maybe going now: as it was
        assert (after.subject, after.body, after.payload) == (
            before.subject, before.body, before.payload)  # fmt: skip
    else:  # not reached its member: the new date, the same link, nothing else moved
        assert NEW in after.body and OLD not in after.body
        assert after.payload["due_on"] == NEW_DATE.isoformat()
        assert after.payload["link"] == before.payload["link"]
        assert after.payload["version"] == 1 and after.subject == before.subject
    assert _messages(engine, before.recipient, NotificationKind.signoff_request) == [after]


def test_a_replacement_giving_a_date_rewrites_the_requests_of_those_who_stay(
    engine: sa.Engine,
) -> None:
    """The lead (who signed) withdrawn with a new date for the check: the second member's
    request still waiting says the new date, as does the one the replacement is sent."""
    hooks.install()
    code, lead, key = _asked(engine)
    done = replace_member(engine, ROUND, code, lead, cause="left", note="调离",
                          recorded_by="李协调", due_on=NEW_DATE)  # fmt: skip
    stays = _row(engine, key)
    assert NEW in stays.body and stays.payload["due_on"] == NEW_DATE.isoformat()
    (asked,) = _messages(engine, done.replacement.replacement, NotificationKind.signoff_request)
    assert NEW in asked.body
