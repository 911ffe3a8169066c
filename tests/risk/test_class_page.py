"""Why an enterprise is in its class, on the coordinator's pages (``/w/c/risk``): only
``shuangsui risk explain`` said it, in English with the rules' keys (``floor: min_class D``,
``45 points -> class D (… D from 60)``), and no page showed a class at all. Now the page says
the class in force and where it comes from, each point in Chinese, the bounds, why a list
lifts a score of C to D, every override with who asked, who approved and why; the lookup form
names a wrong credit code in Chinese; a lead's page links its enterprise's class. In Chromium at
390 px with JavaScript off, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from api.app import create_app
from leads import service as leads
from leads.schemas import LeadIn
from registry.models import Enterprise
from risk import overrides
from risk import rules as risk_rules
from risk.classify import classify
from shuangsui.config import get_settings
from tests.browser import headless, phone
from tests.findings.live import serve
from tests.leads.helpers import outside_code
from tests.rounds.factories import seed_registry
from tests.workspace.helpers import sign_in, sign_in_page

AS_OF = dt.date(2026, 11, 30)


@pytest.fixture
def bureau(engine: sa.Engine) -> Iterator[tuple[str, str, list[str]]]:
    """A classified registry: the first enterprise on the serious-violation list (D by the
    list, C by its points), the second overridden to B and approved; the app's address and a
    coordinator's token."""
    codes = seed_registry(engine, enterprises=6)
    with Session(engine) as s:
        listed = s.get(Enterprise, codes[0])
        assert listed is not None
        listed.serious_violation = True
        s.add(listed)
        s.commit()
    token = tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    tokens.create_coordinator(engine, "林芳", get_settings().bureau_code)
    classify(engine, risk_rules.load(), as_of=AS_OF, by="陈明")
    asked = overrides.request(
        engine, credit_code=codes[1], risk_class="B", reason="整改后复查合格", by="陈明"
    )
    overrides.approve(engine, asked.id or 0, by="林芳")
    with serve(create_app(engine=engine)) as base:
        yield base, token, codes


def test_the_page_says_why_an_enterprise_is_class_d_in_chinese(
    bureau: tuple[str, str, list[str]],
) -> None:
    base, token, codes = bureau
    with headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={token}")
        page.get_by_role("link", name="信用风险分类").click()
        page.get_by_label("统一社会信用代码").fill(codes[0].lower())
        page.get_by_role("button", name="查看").click()
        assert page.url.endswith(f"/w/c/risk/{codes[0]}")
        said = page.locator("main").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "当前类别：D 类（信用风险高）" in said
    assert "依据：按规则计算的分类" in said
    assert f"分类基准日 {AS_OF}" in said and "规则 risk-2026-1" in said
    assert "列入严重违法失信名单" in said and "+40 分" in said
    assert "从未有过未发现问题的检查" in said and "+5 分" in said
    assert "合计 45 分" in said and "60 分起为 D 类" in said
    assert "按分数为 C 类；因列入名单，类别至少为 D 类" in said
    for key in ("serious_violation", "min_class", "clean_check", "never", "points", "class D"):
        assert key not in said, key


def test_an_override_is_said_with_who_asked_who_approved_and_why(
    bureau: tuple[str, str, list[str]],
) -> None:
    base, token, codes = bureau
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
        page = http.get(f"/w/c/risk/{codes[1]}")
        short = http.get("/w/c/risk", params={"code": codes[1][:16]})
        other = "0" if codes[1][17] != "0" else "1"
        wrong = http.get("/w/c/risk", params={"code": codes[1][:17] + other})
        missing = http.get("/w/c/risk", params={"code": outside_code()})
        junk = http.get("/w/c/risk/<script>")
    assert page.status_code == 200
    assert "当前类别：B 类（信用风险一般）" in page.text
    assert "依据：经批准的人工调整（计算结果为 A 类（信用风险低）" in page.text
    assert "理由：整改后复查合格" in page.text and "陈明 于" in page.text
    assert "林芳 于" in page.text and "现行有效" in page.text
    assert short.status_code == 422 and "统一社会信用代码：应为 18 位，现为 16 位" in short.text
    assert wrong.status_code == 422 and "统一社会信用代码：" in wrong.text
    assert missing.status_code == 422 and "名录库中没有统一社会信用代码为" in missing.text
    assert junk.status_code == 404 and "<script>" not in junk.text


def test_a_lead_page_links_its_enterprise_class(
    bureau: tuple[str, str, list[str]], engine: sa.Engine
) -> None:
    base, token, codes = bureau
    data = {"source": "complaint", "credit_code": codes[0], "category": "虚假认证",
            "received_on": AS_OF}  # fmt: skip
    lead = leads.receive(engine, LeadIn.model_validate(data), by="陈明")
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
        page = http.get(f"/w/c/leads/{lead.id}")
    assert f'href="/w/c/risk/{codes[0]}"' in page.text
