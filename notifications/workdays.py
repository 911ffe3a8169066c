"""Working days on China's official calendar (holidays and 调休), weekends-only where unknown."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

logger = logging.getLogger(__name__)

_warned: set[int] = set()


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            logger.warning(
                "chinese_calendar has no holiday data for %d: counting weekends only", day.year
            )
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def working_days_between(start: date, end: date) -> int:
    """Working days in (start, end]: 0 when ``end`` is not after ``start``."""
    n = 0
    day = start + timedelta(days=1)
    while day <= end:
        n += is_workday(day)
        day += timedelta(days=1)
    return n


def add_working_days(start: date, days: int) -> date:
    day = start
    while days > 0:
        day += timedelta(days=1)
        days -= is_workday(day)
    return day
