"""Times on the public site are Beijing time and say so: a draw at 18:10 UTC is shown as
02:10 北京时间 the next day."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from rounds.models import Round
from shuangsui.clock import local_label
from tests.findings.factories import ROUND, drawn_round
from website.render import beijing
from website.site import publish


def test_the_filter_labels_stored_utc_times() -> None:
    assert beijing("2026-11-30 18:10:00") == "2026-12-01 02:10 北京时间"
    assert beijing(dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)) == "2026-12-01 02:10 北京时间"
    assert beijing("") == "" and beijing(None) == ""


def test_round_page_shows_the_draw_time_in_beijing(engine: sa.Engine, tmp_path: Path) -> None:
    drawn_round(engine)
    with Session(engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None and rnd.drawn_at is not None
        drawn_at = rnd.drawn_at
    publish(engine, tmp_path / "site")
    page = (tmp_path / "site" / "rounds" / ROUND / "index.html").read_text("utf-8")
    shown = re.search(r"<dt>抽取时间</dt><dd>([^<]*)</dd>", page)
    assert shown is not None, page
    assert shown.group(1) == local_label(drawn_at)
