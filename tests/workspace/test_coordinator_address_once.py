"""The coordinator's pages as an edited or pasted address reaches them: a parameter given twice
(``?period=2026-11&period=2026-12``) showed the month of the last one, silently, and a month no
round can be in (``period=0000-01``, ``9999-12``) was a 200 of an empty month. Now a parameter
given twice is refused on every coordinator page (400, naming it: which one counts is not the
server's to guess, as a form's field sent twice is refused), and a month outside 2000-2099 is
refused naming 月份（period） and the years it may be, unless a plan or round is in it. Read in
Chromium at 390 px, JavaScript on and off; on SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import sqlalchemy as sa

from rounds import service
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.rounds.factories import plan_yaml
from tests.workspace.helpers import sign_in_page

LATER = "2150-01"  # a month past 2099 that a committed round is in: shown
NONE = "也没有这个月的抽查计划或轮次。"
TWICE = "链接地址中的参数 {name} 出现了 2 次，无法确定以哪一个为准，本次未予处理。请只保留一个。"


@pytest.mark.parametrize("javascript", [False, True])
def test_an_address_given_twice_or_outside_the_years_is_refused_by_name(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, javascript: bool
) -> None:
    base, teams, ssc = coordinator_live
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=f"ccc-{LATER}", period=LATER))
    code = sorted(teams)[0]
    round_page = f"/w/c/rounds/{ROUND}"
    enterprise = f"{round_page}/e/{quote(code, safe='')}"
    twice = [
        ("/w/c/?period=2026-11&period=2026-12", "period"),
        ("/w/c/?period=2026-12&period=2026-12", "period"),  # the same value twice, too
        (f"{round_page}?show=todo&show=late", "show"),
        (f"{round_page}?page=1&q=a&page=2", "page"),
        (f"{enterprise}?replaced=1&replaced=2", "replaced"),
        ("/w/c/?st%61rted=x&started=y", "started"),  # its name however encoded
        ("/w/c/?%3Cb%3E=1&%3Cb%3E=2", "'<b>'"),  # a name that is markup: said as text
    ]
    with headless() as browser:
        page = phone(browser, javascript=javascript).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        for path, name in twice:
            answer = page.goto(base + path)
            assert answer is not None and answer.status == 400, (path, answer and answer.status)
            said = page.locator("[role=alert]").inner_text()
            assert TWICE.format(name=name) in said, (path, said)
            assert page.locator("main b").count() == 0
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        for typed in ("0000-01", "1999-12", "2100-01", "9999-12"):
            answer = page.goto(f"{base}/w/c/?period={typed}")
            assert answer is not None and answer.status == 400, typed
            said = page.locator("[role=alert]").inner_text()
            expected = f"月份（period）：{typed} 不在 2000 年至 2099 年之间，{NONE}"
            assert expected in said, said
        for month in ("2000-01", "2099-12", "2026-12", LATER):  # LATER: it has a round
            answer = page.goto(f"{base}/w/c/?period={month}")
            assert answer is not None and answer.status == 200, month
            assert page.locator("h1").inner_text() == f"{month} 本月抽查"
        for path in (f"{round_page}?show=todo&page=1&q=a", f"{enterprise}?replaced=1"):
            answer = page.goto(base + path)  # each once: the page as before
            assert answer is not None and answer.status == 200, path
