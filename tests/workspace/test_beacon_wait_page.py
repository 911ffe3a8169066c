"""A round waiting for its beacon round, as its coordinator sees it.

The round's page said 已提交 and 摇号时间 — and nothing else while the round waited for the
beacon round named a lead after its commitment: whether something was to be done, and when
the draw would come, was in the flow's artifact alone. The page now says which beacon round
it waits for and when it is due (nothing to do); past that time and still not drawn, that the
beacon server is to be checked and the flow run again; once drawn, nothing."""

from __future__ import annotations

import datetime as dt

import httpx
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from rounds import service
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.beacon_clock import Drand, drand  # noqa: F401  (a fixture)
from tests.rounds.factories import plan_yaml, seed_registry
from tests.workspace.helpers import sign_in

ROUND = "ccc-2026-12"


def _said(page: httpx.Response) -> str:
    assert page.status_code == 200
    if 'id="beacon"' not in page.text:
        return ""
    return page.text.split('id="beacon">', 1)[1].split("</dd>", 1)[0]


def test_the_round_page_says_which_beacon_round_it_waits_for_and_when(
    engine: sa.Engine,
    drand: Drand,  # noqa: F811
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    (spec,) = rnd.entropy_plan["sources"]
    due = dt.datetime.fromisoformat(spec["expected_at"])
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        waiting = _said(http.get(f"/w/c/rounds/{ROUND}"))
        drand.clock = due + dt.timedelta(minutes=5)  # due, and the round not drawn
        late = _said(http.get(f"/w/c/rounds/{ROUND}"))
        service.draw_round(engine=engine, round_key=ROUND)
        drawn = _said(http.get(f"/w/c/rounds/{ROUND}"))
    beijing = (due + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert f"等待 drand 公共随机信标第 {spec['round']} 轮，预计 {beijing} 北京时间 产生" in waiting
    assert "自动摇号，无需操作" in waiting
    assert f"第 {spec['round']} 轮应已于 {beijing} 北京时间 产生，本轮尚未摇号" in late
    assert "请确认信标服务可以访问" in late
    assert drawn == ""
