"""The check date of a finding: never after today (in the bureau's zone), and inside the
round's window unless the version says why (its ``reason``: 原因). A check whose date a
coordinator moved past the window's end (a 延期, or a replacement's new date: both recorded with
their reason in the audit log) may take place until that date without another reason."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from findings.schemas import FindingIn
from rounds.models import Assignment, Round
from shuangsui.clock import local_time
from shuangsui.config import get_settings


def today(now: datetime | None = None) -> date:
    """Today in the bureau's zone (Asia/Shanghai by default)."""
    zone = get_settings().timezone
    return local_time(now or datetime.now(UTC), zone).date()


def date_problems(
    session: Session, round_key: str, credit_code: str, data: FindingIn, *,
    on: date | None = None,
) -> list[str]:  # fmt: skip
    """``check_date: ...`` problems of a version of ``credit_code``'s check, ``on`` being today
    (default: the real one)."""
    return check_date_problems(session, round_key, credit_code, data.check_date, data.reason, on=on)


def check_date_problems(
    session: Session, round_key: str, credit_code: str, check_date: date, reason: str, *,
    on: date | None = None,
) -> list[str]:  # fmt: skip
    """:func:`date_problems` of a check date and a reason alone: a form whose other fields
    are wrong is told of its date at the same time."""
    day = on or today()
    if check_date > day:
        return [
            f"check_date: {check_date} is in the future (today is {day}, "
            f"{get_settings().timezone}); enter the day the check took place"
        ]
    rnd = session.get(Round, round_key)
    if rnd is None or rnd.window_start <= check_date <= rnd.window_end:
        return []
    if reason.strip():
        return []
    due = _due_on(session, round_key, credit_code) if check_date > rnd.window_end else None
    if due is not None and check_date <= due:  # a date moved past the window's end
        return []
    start, end = rnd.window_start, rnd.window_end
    if due is not None and due > end:
        return [
            f"check_date: {check_date} is outside the round's window ({start} to {end}) "
            f"and after this check's due date {due}; correct it, or give the reason (reason, "
            "原因) why the check took place on that day"
        ]
    return [
        f"check_date: {check_date} is outside the round's window ({start} to {end}); "
        "correct it, or give the reason (reason, 原因) why the check took place on that day"
    ]


def _due_on(session: Session, round_key: str, credit_code: str) -> date | None:
    """The latest date the team of ``credit_code`` was given (``assignment.due_on``)."""
    return session.execute(
        sa.select(sa.func.max(col(Assignment.due_on))).where(
            col(Assignment.round_key) == round_key, col(Assignment.credit_code) == credit_code
        )
    ).scalar()
