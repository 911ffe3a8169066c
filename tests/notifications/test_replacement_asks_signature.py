"""A member replaced on a team whose finding has a version waiting for signatures
(docs/draw-algorithm.md §14): the replacement must sign it before it can be final, and is asked
to as a member is when a version is added (待您签字确认, with their own link). Before, they got
their 检查任务通知 only, and the first word of a version to sign was the reminder three working
days before the deadline."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service as findings
from notifications import hooks
from notifications.links import idempotency_keys
from notifications.models import Notification, NotificationKind
from rounds.replacements import replace_member
from tests.findings.factories import ROUND, drawn_round, finding


def _requests(engine: sa.Engine, who: str) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(Notification.idempotency_key).where(
                Notification.recipient == who,
                Notification.kind == NotificationKind.signoff_request,
            )
        ).all()
    return list(rows)


def test_the_replacement_is_asked_to_sign_the_version_waiting(engine: sa.Engine) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code, other = sorted(drawn)[:2]
    lead, second = drawn[code]
    findings.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                    submitted_by=f"inspector:{lead}", signers=[lead])  # fmt: skip
    done = replace_member(engine, ROUND, code, second, cause="unavailable", note="住院治疗",
                          recorded_by="李协调")  # fmt: skip
    new = done.replacement.replacement
    key = idempotency_keys(ROUND, NotificationKind.signoff_request.value)(new, f"{code}|v1")
    assert _requests(engine, new) == [key]
    assert _requests(engine, second) == []  # withdrawn: their request went with them
    # a team with no version yet: the 检查任务通知 alone
    done = replace_member(engine, ROUND, other, drawn[other][0], cause="conflict", note="回避",
                          recorded_by="李协调")  # fmt: skip
    newcomer = done.replacement.replacement
    keys = idempotency_keys(ROUND, NotificationKind.signoff_request.value)
    assert keys(newcomer, f"{other}|v1") not in _requests(engine, newcomer)
