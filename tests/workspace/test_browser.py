"""End to end in a real Chromium at 390×844: inspector A opens the link from the file outbox,
fills the form, attaches a photo and submits; inspector B opens theirs and signs; the
coordinator's round page shows the finding final; ``publish`` shows the result. Once with
JavaScript on, once with it off. Screenshots of every page under the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import PNG, delivered_round, outbox_link, sign_in_page


def _labelled_and_narrow(page, javascript: bool) -> None:  # type: ignore[no-untyped-def]
    """Every field has its label; nothing is wider than the phone."""
    fields = page.locator("input:not([type=hidden]), select, textarea")
    assert fields.count() >= 8
    for i in range(fields.count()):
        ident = fields.nth(i).get_attribute("id")
        assert ident and page.locator(f'label[for="{ident}"]').count() == 1, ident
    if javascript:  # measuring needs the page's script engine
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.slow
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_inspectors_record_and_sign_coordinator_sees_it_final_and_publish_shows_it(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, javascript: bool
) -> None:
    from website.site import publish

    teams = delivered_round(engine, monkeypatch)
    code, (a, b) = sorted(teams.items())[0]
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    photo = tmp_path / "gate.png"
    photo.write_bytes(PNG)
    shots = tmp_path / "screens"
    shots.mkdir()

    with serve(create_app(engine=engine)) as base, headless() as browser:
        # inspector A: the link from the notice, the form, a photo, submit
        ctx_a = phone(browser, javascript=javascript)
        page = ctx_a.new_page()
        sign_in_page(page, outbox_link(code, a, base))
        assert "token" not in page.url and page.url.endswith(f"/w/a/{ROUND}/{code}")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.get_by_text("待填报").first.is_visible()
        page.screenshot(path=str(shots / "1-inspector-a-open.png"), full_page=True)
        _labelled_and_narrow(page, javascript)
        page.get_by_label("检查结果").select_option(label="未发现问题")
        page.get_by_label("检查日期").fill("2026-12-10")
        page.get_by_label("检查情况").fill("现场核对证书与产品，一致")
        page.get_by_label("拍照或选择照片").set_input_files(str(photo))
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_url(f"**/w/a/{ROUND}/{code}?submitted=1")
        banner = page.locator("#state h1").inner_text()
        assert banner.startswith("待 ") and banner.endswith("签字确认")
        assert page.locator("#submitted img").count() == 1  # the photo's thumbnail
        page.screenshot(path=str(shots / "2-inspector-a-submitted.png"), full_page=True)
        ctx_a.close()

        # inspector B: sees the version and who must sign, signs
        ctx_b = phone(browser, javascript=javascript)
        page = ctx_b.new_page()
        sign_in_page(page, outbox_link(code, b, base))
        assert page.locator("#state h1").inner_text() == banner  # 待 <B> 签字确认
        assert "现场核对证书与产品，一致" in page.locator("#submitted").inner_text()
        page.screenshot(path=str(shots / "3-inspector-b-to-sign.png"), full_page=True)
        page.get_by_role("button", name="签字确认第 1 版").click()
        page.wait_for_url("**?signed=1")
        assert page.locator("#state").inner_text().startswith("已完成")
        # nothing left to sign; a correction is offered, folded away
        assert page.get_by_role("button", name="签字确认第 1 版").count() == 0
        assert page.locator("#entry details:not([open])").count() == 1
        page.screenshot(path=str(shots / "4-inspector-b-final.png"), full_page=True)
        ctx_b.close()

        # the coordinator: the round page shows the finding final
        ctx_c = phone(browser, javascript=javascript)
        page = ctx_c.new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        assert "token" not in page.url and page.url.endswith("/w/c/")
        month = page.locator("#plans tr", has_text=ROUND).inner_text()
        assert f"已完成 1 / {len(teams)} 家" in month  # the month says how far the round is
        if javascript:  # the month's rows are blocks on a phone: nothing out of sight
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(shots / "5-coordinator-month.png"), full_page=True)
        page.goto(f"{base}/w/c/rounds/{ROUND}")
        row = page.locator(f"#e-{code}").inner_text()
        assert "已完成" in row and "未发现问题" in row
        page.screenshot(path=str(shots / "6-coordinator-round.png"), full_page=True)

        # publish: the public site shows the result
        out = tmp_path / "site"
        publish(engine, out, settings=get_settings(), bundles=False)
        page.goto((out / "rounds" / ROUND / "index.html").resolve().as_uri())
        text = page.locator("body").inner_text()
        assert code in text and "未发现问题" in text
        page.screenshot(path=str(shots / "7-public-round.png"), full_page=True)
        ctx_c.close()
    assert len(list(shots.glob("*.png"))) == 7
