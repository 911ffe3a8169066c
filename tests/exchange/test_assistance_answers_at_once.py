"""A partner's assistance request answered by two of our coordinators at once: one accepts
(its team drawn), the other declines. Both saw the case pending; the log took the first answer
appended (its entry id is the request's) and the second append returned it, but the second
answer was then written into our case as if it had been shared: our case said "accepted" with
a team while the log every partner reads said "declined". Now the case follows the log, the
second coordinator is told which answer stands, and the audit chain records only the answer
shared, with who gave it. The order is forced (the accept held before its append while the
decline is made), on SQLite and PostgreSQL, with Shanghai a real server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from exchange import assistance
from exchange.models import AssistanceCase, ExchangeEntry
from notifications.models import Notification, NotificationKind
from rounds.models import AuditEvent
from tests.exchange.bureaus import asked_by_shanghai
from tests.races import held_while
from tests.rounds.factories import seed_registry

CODE = "91350100MA2AYW9G3E"
REQUEST = "310000-0123456789"


@pytest.fixture
def asked(engine: sa.Engine, tmp_path: Path) -> Iterator[str]:
    """Shanghai asks Fujian (``engine``, with inspectors): an incoming case, pending."""
    seed_registry(engine)
    request = {"request_id": REQUEST, "credit_code": CODE, "division": "350100",
               "check_item": "CCC-01", "cert_kinds": ["ccc"], "reason": "请协查",
               "window": {"start": "2026-12-10", "end": "2026-12-31"}}  # fmt: skip
    with asked_by_shanghai(engine, tmp_path, request):
        yield REQUEST


def test_two_answers_at_once_leave_the_case_as_the_log_says(
    engine: sa.Engine, asked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def accept() -> AssistanceCase:
        return assistance.decide(engine, requester="310000", request_id=asked, accept=True,
                                 by="协调员甲")  # fmt: skip

    def decline() -> AssistanceCase:
        return assistance.decide(engine, requester="310000", request_id=asked, accept=False,
                                 reason="企业不在本局辖区", by="协调员乙")  # fmt: skip

    late = held_while(monkeypatch, (assistance, "append"), accept, meanwhile=decline)
    assert (late.status, late.answer["reason"]) == ("declined", "企业不在本局辖区")  # type: ignore[index]
    with Session(engine) as s:
        case = s.get(AssistanceCase, ("310000", asked))
        assert case is not None and case.status == "declined" and "team" not in case.answer  # type: ignore[operator]
        shared = s.exec(select(ExchangeEntry.body).where(
            col(ExchangeEntry.entry_id) == f"assistance-answer/310000/{asked}")).all()  # fmt: skip
        assert [json.loads(b)["body"]["decision"] for b in shared] == ["declined"]
        answered = [json.loads(e.payload) for e in s.exec(select(AuditEvent)).all()
                    if e.event == "AssistanceAnswered"]  # fmt: skip
        assert [(a["decision"], a["by"]) for a in answered] == [("declined", "协调员乙")]
        assert _told(s) == []  # the team the accept drew was never shared: nobody is told


def test_one_answer_draws_the_team_and_is_audited(engine: sa.Engine, asked: str) -> None:
    case = assistance.decide(engine, requester="310000", request_id=asked, accept=True,
                             by="协调员甲")  # fmt: skip
    assert case.status == "accepted" and len(case.answer["team"]) == 2  # type: ignore[index]
    again = assistance.decide(engine, requester="310000", request_id=asked, accept=False,
                              reason="重复", by="协调员乙")  # fmt: skip
    assert again.status == "accepted" and again.answer == case.answer
    with Session(engine) as s:
        answered = [json.loads(e.payload) for e in s.exec(select(AuditEvent)).all()
                    if e.event == "AssistanceAnswered"]  # fmt: skip
    assert answered == [{"requester": "310000", "request_id": asked, "credit_code": CODE,
                         "decision": "accepted", "team": case.answer["team"],  # type: ignore[index]
                         "by": "协调员甲"}]  # fmt: skip
    with Session(engine) as s:  # each member told of the task, once, the answer not repeated
        told = _told(s)
    assert sorted(n.recipient for n in told) == sorted(case.answer["team"])  # type: ignore[index]
    for n in told:
        # the enterprise is not in this registry: named by its credit code
        assert n.subject == f"【协查任务通知】局310000（310000）请求协查：{CODE}"
        assert f"请求编号：{asked}" in n.body and "检查期限：2026-12-10 至 2026-12-31" in n.body
        assert "请求机关说明：请协查" in n.body and "强制性产品认证" in n.body
        assert n.round_key == f"assistance:310000/{asked}"


def _told(s: Session) -> list[Notification]:
    return list(s.exec(select(Notification).where(
        col(Notification.kind) == NotificationKind.assistance_assigned)).all())  # fmt: skip
