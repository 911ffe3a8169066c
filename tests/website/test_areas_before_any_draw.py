"""A new bureau's site, before any round is drawn: the search page's 地区 choice and its 按地区
查看 list every district of the bureau's area, each said to have no result yet (they listed
none, as if the bureau had no districts, until a round was drawn), as of the last change the
division table records, and the note says so. A bureau whose code the table does not know is
told why no district is listed, and an index with no round says so. In headless Chromium at
390 px, the site served over HTTP; screenshots under the test's ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import expect

from rounds import service as rounds
from shuangsui.config import get_settings
from tests.browser import headless, phone
from tests.rounds.factories import plan_yaml, seed_registry
from tests.website.test_phone import _measure
from tests.website.test_search import served
from website.areas import by_prefecture
from website.site import publish


def test_the_area_is_listed_before_any_draw() -> None:
    """Before a draw the area is the table's as it stands (三明市三元区 since 2021, not 梅列区)."""
    found = {d.code: d for p in by_prefecture([("r", "", {})], bureau_code="350000")
             for d in p.districts}  # fmt: skip
    assert {"350102", "350105", "350203", "350404"} <= set(found)
    assert "350402" not in found and found["350404"].name == "三元区"
    assert all(not d.rounds for d in found.values())
    assert by_prefecture([], bureau_code="350200")[0].code == "350200"  # no round at all


def test_a_new_bureaus_site_lists_its_districts(engine: sa.Engine, tmp_path: Path) -> None:
    seed_registry(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())  # committed, not drawn
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    with served(out) as url, headless() as browser:
        page = phone(browser, javascript=True).new_page()
        page.goto(url + "search.html")
        area = page.locator("#area")
        expect(area).to_be_visible()
        choices = area.locator("option").all_inner_texts()
        assert "福州市（全部区县，尚无公示结果）" in choices and "马尾区（尚无公示结果）" in choices
        expect(page.locator("#area-note")).to_contain_text("本站还没有抽取过的轮次")
        area.select_option(label="马尾区（尚无公示结果）")
        expect(page.locator("#status")).to_have_text("马尾区尚无公示的检查结果。")
        _measure(page, tmp_path / "search-new.png", times=False)

        page = phone(browser).new_page()  # JavaScript off
        page.goto(url + "search.html")
        fuzhou = page.locator("#areas ~ details", has_text="福州市")
        expect(fuzhou.locator("summary")).to_have_text("福州市（尚无公示结果）")
        fuzhou.locator("summary").click()
        expect(fuzhou.locator("li", has_text="马尾区")).to_have_text("马尾区：尚无公示结果")
        expect(page.locator("#areas + p")).to_contain_text("本站还没有抽取过的轮次")
        _measure(page, tmp_path / "search-new-nojs.png", times=False)


def test_a_bureau_the_table_does_not_know_is_told_why(engine: sa.Engine, tmp_path: Path) -> None:
    out = tmp_path / "site"
    unknown = get_settings().model_copy(update={"bureau_code": "990000"})
    publish(engine, out, settings=unknown, bundles=False)  # no round yet
    with served(out) as url, headless() as browser:
        page = phone(browser).new_page()
        page.goto(url + "search.html")
        expect(page.locator("#areas + p")).to_contain_text(
            "本局的行政区划代码 990000 不在本站所用的国家行政区划代码表中"
        )
        expect(page.locator("main ul").first).to_have_text("本站尚无抽查轮次。")
        _measure(page, tmp_path / "search-unknown.png", times=False)


def test_a_new_bureaus_index_says_it_has_no_round_yet(engine: sa.Engine, tmp_path: Path) -> None:
    """With no round, the index said 抽查轮次 and 按检查结果 over nothing (a table of headers
    a phone hides, an empty chart): it says there is no round yet, and 暂无."""
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    with headless() as browser:
        page = phone(browser).new_page()
        page.goto((out / "index.html").as_uri())
        expect(page.locator("main h2 + p").first).to_have_text(
            "本站尚无抽查轮次。本局公布一轮抽查的承诺后，这里将列出该轮，并说明何时抽取。"
        )
        expect(page.locator("table.rounds")).to_have_count(0)
        expect(page.locator("#by-result")).to_have_text("按检查结果暂无")
        _measure(page, tmp_path / "index-new.png", times=False)
