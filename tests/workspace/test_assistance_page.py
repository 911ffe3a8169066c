"""执法协查 in the workspace: a partner's assistance request answered from a page. Before it a
coordinator could see, accept or decline a request only with ``shuangsui partners assist``.

Shanghai (a real server on loopback) asks us for a check of an enterprise of our registry; our
sync pulls it. In Chromium at 390 px with JavaScript off the coordinator finds it from the
partners page, with the enterprise named, and accepts: the team is drawn and shown by name,
the answer is in our signed log and the audit chain says who gave it. A decline without a
reason, with U+202E, or past the field's 1,000 characters, is refused naming 理由 and answers
nothing; a second coordinator's form, sent after the answer, is told the answer given stands;
a request that is not ours is a 404. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import tokens
from exchange.models import AssistanceCase, ExchangeEntry
from notifications.models import Notification, NotificationKind
from registry.models import Enterprise, Inspector
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.exchange.bureaus import asked_by_shanghai
from tests.workspace.helpers import coordinator_client, csrf_of, sign_in_page

REQUEST = "310000-00c0ffee00"


def _case(engine: sa.Engine) -> AssistanceCase:
    with Session(engine) as s:
        case = s.get(AssistanceCase, ("310000", REQUEST))
        assert case is not None
        return case


def _answers(engine: sa.Engine) -> list[dict]:
    with Session(engine) as s:
        shared = s.exec(select(ExchangeEntry.body).where(
            col(ExchangeEntry.kind) == "assistance-answer")).all()  # fmt: skip
    return [json.loads(b)["body"] for b in shared]


@pytest.mark.slow
def test_a_partners_request_is_answered_from_the_page(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    code = sorted(teams)[0]
    with Session(engine) as s:
        firm = s.get(Enterprise, code)
        assert firm is not None
        name, division = firm.name, firm.division_code
    request = {"request_id": REQUEST, "credit_code": code, "division": division,
               "check_item": "CCC-01", "cert_kinds": ["ccc"],
               "reason": "证书由上海监管，工厂在福建",
               "window": {"start": "2026-12-10", "end": "2026-12-31"}}  # fmt: skip
    other = tokens.create_coordinator(engine, "王协调", get_settings().bureau_code)
    with asked_by_shanghai(engine, tmp_path, request), headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/")  # the month page says a request waits, and links it
        assert (
            "1 件协作机关的执法协查请求待本局答复"
            in page.locator("#assistance-pending").inner_text()
        )
        page.goto(f"{base}/w/c/partners")
        page.click("text=执法协查：协作机关的请求与本局的请求")
        pending = page.locator("#pending").inner_text()
        assert "待本局答复（1）" in pending and name in pending and code in pending
        assert "证书由上海监管，工厂在福建" in pending and "2026-12-10 至 2026-12-31" in pending
        assert "强制性产品认证" in pending
        page.screenshot(path=str(tmp_path / "pending.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        with coordinator_client(base, other) as late:  # 王协调 opened the page too
            stale = csrf_of(late.get("/w/c/assistance").text)
            path = f"/w/c/assistance/310000/{REQUEST}/decline"
            for reason, said in (
                ("  ", "理由：不予协查须写明理由"),
                ("不在\u202e辖区", "理由：含有不可见或控制字符 U+202E"),
                # past the field's maxlength: it was signed and shared whole
                (
                    "企业不在本局辖区。" * 111 + "止止",
                    "理由：过长，最多 1000 个字（现为 1001 个字）",
                ),
            ):
                refused = late.post(path, data={"csrf": stale, "reason": reason})
                assert refused.status_code == 422 and said in refused.text, refused.text
            assert _case(engine).status == "pending" and _answers(engine) == []

            page.click("text=接受并抽取检查组")
            assert "已接受，检查组已按抽查规则抽取" in page.locator("#done").inner_text()
            page.screenshot(path=str(tmp_path / "accepted.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            case = _case(engine)
            assert case.status == "accepted" and case.answer is not None
            team = case.answer["team"]
            with Session(engine) as s:
                names = [s.get(Inspector, i).name for i in team]  # type: ignore[union-attr]
            answered = page.locator(f"#r-{REQUEST}").inner_text()
            assert "已接受" in answered and all(n in answered for n in names), answered

            after = late.post(path, data={"csrf": stale, "reason": "企业不在本局辖区"})
            assert after.status_code == 303 and "done=taken" in after.headers["location"]
            assert "已由其他协调员先行答复" in late.get(after.headers["location"]).text
        assert [a["decision"] for a in _answers(engine)] == ["accepted"]
        page.goto(f"{base}/w/c/")  # answered: nothing waits
        assert page.locator("#assistance-pending").count() == 0
        with Session(engine) as s:  # each member drawn is told of the task
            told = s.exec(select(Notification.recipient).where(
                col(Notification.kind) == NotificationKind.assistance_assigned)).all()  # fmt: skip
        assert sorted(told) == sorted(team)
        assert _case(engine).status == "accepted"
        with Session(engine) as s:
            audited = [json.loads(e.payload) for e in s.exec(select(AuditEvent)).all()
                       if e.event == "AssistanceAnswered"]  # fmt: skip
        assert [(a["decision"], a["by"], a["team"]) for a in audited] == [
            ("accepted", "李协调", team)
        ]
        with coordinator_client(base, ssc) as http:
            for wrong in ("310000/310000-ffffffffff", "310000/..%2F..%2Fetc", "x/y"):
                csrf = csrf_of(http.get("/w/c/assistance").text)
                got = http.post(f"/w/c/assistance/{wrong}/accept", data={"csrf": csrf})
                assert got.status_code == 404, (wrong, got.status_code)
            # a refused form's 继续 (a stale CSRF token): the request's place on the page
            stale = http.post(f"/w/c/assistance/310000/{REQUEST}/decline",
                              data={"csrf": "stale", "reason": "x"})  # fmt: skip
            assert stale.status_code == 403
            assert f'href="/w/c/assistance/310000/{REQUEST}">继续' in stale.text, stale.text
            back = http.get(f"/w/c/assistance/310000/{REQUEST}")
            assert back.status_code == 303
            assert back.headers["location"] == f"/w/c/assistance#r-{REQUEST}"


def test_the_page_without_requests_says_so(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, _teams, ssc = coordinator_live
    with coordinator_client(base, ssc) as http:
        page = http.get("/w/c/assistance")
    assert page.status_code == 200
    assert "没有待答复的协查请求" in page.text and "shuangsui partners assist request" in page.text
    with httpx.Client(base_url=base) as anonymous:
        assert anonymous.get("/w/c/assistance").status_code == 401
