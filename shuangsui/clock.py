"""Times shown to people: the bureau's zone (Asia/Shanghai by default), always labelled.

Times are stored in UTC; a person reading "02:10" must not have to guess whether it is UTC or
Beijing time, so every time put in front of people goes through :func:`local_label`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, WithJsonSchema

from shuangsui.errors import UserError

ZONE_LABELS = {"Asia/Shanghai": "北京时间"}


def local_time(moment: dt.datetime, zone: str = "Asia/Shanghai") -> dt.datetime:
    """``moment`` in ``zone``; a naive moment is taken as UTC (as the databases store it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(zone))


def local_label(moment: dt.datetime, zone: str = "Asia/Shanghai") -> str:
    """'2026-12-01 02:10 北京时间' for 2026-11-30 18:10 UTC."""
    local = local_time(moment, zone)
    return f"{local:%Y-%m-%d %H:%M} {ZONE_LABELS.get(zone, zone)}"


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # used with fullmatch
DAY_WANTED = "a day written YYYY-MM-DD (no time, no zone), e.g. 2027-01-15"


def typed_day(option: str, text: str) -> dt.date:
    """A day typed on the command line for ``option``: ``YYYY-MM-DD`` only (not ``20261201``
    nor ``2026-W49-1``, which ``date.fromisoformat`` also reads), or a ``UserError`` naming the
    option (it was a ``ValueError`` traceback)."""
    try:
        if ISO_DAY.fullmatch(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise UserError(f"{option}: {text!r} is not a day written YYYY-MM-DD")


def day_as_written(value: object) -> object:
    """A date as the body wrote it: a string ``YYYY-MM-DD`` only (a date object, from Python,
    as it is)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
        raise ValueError(DAY_WANTED)
    return value  # pydantic reads it, and says so of a day that does not exist (02-30)


# A day as a person or a client writes it, ``YYYY-MM-DD``: pydantic alone also reads a number of
# seconds since 1970 and a time at midnight, with or without a zone, as a day (``1799020800``,
# ``"2027-01-05T00:00:00Z"``, the 5th at 08:00 in the bureau, and a form's ``20270105``, read
# as seconds: 1970-08-23). Refused, naming the field.
Day = Annotated[
    dt.date,
    BeforeValidator(day_as_written),
    WithJsonSchema({"type": "string", "format": "date"}),
]
