"""A round_held message says when the round is tried again, and is not sent again for the next
hour's retry: the coordinator is told once per round, reasons and what follows (``next_try``,
never its hour); the month's end, which ends the retries, is told once more."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.models import Notification, NotificationKind
from notifications.outbox import enqueue_round_held

STALE = ["the registry was last imported on 2026-10-28, more than 35 days ago"]


def _held(session: Session, next_try: str, next_at: str = "") -> int:
    return enqueue_round_held(session=session, round_key="ccc-2026-12", plan_id="ccc.yaml",
                              reasons=STALE, preview=[], next_try=next_try, next_at=next_at,
                              period="2026-12")  # fmt: skip


def test_each_hours_retry_is_told_once_and_the_months_end_once_more(engine: sa.Engine) -> None:
    with Session(engine) as s:
        assert _held(s, "retry", "2026-12-01 03:00 北京时间") == 1
        assert _held(s, "retry", "2026-12-01 04:00 北京时间") == 0
        assert _held(s, "month_end") == 1
        assert _held(s, "month_end") == 0
        s.commit()
        kind = NotificationKind.round_held
        first, ended = s.exec(
            select(Notification.body).where(Notification.kind == kind).order_by(Notification.id)
        ).all()
    assert "系统已安排在 2026-12-01 03:00 北京时间 再次运行" in first
    assert "04:00" not in first
    assert "本月（2026-12）在下一次整点运行之前结束" in ended
    for body in (first, ended):  # the by-hand ways stay
        assert "shuangsui round commit" in body and "--accept" in body
        assert "再次运行 monthly-round 并指定月份 2026-12" in body


def test_an_unknown_next_try_is_refused_naming_it(engine: sa.Engine) -> None:
    with Session(engine) as s, pytest.raises(ValueError, match="next_try: 'soon'"):
        _held(s, "soon")
