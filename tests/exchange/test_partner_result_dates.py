"""A partner's signed result dated after the day it was logged: an inspection that has not
happened. Mutual recognition counted it in our draws' exclusion window (a result counts when
inspected on or after the window's start, and nothing bounded it from above): one entry of
`inspected_on` 2099-12-31 kept an enterprise of ours out of every random draw of that check
item until 2099, cited as 已于 2099-12-31 检查. Now a result dated after the day of its logging
(its `at`, in China's time, and never after our own clock) is kept whole but counts for no
draw, and the sync says which entry. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from exchange.directory import load_directory
from exchange.models import PartnerEntry
from exchange.recognition import partner_inspections
from exchange.sync import sync_partner
from rounds.frames import recent_inspections
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


def test_a_stored_row_dated_after_its_logging_keeps_no_enterprise_out_of_a_draw(
    engine: sa.Engine, pair: Any
) -> None:
    """Rows stored before the rule (or by a path that does not apply it) hold the inspected_on
    as their event_date: the draw's reading of partners' results leaves them out all the same."""
    sh, transport = pair
    now = dt.datetime.now(dt.UTC)
    today = local_time(now).date()
    back = (now - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = {  # credit code -> (inspected_on, the at the row holds, or None: as logged)
        "91350100MA0000001X": (today - dt.timedelta(days=30), None),  # done: counts
        "91350100MA0000002X": (today, None),  # done today: counts
        "91350100MA0000003X": (dt.date(today.year + 73, 12, 31), None),
        "91350100MA0000004X": (today - dt.timedelta(days=5), back),  # logged 10 days ago
        "91350100MA0000005X": (today + dt.timedelta(days=3), "2099-01-01T00:00:00Z"),  # at ahead
        "91350100MA0000006X": (today - dt.timedelta(days=12), back),  # done before its logging
    }
    for n, (code, (day, _)) in enumerate(rows.items()):
        body = RESULT | {"credit_code": code, "inspected_on": day.isoformat()}
        _append(sh, f"result/r-1/{code}/{n}", "result", body)
    out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("ok", len(rows)), out
    with engine.begin() as conn:  # as an older shuangsui stored them: event_date = inspected_on
        for code, (day, at) in rows.items():
            (text,) = conn.execute(sa.select(PartnerEntry.body).where(  # type: ignore[call-overload]
                col(PartnerEntry.credit_code) == code)).one()  # fmt: skip
            doc = json.loads(text) | ({"at": at} if at else {})
            conn.execute(sa.update(PartnerEntry).where(col(PartnerEntry.credit_code) == code)
                         .values(event_date=day, body=json.dumps(doc)))  # fmt: skip
    since = today - dt.timedelta(days=180)
    with engine.connect() as conn:
        cited = partner_inspections(conn, check_item="CCC-01", since=since)
        excluded = recent_inspections(conn, check_item="CCC-01", window_start=today, months=12)
    counted = ["91350100MA0000001X", "91350100MA0000002X", "91350100MA0000006X"]
    assert sorted(cited) == counted, cited
    assert sorted(excluded) == counted, excluded
    assert f"已于 {rows[counted[2]][0].isoformat()} 检查" in excluded[counted[2]]
