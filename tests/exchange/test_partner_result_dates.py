"""A partner's signed result dated after the day it was logged: an inspection that has not
happened. Mutual recognition counted it in our draws' exclusion window (a result counts when
inspected on or after the window's start, and nothing bounded it from above): one entry of
`inspected_on` 2099-12-31 kept an enterprise of ours out of every random draw of that check
item until 2099, cited as 已于 2099-12-31 检查. Now a result dated after the day of its logging
(its `at`, in China's time, and never after our own clock) is kept whole but counts for no
draw, and the sync says which entry. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from exchange.directory import load_directory
from exchange.models import PartnerEntry
from exchange.recognition import partner_inspections
from exchange.sync import sync_partner
from shuangsui.clock import local_time
from tests.exchange import test_sync
from tests.exchange.test_partner_bodies import RESULT, _append

pair = test_sync.pair  # Fujian here, Shanghai in process (the fixture)


def test_a_result_dated_after_its_logging_counts_for_no_draw(
    engine: sa.Engine, pair: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sh, transport = pair
    today = local_time(dt.datetime.now(dt.UTC)).date()
    dates = {
        "91350100MA0000001X": today - dt.timedelta(days=30),  # an inspection done: counts
        "91350100MA0000002X": today,  # done today, published today: counts
        "91350100MA0000003X": today + dt.timedelta(days=2),  # not yet: counts for nothing
        "91350100MA0000004X": dt.date(today.year + 73, 12, 31),
    }
    for n, (code, day) in enumerate(dates.items()):
        body = RESULT | {"credit_code": code, "inspected_on": day.isoformat()}
        _append(sh, f"result/r-1/{code}/{n}", "result", body)
    with caplog.at_level(logging.WARNING, logger="exchange.apply"):
        out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("ok", 4), out
    since = today - dt.timedelta(days=180)
    with engine.connect() as conn:
        cited = partner_inspections(conn, check_item="CCC-01", since=since)
    assert sorted(cited) == ["91350100MA0000001X", "91350100MA0000002X"], cited
    with Session(engine) as s:  # every entry kept whole
        rows = s.exec(select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()
    assert [r.credit_code for r in rows] == list(dates)
    days = [f'"inspected_on":"{d.isoformat()}"' for d in dates.values()]
    assert [day in r.body for r, day in zip(rows, days, strict=True)] == [True] * 4
    for seq in (2, 3):
        day = list(dates.values())[seq].isoformat()
        assert (f"result of entry {seq} from 310000 counts for no draw: inspected_on {day} is "
                f"after the day it was logged") in caplog.text, caplog.text  # fmt: skip
