"""The same findings form submitted at once from two tabs of one inspector's phone (Chromium
at 390 px, JavaScript off, screenshots under the test's tmp folder): both posts reach the
server, and each tab is told 已提交 with the one version recorded, its photo in it, no draft
left. A tab whose form differs (another description), submitted after, is refused as before
and told that the inspector themself submitted version 1 first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from api.app import create_app
from findings import service
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.browser import headless, phone
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.findings.media_samples import JPEG
from tests.workspace.helpers import delivered_round, outbox_link, sign_in_page
from workspace import drafts

TYPED = "现场核对铭牌与证书一致"


def _filled(page: Page, photo: Path, description: str = TYPED) -> None:
    page.get_by_label("检查结果").select_option(value="no_problem")
    page.get_by_label("检查日期").fill("2026-12-10")
    page.get_by_label("检查情况").fill(description)
    page.get_by_label("拍照或选择照片").set_input_files([photo])


def _drafts_saved(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.event == "DraftSaved")).all())


@pytest.mark.slow
def test_the_same_form_submitted_from_two_tabs_at_once_is_done_in_both(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    teams = delivered_round(engine, monkeypatch)
    code, (a, _b) = sorted(teams.items())[0]
    photo = tmp_path / "门头.jpg"
    photo.write_bytes(JPEG[:-2] + b"\0" * (200 * 1024) + b"\xff\xd9")
    with serve(create_app(engine=engine)) as base, headless() as browser:
        context = phone(browser)
        tabs = [context.new_page() for _ in range(3)]
        sign_in_page(tabs[0], outbox_link(code, a, base))
        for tab in tabs[1:]:
            tab.goto(tabs[0].url)
        for tab in tabs[:2]:
            _filled(tab, photo)
        _filled(tabs[2], photo, "另一种说法")
        for tab in tabs[:2]:  # both sent before either is answered
            tab.get_by_role("button", name="提交并签字").click(no_wait_after=True)
        for n, tab in enumerate(tabs[:2]):
            expect(tab).to_have_url(re.compile(r"\?submitted=1$"), timeout=60_000)
            assert "已提交，并已记录您的签字" in tab.locator("main").inner_text()
            tab.screenshot(path=str(tmp_path / f"tab-{n}.png"), full_page=True)
        (version,) = service.history(engine, ROUND, code).versions
        assert _drafts_saved(engine) == 2  # both posts were read through, not one abandoned
        assert version.description == TYPED
        assert [e["filename"] for e in version.evidence] == ["门头.jpg"]
        assert list(drafts.drafts_dir(get_settings().home).glob("*.json")) == []
        tabs[2].get_by_role("button", name="提交并签字").click()
        tabs[2].wait_for_load_state()
        said = tabs[2].locator("#errors").inner_text()
        assert re.search("您本人已于 .* 提交了第 1 版", said), said
        tabs[2].screenshot(path=str(tmp_path / "tab-other.png"), full_page=True)
    assert len(service.history(engine, ROUND, code).versions) == 1
