"""Publication deadlines in working days on China's official calendar.

Known years come from ``notifications.workdays`` (the chinesecalendar data). For a year that
data does not cover yet, the bureau may configure its holidays and adjusted workdays
(``SHUANGSUI_EXTRA_HOLIDAYS`` / ``SHUANGSUI_EXTRA_WORKDAYS``); a deadline counted through an
unknown year carries a warning instead of pretending to be exact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, lru_cache

import chinese_calendar

from notifications import workdays

logger = logging.getLogger(__name__)


def parse_days(text: str) -> frozenset[date]:
    """``2027-01-01,2027-02-10..2027-02-16`` -> the set of those days; ValueError naming the
    part that is no day, or a span that ends before it begins."""
    days: set[date] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        start, sep, end = part.partition("..")
        try:
            first = date.fromisoformat(start.strip())
            last = date.fromisoformat(end.strip()) if sep else first
        except ValueError:
            raise ValueError(f"{part[:40]!r} is not a day (YYYY-MM-DD) or a span of days") from None
        if last < first:
            raise ValueError(f"{part!r} ends before it begins")
        while first <= last:
            days.add(first)
            first += timedelta(days=1)
    return frozenset(days)


@cache
def official_year(year: int) -> bool:
    """Whether the official calendar data knows ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, holidays: str = "", adjusted_workdays: str = "") -> Calendar:
        return cls(parse_days(holidays), parse_days(adjusted_workdays))

    def configured(self, year: int) -> bool:
        return any(d.year == year for d in self.holidays | self.workdays)

    def is_workday(self, day: date) -> bool:
        if official_year(day.year):
            return workdays.is_workday(day)
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


@dataclass(frozen=True)
class Deadline:
    day: date
    warnings: tuple[str, ...] = field(default=())


def add_working_days(start: date, days: int, calendar: Calendar | None = None) -> Deadline:
    """The day ``days`` working days after ``start``, with a warning for each year counted
    through that neither the official data nor the configured list covers."""
    cal = calendar or Calendar()
    day = start
    remaining = days
    years: set[int] = set()
    while remaining > 0:
        day += timedelta(days=1)
        years.add(day.year)
        remaining -= cal.is_workday(day)
    warnings = []
    for year in sorted(years):
        if official_year(year):
            continue
        if cal.configured(year):
            warnings.append(
                f"{year}: the official calendar is not published in the data yet; counted with "
                "the configured holidays (SHUANGSUI_EXTRA_HOLIDAYS)"
            )
        else:
            warnings.append(
                f"{year}: no official holiday data and no configured holidays; weekends only "
                "were skipped, so this date may be too early. Set SHUANGSUI_EXTRA_HOLIDAYS"
            )
    for w in warnings:
        logger.warning("deadline from %s + %d working days: %s", start, days, w)
    return Deadline(day, tuple(warnings))


@lru_cache(maxsize=4096)  # a round's checks share a few due dates: each is counted once
def working_days_left(today: date, due: date, calendar: Calendar | None = None) -> int:
    """Working days in (today, due]; negative (calendar days late) when ``due`` has passed."""
    cal = calendar or Calendar()
    if due < today:
        return -(today - due).days
    n = 0
    day = today
    while day < due:
        day += timedelta(days=1)
        n += cal.is_workday(day)
    return n
