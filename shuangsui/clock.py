"""Times shown to people: the bureau's zone (Asia/Shanghai by default), always labelled.

Times are stored in UTC; a person reading "02:10" must not have to guess whether it is UTC or
Beijing time, so every time put in front of people goes through :func:`local_label`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

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
