"""The check date of a finding: never after today (in the bureau's zone), and inside the
round's window unless the version says why (its ``reason``: 原因)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from findings.schemas import FindingIn
from rounds.models import Round
from shuangsui.clock import local_time
from shuangsui.config import get_settings


def today(now: datetime | None = None) -> date:
    """Today in the bureau's zone (Asia/Shanghai by default)."""
    zone = get_settings().timezone
    return local_time(now or datetime.now(UTC), zone).date()


def date_problems(
    session: Session, round_key: str, data: FindingIn, *, on: date | None = None
) -> list[str]:
    """``check_date: ...`` problems of a version, ``on`` being today (default: the real one)."""
    day = on or today()
    if data.check_date > day:
        return [
            f"check_date: {data.check_date} is in the future (today is {day}, "
            f"{get_settings().timezone}); enter the day the check took place"
        ]
    rnd = session.get(Round, round_key)
    if rnd is None or rnd.window_start <= data.check_date <= rnd.window_end:
        return []
    if data.reason.strip():
        return []
    return [
        f"check_date: {data.check_date} is outside the round's window "
        f"({rnd.window_start} to {rnd.window_end}); correct it, or give the reason "
        "(reason, 原因) why the check took place on that day"
    ]
