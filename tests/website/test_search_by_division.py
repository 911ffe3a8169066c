"""A citizen looks for the enterprises checked in 厦门 or in 思明区, on a 390 px phone in
headless Chromium, the site served over HTTP.

With JavaScript: the search page's 地区 choice lists every prefecture and district of the
bureau's area (Fujian) as of the latest draw by name, those with no published result said so
(chosen, the page says none is published there), and narrows the hits to the enterprises
there (a division alone lists them), by the division the registry holds for each enterprise,
not by the division in its credit code (that of the authority that registered it). Without
JavaScript: the search page lists each district of the area, said to have no result or with
its rounds, each a link to that district's enterprises on the round page, whose county
groups are anchors a nav at their head leads to. Screenshots under the test's
``tmp_path``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser import headless, phone
from tests.findings.factories import ROUND, drawn_round, final_finding
from tests.website.test_phone import _measure
from tests.website.test_search import served
from website.site import publish

# where the checked enterprises are: two in 思明区, one in 湖里区 (厦门市), one in 鼓楼区
# (福州市) whose credit code was given by an authority in 厦门; one in 马尾区, not checked yet
PLACES = {"siming": "350203", "siming2": "350203", "huli": "350206", "gulou": "350102"}
PENDING_PLACE = "350105"


@pytest.fixture
def site(engine: sa.Engine, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """(the site's address, its folder, firm -> credit code), every drawn enterprise's
    division as in ``PLACES`` or the seed's prefecture."""
    teams = drawn_round(engine)
    drawn = sorted(teams)
    from_xiamen = next(code for code in drawn if code[2:6] == "3502")
    others = [code for code in drawn if code != from_xiamen]
    firms = {"gulou": from_xiamen, "siming": others[0], "siming2": others[1],
             "huli": others[2], "mawei": others[3]}  # fmt: skip
    assert not any(firms[f][2:8] == PLACES[f] for f in PLACES)  # not the credit code's place
    with engine.begin() as conn:
        for firm, code in firms.items():
            conn.execute(
                sa.text("UPDATE enterprise SET division_code = :d WHERE credit_code = :c"),
                {"d": PLACES.get(firm, PENDING_PLACE), "c": code},
            )
    for firm in PLACES:
        final_finding(engine, firms[firm], teams[firms[firm]], result="no_problem")
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    with served(out) as url:
        yield url, out, firms


def _divisions(engine: sa.Engine) -> dict[str, str]:
    """credit code -> division code of every enterprise."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT credit_code, division_code FROM enterprise"))
        return {code: division for code, division in rows}


@pytest.mark.slow
def test_the_division_choice_narrows_the_hits(
    engine: sa.Engine, site: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, out, firms = site
    index = json.loads((out / "data" / "search-index.json").read_bytes())
    division = _divisions(engine)
    assert {entry[1]: entry[4] for entry in index} == {e[1]: division[e[1]] for e in index}
    in_xiamen = {e[1] for e in index if e[4].startswith("3502")}
    assert firms["gulou"] not in in_xiamen and {firms["siming"], firms["huli"]} <= in_xiamen
    with headless() as browser:
        page = phone(browser, javascript=True).new_page()
        page.goto(url + "search.html")
        area, box = page.locator("#area"), page.locator("#q")
        status, hits = page.locator("#status"), page.locator("#hits li")
        expect(area).to_be_visible()
        expect(page.locator("label[for=area]")).to_be_visible()
        choices = area.locator("option").all_inner_texts()
        assert choices[0] == "全部地区"
        for name in ("福州市（全部区县）", "鼓楼区", "厦门市（全部区县）", "思明区", "湖里区"):
            assert name in choices, choices
        # every district of the bureau's area (Fujian) is listed, those with no result said so
        assert "马尾区（尚无公示结果）" in choices  # drawn there, no result published yet
        assert "莆田市（全部区县，尚无公示结果）" in choices and "城厢区（尚无公示结果）" in choices
        assert "黄浦区" not in "".join(choices)  # Shanghai's: not the bureau's
        expect(page.locator("#area-note")).to_contain_text("没有列出的地区不在本局辖区内")
        area.select_option(label="马尾区（尚无公示结果）")
        expect(status).to_have_text("马尾区尚无公示的检查结果。")
        expect(hits).to_have_count(0)
        area.select_option(label="莆田市（全部区县，尚无公示结果）")
        expect(status).to_have_text("莆田市尚无公示的检查结果。")

        area.select_option(label="思明区")  # a district alone lists its enterprises
        expect(status).to_have_text("思明区：找到 2 条。")
        listed = {text.split()[1] for text in hits.all_inner_texts()}  # name, code, ...
        assert listed == {firms["siming"], firms["siming2"]}
        _measure(page, tmp_path / "search-siming.png", times=False)

        area.select_option(value="p350200")  # a prefecture: every district of it
        expect(status).to_have_text(f"厦门市：找到 {len(in_xiamen)} 条。")
        expect(hits.filter(has_text=firms["gulou"])).to_have_count(0)
        expect(hits.filter(has_text=firms["huli"])).to_have_count(1)

        box.fill(firms["huli"][-6:])  # words and a division together
        expect(status).to_have_text("厦门市：找到 1 条。")
        area.select_option(label="鼓楼区")
        expect(status).to_contain_text("未找到在鼓楼区、名称或信用代码含有")
        expect(hits).to_have_count(0)
        area.select_option(value="")  # every division again
        expect(status).to_have_text("找到 1 条。")


@pytest.mark.slow
def test_without_javascript_each_district_leads_to_its_enterprises(
    site: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, _, firms = site
    with headless() as browser:
        page = phone(browser).new_page()
        page.goto(url + "search.html")
        expect(page.locator("#area")).to_be_hidden()
        notice = page.locator("main p.notice")
        expect(notice).to_contain_text("按地区查看")
        xiamen = page.locator("#areas ~ details", has_text="厦门市")
        xiamen.locator("summary").click()
        _measure(page, tmp_path / "search-nojs.png", times=False)
        link = xiamen.locator("li", has_text="思明区").locator("a")
        expect(link).to_have_text(ROUND)
        assert link.get_attribute("href") == f"rounds/{ROUND}/index.html#d-350203"
        # a district of the bureau's area with no result is listed, said to have none
        expect(page.locator("#areas + p")).to_contain_text("没有列出的地区不在本局辖区内")
        fuzhou = page.locator("#areas ~ details", has_text="福州市")
        expect(fuzhou.locator("summary")).to_have_text("福州市（已公示 1 条）")
        fuzhou.locator("summary").click()
        expect(fuzhou.locator("li", has_text="马尾区")).to_have_text("马尾区：尚无公示结果")
        expect(fuzhou.locator("li", has_text="马尾区").locator("a")).to_have_count(0)
        putian = page.locator("#areas ~ details", has_text="莆田市")
        expect(putian.locator("summary")).to_have_text("莆田市（尚无公示结果）")
        expect(page.locator("#areas ~ details", has_text="上海")).to_have_count(0)
        _measure(page, tmp_path / "search-nojs-fuzhou.png", times=False)

        link.click()
        group = page.locator("#d-350203")
        expect(group).to_be_visible()
        expect(group.locator("summary")).to_contain_text("思明区（厦门市）（2 户）")
        for firm in ("siming", "siming2"):
            expect(group.locator(f"#e-{firms[firm]}")).to_have_count(1)
        expect(group.locator(f"#e-{firms['huli']}")).to_have_count(0)
        # the round page's own list of its counties leads to each group
        nav = page.locator("nav.counties a")
        assert nav.count() >= 4
        for i in range(nav.count()):
            target = (nav.nth(i).get_attribute("href") or "")[1:]
            expect(page.locator(f"[id='{target}']")).to_have_count(1)
        _measure(page, tmp_path / "round-nojs.png", times=False)
