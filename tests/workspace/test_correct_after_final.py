"""An inspector corrects a result both members have signed, from the assignment page, in
Chromium at 390 px with JavaScript off: the page of a final finding offers the correction (a
new version with its reason), the form starts from the signed version, the teammate signs the
correction and it becomes the result; the post sent again (a phone that lost the network
mid-submit) adds nothing. Before, a final finding's page had no form, and the inspector who
found a mistake after sign-off had no way to correct it there (the API took the same
correction with the same link's token)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api.app import create_app
from findings import service
from registry.models import Inspector
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding
from tests.findings.live import serve
from tests.workspace.helpers import delivered_round, outbox_link, sign_in_page

CHECKED = dt.date(2026, 12, 7)  # the first day of the round's window
REASON = "复核：企业已停产该认证产品，原结果填错"


@pytest.mark.slow
def test_a_final_result_is_corrected_from_the_page_and_signed_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    teams = delivered_round(engine, monkeypatch)
    code, (a, b) = sorted(teams.items())[0]
    final_finding(engine, code, [a, b], check_date=CHECKED, description="现场核对，一致")

    with serve(create_app(engine=engine)) as base, headless() as browser:
        ctx_a = phone(browser)
        page = ctx_a.new_page()
        sign_in_page(page, outbox_link(code, a, base))
        assert page.locator("#state h1").inner_text().startswith("已完成：第 1 版")
        entry = page.locator("#entry")
        assert "已确认的结果有误？提交更正" in entry.locator("summary").inner_text()
        page.locator("#entry summary").click()
        assert "两名检查人员都签字确认更正后" in page.locator("#correct-final").inner_text()
        # the form starts from the signed version
        assert page.get_by_label("检查日期").input_value() == CHECKED.isoformat()
        assert page.get_by_label("检查情况").input_value() == "现场核对，一致"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "1-final-correction-open.png"), full_page=True)

        page.get_by_label("检查结果").select_option(label="未发现开展本次抽查涉及的经营活动")
        page.get_by_label("更正理由（必填）").fill(REASON)
        sent: dict[str, Any] = {}
        page.on("request", lambda r: r.method == "POST" and sent.setdefault("post", r))
        page.get_by_role("button", name="提交更正并签字").click()
        page.wait_for_url(f"**/w/a/{ROUND}/{code}?submitted=1")
        assert page.locator("#state h1").inner_text() == f"待 {_name(engine, b)} 签字确认"
        assert REASON in page.locator("#submitted").inner_text()
        page.screenshot(path=str(tmp_path / "2-correction-submitted.png"), full_page=True)

        # the same post again, as a browser resends it after losing the answer: no new version
        post = sent["post"]
        again = ctx_a.request.post(
            post.url,
            data=post.post_data_buffer,
            headers={"content-type": post.headers["content-type"], "origin": base},
            max_redirects=0,
        )
        assert again.status == 303
        ctx_a.close()
        hist = service.history(engine, ROUND, code)
        assert [v.result.value for v in hist.versions] == ["no_problem", "no_activity"]
        assert hist.states[0].final and not hist.states[1].final  # v1 stands until both sign

        ctx_b = phone(browser)
        page = ctx_b.new_page()
        sign_in_page(page, outbox_link(code, b, base))
        page.get_by_role("button", name="签字确认第 2 版").click()
        page.wait_for_url("**?signed=1")
        assert page.locator("#state h1").inner_text().startswith("已完成：第 2 版")
        assert "已确认，已被第 2 版更正" in page.locator("#history").inner_text()
        page.screenshot(path=str(tmp_path / "3-correction-final.png"), full_page=True)
        ctx_b.close()

    hist = service.history(engine, ROUND, code)
    assert hist.states[1].final and hist.versions[1].reason == REASON


def _name(engine: sa.Engine, inspector_id: str) -> str:
    with Session(engine) as s:
        found = s.get(Inspector, inspector_id)
    assert found is not None
    return found.name
