"""A teammate's draft saved before the version they are asked to sign: their correction form
was filled from that draft (the page read the draft before the latest version), so the form
under 提交更正 showed their own old text as if it were the result to correct, and a correction
sent from it replaced the teammate's version with text written before it, every field of it.
Now the correction form starts from the latest version, the page says that a draft saved
before it exists, keeps it, and fills the form from it when asked (用我的草稿填写更正).

In Chromium at 390 px with JavaScript off, over a real server; both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from findings import service
from shuangsui.config import get_settings
from tests.browser import PHONE
from tests.findings.factories import ROUND
from tests.findings.media_samples import JPEG
from tests.workspace.helpers import FORM, csrf_of, on_a_phone_page, open_assignment, submitted
from workspace import drafts

MINE = "乙的草稿：铭牌与证书一致（写于同组提交之前）"


def _fits(page: Page, shot: Path) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(shot), full_page=True)


@pytest.fixture
def older_draft(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Page, str, str]]:
    """Member B's page on a phone, B's draft (their text, a photo) saved before A submitted
    version 1: (the page, the enterprise, B)."""
    with on_a_phone_page(engine, monkeypatch, member=1) as (page, code, (a, b)):
        page.get_by_label("检查结果").select_option(value="no_problem")
        page.get_by_label("检查日期").fill("2026-12-09")
        page.get_by_label("检查情况").fill(MINE)
        photo = {"name": "乙的照片.jpg", "mimeType": "image/jpeg", "buffer": JPEG}
        page.get_by_label("拍照或选择照片").set_input_files([photo])
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_url("**?saved=1")
        submitted(engine, code, a)  # the teammate submits meanwhile: version 1
        yield page, code, b


@pytest.mark.slow
def test_the_correction_form_starts_from_the_latest_version_and_offers_the_older_draft(
    engine: sa.Engine, older_draft: tuple[Page, str, str], tmp_path: Path
) -> None:
    page, code, b = older_draft
    page.goto(page.url.split("?")[0])
    stale = page.locator("#stale-draft")
    assert stale.count() == 1, page.locator("main").inner_text()
    assert "之后已提交了第 1 版" in stale.inner_text()
    assert "填写时还没有已提交的结果" in stale.inner_text()
    form = page.locator("#entry form")
    assert form.get_by_label("检查情况").input_value() == FORM["description"]
    assert form.locator("[name=check_date]").input_value() == FORM["check_date"]
    assert form.locator("#attachments .evidence li").count() == 0  # version 1 has none
    assert page.get_by_role("button", name="签字确认第 1 版").count() == 1
    _fits(page, tmp_path / "1-starts-from-version-1.png")
    kept = drafts.load(get_settings().home, ROUND, code, b)
    assert kept["description"] == MINE  # nothing lost

    # the draft, when asked for: the form filled from it, open, its photo still there
    page.get_by_role("link", name="用我的草稿填写更正").click()
    page.wait_for_load_state()
    assert page.locator("#entry details[open]").count() == 1
    assert form.get_by_label("检查情况").input_value() == MINE
    assert form.locator("#attachments .evidence li").count() == 1
    assert "不是依据它填写的" in page.locator("#stale-draft").inner_text()
    _fits(page, tmp_path / "2-the-older-draft.png")
    page.get_by_role("link", name="改用第 1 版填写更正").click()
    page.wait_for_load_state()
    assert form.get_by_label("检查情况").input_value() == FORM["description"]

    # a correction sent from the form as it starts: version 1's text, as changed
    page.locator("#entry summary").click()
    form.get_by_label("检查情况").fill(FORM["description"] + "；另见整改通知")
    form.get_by_label("更正理由（必填）").fill("补充说明")
    page.get_by_role("button", name="提交更正并签字").click()
    page.wait_for_url("**?submitted=1")
    _fits(page, tmp_path / "3-corrected.png")
    assert page.locator("#stale-draft").count() == 0
    v1, v2 = service.history(engine, ROUND, code).versions
    assert v2.description == FORM["description"] + "；另见整改通知"
    assert v2.check_date == v1.check_date and v2.evidence == []
    assert drafts.load(get_settings().home, ROUND, code, b) == {}  # submitted: replaced


@pytest.mark.slow
def test_the_older_draft_asked_for_is_sent_as_the_correction_with_its_photo(
    engine: sa.Engine, older_draft: tuple[Page, str, str], tmp_path: Path
) -> None:
    page, code, _b = older_draft
    page.goto(page.url.split("?")[0] + "?draft=1")
    page.locator("#entry form").get_by_label("更正理由（必填）").fill("乙的检查记录")
    page.get_by_role("button", name="提交更正并签字").click()
    page.wait_for_url("**?submitted=1")
    _fits(page, tmp_path / "1-corrected-from-the-draft.png")
    _v1, v2 = service.history(engine, ROUND, code).versions
    assert v2.description == MINE and v2.check_date.isoformat() == "2026-12-09"
    assert [e["filename"] for e in v2.evidence] == ["乙的照片.jpg"]


def test_the_draft_mark_sent_twice_saves_nothing(live: tuple[str, dict], engine: sa.Engine) -> None:
    """The correction form's hidden mark of a form filled from the draft (``from_draft``), sent
    twice by a script: refused naming it, as every other field of the form."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        form = {"csrf": csrf_of(html), **FORM, "base_version": "0", "action": "draft"}
        r = http.post(path, data={**form, "from_draft": ["1", "1"]})
        assert r.status_code == 422 and "表单中的草稿标记：表单中填写了不止一次" in r.text
    assert drafts.load(get_settings().home, ROUND, code, team[0]) == {}


@pytest.mark.slow
def test_a_first_version_submitted_second_is_kept_and_said_without_a_version_0(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two teammates each fill in the first version; A submits first. B's 提交 (409) said
    您填写时依据的第 0 版已不是最新, naming a version that never was; now it says the page had
    no result yet, keeps B's text in the form (the draft just saved) and B sends it as a
    correction with a reason."""
    with on_a_phone_page(engine, monkeypatch, member=1) as (page, code, (a, _b)):
        page.get_by_label("检查结果").select_option(value="no_problem")
        page.get_by_label("检查日期").fill("2026-12-09")
        page.get_by_label("检查情况").fill(MINE)
        submitted(engine, code, a)  # A, a moment earlier
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_load_state()
        said = page.locator("#errors").inner_text()
        assert "您填写时还没有已提交的结果，页面已不是最新：同组已提交第 1 版" in said, said
        assert "第 0 版" not in page.locator("main").inner_text()
        form = page.locator("#entry form")
        assert form.get_by_label("检查情况").input_value() == MINE  # kept, as typed
        _fits(page, tmp_path / "1-second.png")
        form.get_by_label("更正理由（必填）").fill("同组先提交，补充我的记录")
        page.get_by_role("button", name="提交更正并签字").click()
        page.wait_for_url("**?submitted=1")
    _v1, v2 = service.history(engine, ROUND, code).versions
    assert v2.description == MINE
