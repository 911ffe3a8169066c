"""The notice a redirect's query asks for (?signed=1, ?submitted=1, ?saved=1) is said only
while it holds: a member who signed version 1 and later opened the same tab again (a reload,
the browser brought back to the front) after a teammate's correction read 已签字确认 above
待 … 签字确认 and 我已核对，签字确认第 2 版: the query still said signed. Now the page says
it only while the latest version carries the member's signature (a draft saved: while the
member has one).

In Chromium at 390 px with JavaScript off (screenshots under the test's tmp folder), both
databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from findings.schemas import FindingIn
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import delivered_round, outbox_link, sign_in_page

SIGNED, SUBMITTED, SAVED = "已签字确认。", "已提交，并已记录您的签字。", "草稿已保存。"


@pytest.mark.slow
def test_a_notice_is_said_while_it_holds(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    teams = delivered_round(engine, monkeypatch)
    code, (a, b) = sorted(teams.items())[0]
    with serve(create_app(engine=engine)) as base, headless() as browser:
        pa, pb = phone(browser).new_page(), phone(browser).new_page()
        sign_in_page(pa, outbox_link(code, a, base))
        sign_in_page(pb, outbox_link(code, b, base))
        pa.get_by_label("检查结果").select_option(value="no_problem")
        pa.get_by_label("检查日期").fill("2026-12-10")
        pa.get_by_label("检查情况").fill("现场核对")
        pa.get_by_role("button", name="保存草稿").click()
        pa.wait_for_url("**?saved=1")
        assert pa.locator("#notice").inner_text() == SAVED
        pa.get_by_role("button", name="提交并签字").click()
        pa.wait_for_url("**?submitted=1")
        pa.go_back()  # the ?saved=1 page again: the draft went with the submission
        pa.reload()
        assert pa.locator("#notice").count() == 0
        pb.reload()
        pb.get_by_role("button", name="签字确认第 1 版").click()
        pb.wait_for_url("**?signed=1")
        assert pb.locator("#notice").inner_text() == SIGNED
        # a's correction, made on a's page: b's tab, opened again, awaits b's signature
        pa.goto(f"{base}/w/a/{ROUND}/{code}")
        pa.locator("#entry summary").click()
        pa.get_by_label("检查情况").fill("现场核对，补充铭牌照片")
        pa.get_by_label("更正理由（必填）").fill("补充说明")
        pa.get_by_role("button", name="提交更正并签字").click()
        pa.wait_for_url("**?submitted=1")
        assert pa.locator("#notice").inner_text() == SUBMITTED
        pb.reload()
        assert pb.locator("#notice").count() == 0, pb.locator("#notice").inner_text()
        assert pb.get_by_role("button", name="签字确认第 2 版").count() == 1
        assert pb.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        pb.screenshot(path=str(tmp_path / "1-b-reloaded.png"), full_page=True)
        # b corrects in turn: a's ?submitted=1 tab no longer says a submitted the latest
        service.submit(engine, round_key=ROUND, credit_code=code, data=_finding("b 的更正"),
                       submitted_by=f"inspector:{b}", signers=[b], base_version=2)  # fmt: skip
        pa.reload()
        assert pa.locator("#notice").count() == 0
        pa.screenshot(path=str(tmp_path / "2-a-reloaded.png"), full_page=True)
        pb.get_by_role("button", name="签字确认第 2 版").click()
        assert "已不是最新" in pb.locator("#errors").inner_text()


def _finding(description: str) -> FindingIn:
    return FindingIn.model_validate(
        {
            "result": "no_problem",
            "check_date": "2026-12-10",
            "description": description,
            "reason": "再次补充",
        }  # fmt: skip
    )
