"""A draft held to the rules its submit holds each field to. 保存草稿 saved whatever the post
carried under the body's limit (a script's 检查情况 of a million characters), which every
提交 of the draft then refused. Now a draft's fields break no rule of their own (a length, a
character, a choice from the list, a date), or nothing is saved: each refusal is said beside
its field, in Chinese, and the form comes back as typed. What a draft may still lack (the
result, the date) it may lack. Read in Chromium at 390 px, JavaScript off; on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.workspace.helpers import on_a_phone_page
from workspace import drafts


def test_a_draft_past_a_fields_limit_is_refused_beside_it_and_nothing_saved(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with on_a_phone_page(engine, monkeypatch) as (page, code, team):
        long = "长" * 4001
        page.get_by_label("检查情况").fill(long)
        page.get_by_label("措施说明").fill("说" * 501)  # no measure chosen: held to its rule too
        page.get_by_label("内部备注（不公开）").fill("备" * 4001)
        page.locator("#reason").fill("理" * 1001)
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_load_state()
        assert drafts.load(get_settings().home, ROUND, code, team[0]) == {}
        said = page.locator("#errors").inner_text()
        assert "未保存" in said and "已保存为草稿" not in said, said
        for field, text in [
            ("description", "检查情况：过长，最多 4000 个字"),
            ("measure_kind", "措施说明：过长，最多 500 个字"),
            ("internal_note", "内部备注：过长，最多 4000 个字"),
            ("reason", "说明：过长，最多 1000 个字"),
        ]:
            assert page.locator(f"#{field}-error-1").inner_text() == text
        assert page.get_by_label("检查情况").input_value() == long  # nothing typed is lost
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.get_by_label("检查情况").fill("现场核对铭牌")  # within the rules, result not chosen
        page.get_by_label("措施说明").fill("")
        page.get_by_label("内部备注（不公开）").fill("")
        page.locator("#reason").fill("")
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_load_state()
        assert "草稿已保存" in page.locator("#notice").inner_text()
        saved = drafts.load(get_settings().home, ROUND, code, team[0])
        assert saved["description"] == "现场核对铭牌" and saved["result"] == ""
