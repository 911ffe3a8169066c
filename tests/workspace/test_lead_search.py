"""Finding a lead again on the leads list (``/w/c/leads?q=``): by its number, the enterprise's
name or credit code. The list held every lead, 50 a page, with filters by status only: once it
held thousands, a coordinator called back about one enterprise paged through sixty pages or
typed the lead's address by hand. Now a search form (a plain GET, no JavaScript) keeps the
leads that match, the filters' counts and the pages' links keep the search, and a search that
finds nothing says so. In Chromium at 390 px with JavaScript off, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads import service
from registry.models import Enterprise
from tests.browser import headless, phone
from tests.leads.helpers import outside_code
from tests.workspace.helpers import sign_in_page
from tests.workspace.test_leads_pages import ME, Desk, _lead, desk  # noqa: F401  (the fixture)
from workspace import leadviews


def _two(engine: sa.Engine) -> tuple[Enterprise, Enterprise]:
    with Session(engine) as s:
        first, second = s.exec(select(Enterprise).order_by(Enterprise.credit_code)).all()[:2]
    return first, second


def _listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="lead-(\d+)"', html)]


def test_a_lead_is_found_by_number_name_or_credit_code(
    desk: Desk,  # noqa: F811
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leadviews, "PAGE", 2)
    one, two = _two(engine)
    a, b, c = (_lead(engine, one.credit_code, days_ago=d) for d in (30, 20, 10))
    other = _lead(engine, two.credit_code, category="伪造认证证书")
    stranger = _lead(engine, outside_code())
    service.reject(engine, c, reason="重复", by=ME)
    with desk.signed_in() as http:
        pages = {
            q: http.get("/w/c/leads", params={"q": q})
            for q in (str(other), f"线索 {b}", f"#{a}", one.name[2:8], one.credit_code.lower(),
                      one.credit_code[-7:], "伪造认证", "没有这样的企业", "999999")
        }  # fmt: skip
        rejected = http.get("/w/c/leads", params={"q": one.name, "show": "rejected"})
        second = http.get("/w/c/leads", params={"q": one.name, "page": "2"})
    assert _listed(pages[str(other)].text) == [other]
    assert _listed(pages[f"线索 {b}"].text) == [b]
    assert _listed(pages[f"#{a}"].text) == [a]
    for q in (one.name[2:8], one.credit_code.lower(), one.credit_code[-7:]):
        found = pages[q].text
        assert sorted(_listed(found) + _listed(second.text)) == [a, b, c], q
        assert stranger not in _listed(found) and other not in _listed(found)
    assert _listed(pages["伪造认证"].text) == [other]  # the category too
    page = pages[one.name[2:8]].text
    assert f"与“{one.name[2:8]}”相符的线索 3 条" in page
    nav = page.split('aria-label="按状态筛选"', 1)[1].split("</nav>", 1)[0]
    assert "全部 3" in nav and "待处理 2" in nav and "不予受理 1" in nav  # of what was found
    more = urlencode({"q": one.name[2:8], "page": 2}).replace("&", "&amp;")
    assert f'href="/w/c/leads?{more}#leads"' in page  # the next page keeps the search
    assert _listed(rejected.text) == [c]
    assert 'name="q"' in page and 'value="' + one.name[2:8] + '"' in page
    for q in ("没有这样的企业", "999999"):
        assert _listed(pages[q].text) == [] and f"没有与“{q}”相符的线索" in pages[q].text


def test_the_search_works_in_a_phone_browser_without_javascript(
    desk: Desk,  # noqa: F811
    engine: sa.Engine,
) -> None:
    one, two = _two(engine)
    wanted = _lead(engine, one.credit_code)
    for _ in range(3):
        _lead(engine, two.credit_code)
    with headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{desk.base}/w/c/open?token={desk.token}")
        page.goto(f"{desk.base}/w/c/leads")
        page.get_by_label("查找线索").fill(one.credit_code)
        page.get_by_role("button", name="查找").click()
        rows = page.locator("tr[id^=lead-]")
        assert rows.count() == 1 and rows.first.get_attribute("id") == f"lead-{wanted}"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_role("link", name=f"线索 {wanted}").click()
        assert page.url.endswith(f"/w/c/leads/{wanted}")
