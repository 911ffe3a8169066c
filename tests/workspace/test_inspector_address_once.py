"""The inspector's pages as an edited or pasted address reaches them: a parameter given twice
(``?draft=1&draft=0``) was read as its last, silently, on the assignment page, its files and
its two forms (保存草稿/提交, 签字确认), while the coordinator's pages refused it. Now each
refuses it the same way (400, naming it: which one counts is not the server's to guess), and
a post so addressed records nothing. Read in Chromium at 390 px, JavaScript off; on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, Route

from findings import service
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, fill_form, on_a_phone_page, submitted
from workspace import drafts

TWICE = "链接地址中的参数 {name} 出现了 2 次，无法确定以哪一个为准，本次未予处理。请只保留一个。"


def refused(page: Page, name: str) -> None:
    """The page is the 400 refusal naming ``name``, as wide as the phone."""
    said = page.locator("[role=alert]").inner_text()
    assert TWICE.format(name=name) in said, said
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def twice_on_post(query: str) -> Callable[[Route], None]:
    """The form's post sent to its address with ``query`` behind it (an edited form's action)."""

    def edit(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        route.continue_(url=f"{route.request.url}?{query}")

    return edit


def test_a_parameter_twice_is_refused_on_the_page_and_its_files(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (page, code, _team):
        here = page.url
        fill_form(page)
        photo = {"name": "门头.png", "mimeType": "image/png", "buffer": PNG}
        page.get_by_label("拍照或选择照片").set_input_files([photo])
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_load_state()
        link = page.locator("#attachments .evidence a").first.get_attribute("href")
        assert link and "/evidence/" in link, link
        for path, name in [
            (f"{here}?draft=1&draft=0", "draft"),
            (f"{here}?saved=1&saved=1", "saved"),  # the same value twice, too
            (f"{here}?dr%61ft=1&draft=1", "draft"),  # its name however encoded
            (f"{here}?%3Cb%3E=1&%3Cb%3E=2", "'<b>'"),  # a name that is markup: said as text
            (f"{page.url.split('/w/')[0]}{link}?x=1&x=2", "x"),
        ]:
            answer = page.goto(path)
            assert answer is not None and answer.status == 400, (path, answer and answer.status)
            refused(page, name)
            assert page.locator("main b").count() == 0
        for path in (f"{here}?draft=1&saved=1", f"{page.url.split('/w/')[0]}{link}"):
            answer = page.goto(path)  # each once: as before
            assert answer is not None and answer.status == 200, path


def test_a_form_posted_to_an_address_with_a_parameter_twice_records_nothing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (page, code, team):
        here = page.url
        page.route(f"{here}**", twice_on_post("saved=1&saved=2"))
        fill_form(page)
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_load_state()
        refused(page, "saved")
        assert drafts.load(get_settings().home, ROUND, code, team[0]) == {}
        page.goto(here)
        fill_form(page)
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_load_state()
        refused(page, "saved")
        assert service.history(engine, ROUND, code).versions == []
        submitted(engine, code, team[1])  # the teammate's version, waiting for the lead's 签字
        page.goto(here)
        page.get_by_role("button", name="我已核对，签字确认第 1 版").click()
        page.wait_for_load_state()
        refused(page, "saved")
        (state,) = service.history(engine, ROUND, code).states
        assert list(state.signed_by) == [team[1]]
        page.unroute(f"{here}**")
        page.goto(here)
        page.get_by_role("button", name="我已核对，签字确认第 1 版").click()
        page.wait_for_load_state()
        (state,) = service.history(engine, ROUND, code).states
        assert sorted(state.signed_by) == sorted(team[:2]), state.signed_by
