"""The search page's list of every round (全部轮次), which a reader without JavaScript goes
by, said a committed round not yet drawn had drawn ``0 户``, and gave a drawn round whose list
is not public until its check window closes the count of enterprises its files list (those
with a result already published): a citizen read that nothing, or few, had been drawn. It now
says what the index's 抽取 column says (one macro, ``drawn.j2``): 已承诺，待抽取; 已抽取，名单于
2027-01-01 公布; then the number drawn. The index's bytes are as before."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import disclosure, service
from tests.findings.factories import ROUND, draw, final_finding
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

BEIJING = dt.timezone(dt.timedelta(hours=8))
COMMITTED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING)
DRAWN = dt.datetime(2026, 12, 2, 10, 0, tzinfo=BEIJING)
DURING = dt.datetime(2026, 12, 20, 9, 0, tzinfo=BEIJING)  # the window runs to 12-31
CLOSED = dt.datetime(2027, 1, 1, 0, 0, tzinfo=BEIJING)


def _listed(out: Path) -> str:
    """What the search page's 全部轮次 says of the round, after its link."""
    page = (out / "search.html").read_text("utf-8")
    found = re.search(rf'<li><a href="rounds/{ROUND}/index.html">[^<]*</a>（([^）]*)）</li>', page)
    assert found, page
    return found[1]


def _drawn_cell(out: Path) -> str:
    page = (out / "index.html").read_text("utf-8")
    found = re.search(r'<td data-label="抽取">(.*?)</td>', page)
    assert found
    return re.sub(r"<[^>]+>", "", found[1])


def test_the_list_of_rounds_says_drawn_or_not_as_the_index_does(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())  # its list public after 12-31
    out = tmp_path / "site"
    publish(engine, out, now=COMMITTED)
    assert _listed(out) == "已承诺，待抽取" == _drawn_cell(out)

    monkeypatch.setattr(disclosure, "now", lambda: DRAWN.astimezone(dt.UTC))
    drawn = draw(engine)
    first = sorted(drawn)[0]
    final_finding(engine, first, drawn[first], result="no_problem")  # published on its own
    publish(engine, out, now=DURING)
    assert _listed(out) == "已抽取，名单于 2027-01-01 公布" == _drawn_cell(out)

    publish(engine, out, now=CLOSED)
    assert _listed(out) == f"{len(drawn)} 户" == _drawn_cell(out)
