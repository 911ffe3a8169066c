"""Every refusal of the inspector's form names its field as the page labels it: it said the
finding's internal names, ``处理措施（measures.0）：责令限期改正须填写期限``,
``内部备注（internal_note）``, ``更正理由（reason）`` on a first version whose field reads 说明,
``证书处理（certificates.0.number）``, ``表单中的版本号（base_version）``. Now 处理措施, 措施说明,
内部备注, 说明 or 更正理由 as the page shows it, a certificate by its body and number.

In Chromium at 390 px with JavaScript off (screenshots under the test's tmp folder), and a
correction over HTTP; both databases, nothing submitted."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import Page

from findings import service
from tests.findings.factories import ROUND
from tests.workspace.helpers import (
    FORM,
    csrf_of,
    errors_of,
    fill_form,
    fits,
    open_assignment,
    submitted,
)

# a field's internal name: ``measures.0``, ``（internal_note）``, ``base_version``
INTERNAL = re.compile(r"[a-z]+[._][a-z0-9_.]+|（[a-z_]+）")


def _beside(page: Page, field: str) -> list[str]:
    return page.locator(f"[id^='{field}-error-']").all_inner_texts()


def test_each_refusal_names_its_field_as_the_page_labels_it(
    engine: sa.Engine,
    on_a_phone: tuple[Page, str],
    tmp_path: Path,
) -> None:
    page, code = on_a_phone
    fill_form(page, "ordered_to_rectify")
    page.get_by_label("措施", exact=True).select_option(value="rectify")  # no deadline
    page.get_by_label("内部备注（不公开）").fill("从Word粘贴\u000b的")
    page.get_by_label("说明（检查日不在检查期间").fill("因" * 1001)
    page.get_by_role("button", name="提交并签字").click()
    page.wait_for_load_state()
    listed = page.locator("#errors li").all_inner_texts()
    assert len(listed) == 3, listed
    assert [said for said in listed if INTERNAL.search(said)] == [], listed
    assert _beside(page, "measure_kind") == ["处理措施：责令限期改正须填写期限（年-月-日）"]
    assert _beside(page, "internal_note")[0].startswith("内部备注：含有不可见的控制字符（U+000B")
    assert _beside(page, "reason") == ["说明：过长，最多 1000 个字"]
    fits(page, tmp_path / "1-named-fields.png")
    # the measure's deadline given, its text too long: said by the text's own label
    page.get_by_label("改正期限").fill("2026-12-20")
    page.get_by_label("措施说明").fill("限" * 501)
    page.get_by_label("内部备注（不公开）").fill("")
    page.get_by_label("说明（检查日不在检查期间").fill("")
    page.get_by_role("button", name="提交并签字").click()
    page.wait_for_load_state()
    assert page.locator("#errors li").all_inner_texts() == ["措施说明：过长，最多 500 个字"]
    assert _beside(page, "measure_kind") == ["措施说明：过长，最多 500 个字"]
    fits(page, tmp_path / "2-measure-text.png")
    assert service.history(engine, ROUND, code).versions == []


def test_a_corrections_reason_is_named_as_its_page_labels_it(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    submitted(engine, code, team[0])
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        form = {"csrf": csrf_of(html), **FORM, "base_version": "1", "action": "submit"}
        r = http.post(path, data={**form, "reason": "因" * 1001, "cert:XX:": "kept"})
        assert r.status_code == 422, r.text[:300]
        said = errors_of(r.text)
        assert "更正理由：过长，最多 1000 个字" in said, said
        assert "证书处理“XX ”：不能为空（至少 1 个字）" in said, said
        assert INTERNAL.search(said) is None, said
        twice = http.post(path, data={**form, "base_version": ["1", "1"]})
        assert twice.status_code == 422 and "表单中的版本号填写了不止一次" in twice.text
    assert len(service.history(engine, ROUND, code).versions) == 1
