"""The team changed under a form the page refuses before saving it, and the form's ``team``
field sent twice.

* A tab left open before the notice's link was opened again posts a token of the older
  session: it is refused (403, nothing saved) and the page gives the text back. When a
  coordinator replaced a teammate meanwhile, that page said nothing of it: the inspector
  learned of the new member only after the next save or submit, having checked the text
  against a team that was no longer theirs. Now the refused page says 检查组已变更 too, by the
  database's names, and the form it gives back carries the team now.
* ``team`` sent twice (a script's form; the page sends it once) was read as its last, where
  every other hidden field sent twice is refused: now refused the same, nothing saved.

In Chromium at 390 px, JavaScript off; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from findings import service
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    fill_form,
    on_a_phone_page,
    outbox_link,
    replace_in_team,
    sign_in_page,
)
from workspace import drafts


@pytest.mark.slow
def test_a_stale_form_says_the_team_changed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (older, code, team):
        again = outbox_link(code, team[0], older.url.split("/w/")[0])
        sign_in_page(older.context.new_page(), again)  # the link opened again: a new session
        fill_form(older)
        older.get_by_role("button", name="保存草稿").click()  # the team as shown: nothing said
        older.wait_for_load_state()
        assert "较早打开的页面" in older.locator("#errors").inner_text()
        assert older.locator("#team-changed").count() == 0
        sign_in_page(older.context.new_page(), again)  # stale once more, and the team changes
        seat = replace_in_team(engine, code, team[1])
        older.get_by_role("button", name="保存草稿").click()
        older.wait_for_load_state()
        assert "较早打开的页面" in older.locator("#errors").inner_text()
        said = older.locator("#team-changed").inner_text()
        assert "检查组已变更" in said and f"（{team[1]}） 已不在检查组" in said, said
        assert "由 " in said and seat in said, said
        assert older.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert drafts.load(get_settings().home, ROUND, code, team[0]) == {}  # nothing saved
        older.get_by_role("button", name="保存草稿").click()  # the form given back: the team now
        older.wait_for_url("**?saved=1")
        assert older.locator("#team-changed").count() == 0


def test_the_team_field_sent_twice_saves_nothing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (page, code, team):
        fill_form(page)
        page.evaluate(  # a second ``team``, naming another member (a script's form)
            """([other]) => { const f = document.querySelector('form input[name=team]');
            const i = document.createElement('input'); i.type = 'hidden'; i.name = 'team';
            i.value = other; f.form.appendChild(i); }""",
            [team[1]],
        )
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_load_state()
        text = page.locator("main").inner_text()
        assert "表单中的检查组：表单中填写了不止一次" in text, text
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert service.history(engine, ROUND, code).versions == []
    assert drafts.load(get_settings().home, ROUND, code, team[0]) == {}


def test_a_form_refused_past_a_fields_rule_says_the_team_changed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (page, code, team):
        fill_form(page)
        page.get_by_label("检查情况").fill("长" * 4001)  # past its rule: nothing kept
        seat = replace_in_team(engine, code, team[1])
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_load_state()
        assert "检查情况：过长，最多 4000 个字" in page.locator("#errors").inner_text()
        said = page.locator("#team-changed").inner_text()
        assert f"（{team[1]}） 已不在检查组" in said and seat in said, said
        assert drafts.load(get_settings().home, ROUND, code, team[0]) == {}
