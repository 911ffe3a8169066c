"""The coordinator gives a team's check a new date with no one withdrawn (延期), from the
enterprise's page (workspace/redates.py; rounds/redates.py): a date and why; every member's
date moves and the page says so; a refusal says why in Chinese, with the form as it was sent,
and nothing is written. Over real HTTP, and in a real browser on a phone with JavaScript off.

Before, a check's date moved only with a replacement: the page had no other way."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds.models import Assignment, AuditEvent, DueChange
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND, final_finding
from tests.workspace.helpers import COORDINATOR, coordinator_client, csrf_of, sign_in_page
from workspace import redates

LATER = "2027-01-22"  # the pinned today (tests/conftest.py) is 2026-12-07


def _section(html: str, section: str) -> str:
    return html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]


def _dues(engine: sa.Engine, code: str) -> list[dt.date]:
    with Session(engine) as s:
        return list(s.exec(select(Assignment.due_on).where(Assignment.credit_code == code)).all())


def _count(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(DueChange)).all())


def test_a_new_date_from_the_page_is_every_member_s(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        before = http.get(page)
        sent = {"csrf": csrf_of(before.text), "due_on": LATER, "reason": "企业停产整顿一个月"}
        done = http.post(f"{page}/redate", data=sent)
        after = http.get(done.headers["location"])
    form = _section(before.text, "redate")
    assert "延长/调整完成期限" in form and "现在的完成期限：2026-12-31" in form
    assert re.search(r'<label for="redate-due-on">新的完成期限[^<]*</label>\s*<input type="date" '
                     r'id="redate-due-on" name="due_on"', form)  # fmt: skip
    assert '<label for="redate-reason">原因（记入审计日志）</label>' in form
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{page}?redated=1#redate"
    assert _dues(engine, code) == [dt.date.fromisoformat(LATER)] * 2
    banner = _section(after.text, "redated")
    assert f"全组的完成期限由 2026-12-31 改为 {LATER}" in banner
    record = _section(after.text, "redate")
    for said in (f"由 2026-12-31 改为 {LATER}", "企业停产整顿一个月", f"协调员 {COORDINATOR}",
                 "北京时间"):  # fmt: skip
        assert said in record, said
    assert f"截止 {LATER}" in _section(after.text, "state")
    with Session(engine) as s:
        (event,) = s.exec(select(AuditEvent).where(AuditEvent.event == "DueDateMoved")).all()
    said = json.loads(event.payload)
    assert (said["due_on"], said["recorded_by"]) == (LATER, COORDINATOR)


def test_a_refused_date_is_said_in_chinese_and_kept_and_nothing_is_written(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        blank = http.post(f"{page}/redate", data={"csrf": csrf, "due_on": LATER, "reason": " "})
        past = http.post(f"{page}/redate", data={"csrf": csrf, "due_on": "2026-12-01",
                                                 "reason": "延期"})  # fmt: skip
        same = http.post(f"{page}/redate", data={"csrf": csrf, "due_on": "2026-12-31",
                                                 "reason": "延期"})  # fmt: skip
        typed = http.post(f"{page}/redate", data={"csrf": csrf, "due_on": "下周五",
                                                  "reason": "等待检测报告"})  # fmt: skip
    assert blank.status_code == 422
    assert "原因：必填" in _section(blank.text, "redate-refused")
    assert f'value="{LATER}"' in _section(blank.text, "redate")  # kept as sent
    assert past.status_code == 422 and "不能早于今天" in _section(past.text, "redate-refused")
    assert same.status_code == 422 and "与现在的完成期限相同" in same.text
    assert typed.status_code == 422 and "请按 年-月-日 填写日期" in typed.text
    form = _section(typed.text, "redate")
    assert 'value="下周五"' in form and ">等待检测报告</textarea>" in form
    assert _count(engine) == 0 and _dues(engine, code) == [dt.date(2026, 12, 31)] * 2


def test_a_final_finding_offers_no_new_date(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, drawn, ssc = coordinator_live
    code, team = sorted(drawn.items())[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(page).text)
        final_finding(engine, code, team)
        shown = http.get(page)
        posted = http.post(f"{page}/redate", data={"csrf": csrf, "due_on": LATER,
                                                   "reason": "延期"})  # fmt: skip
    assert "检查结果已定稿" in _section(shown.text, "redate-closed")
    assert 'action="' not in _section(shown.text, "redate")
    assert posted.status_code == 409 and "已定稿" in _section(posted.text, "redate-refused")
    assert _count(engine) == 0


def test_every_refusal_of_the_service_is_said_in_chinese() -> None:
    """Each kind of refusal a new date can meet has the page's words."""
    from rounds.replacements import Refused

    replacement_only = {
        "cause", "note-missing", "note-long", "note-unprintable", "inspector-unprintable",
        "not-on-team", "no-one-left", "due-gone",
    }  # fmt: skip
    assert set(redates.SAID) == set(Refused.KINDS) - replacement_only | {"raced"}


@pytest.mark.slow
def test_on_a_phone_without_javascript_a_check_is_given_a_new_date(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, drawn, ssc = coordinator_live
    code = sorted(drawn)[0]
    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}/e/{code}")
        form = page.locator("#redate form")
        form.get_by_label("新的完成期限（今天至一年内）").fill(LATER)
        form.get_by_label("原因（记入审计日志）").fill("   ")  # filled, but only spaces
        page.screenshot(path=str(tmp_path / "redate-form.png"), full_page=True)
        form.get_by_role("button", name="调整完成期限").click()
        refused = page.locator("#redate-refused").inner_text()
        kept = page.locator("#redate-due-on").input_value()
        page.screenshot(path=str(tmp_path / "redate-refused.png"), full_page=True)
        refused_width = page.evaluate("document.documentElement.scrollWidth")
        page.locator("#redate form").get_by_label("原因（记入审计日志）").fill("企业停业整顿")
        page.locator("#redate form").get_by_role("button", name="调整完成期限").click()
        redated = page.locator("#redated").inner_text()
        page.screenshot(path=str(tmp_path / "redated.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
    assert "原因：必填" in refused and kept == LATER
    assert f"改为 {LATER}" in redated
    assert _dues(engine, code) == [dt.date.fromisoformat(LATER)] * 2
    assert max(refused_width, width) <= PHONE["width"]


def test_a_replacement_keeping_a_near_date_shows_a_banner_suggesting_a_new_one(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, drawn, ssc = coordinator_live
    (near, near_team), (far, far_team), *_ = sorted(drawn.items())

    def withdraw(http: httpx.Client, code: str, who: str) -> str:
        page = f"/w/c/rounds/{ROUND}/e/{code}"
        csrf = csrf_of(http.get(page).text)
        form = {"csrf": csrf, "inspector_id": who, "cause": "left", "note": "调离"}
        done = http.post(f"{page}/replace", data=form)
        assert done.status_code == 303, done.text
        return http.get(done.headers["location"]).text

    with coordinator_client(base, ssc) as http:
        far_page = withdraw(http, far, far_team[1])
        monkeypatch.setattr("rounds.replacements.bureau_today", lambda: dt.date(2026, 12, 30))
        near_page = withdraw(http, near, near_team[1])
    assert 'id="due-soon"' not in far_page
    banner = _section(near_page, "due-soon")
    assert "完成期限 2026-12-31 距今仅 1 个工作日" in banner and 'href="#redate"' in banner
    assert re.search(r"例如 2027-\d\d-\d\d", banner)
    assert "延长/调整完成期限" in _section(near_page, "redate")
