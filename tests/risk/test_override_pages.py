"""An override of an enterprise's class (调整) requested and approved on the coordinator's
pages: it could be only on the command line (``risk override``, ``risk approve``), so a
coordinator who read on the page why an enterprise is class D could not act on it there. Now
the class page has 申请调整 (a class and a reason) and, for a pending override asked by another
coordinator, 批准调整; through ``risk.overrides``, so the rules stay theirs: the one who asked
does not approve (the page offers no button and the service refuses a posted one, said in
Chinese), an override is approved once (409), a bad class or no reason is named in Chinese and
nothing is recorded, the same request sent twice (a double click) is recorded once, each step
audited. In Chromium at 390 px with JavaScript off and over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from risk import rules as risk_rules
from risk.classify import classes_in_force, classify
from risk.models import RiskOverride
from rounds import audit
from shuangsui.config import get_settings
from tests.browser import headless, phone
from tests.findings.live import serve
from tests.rounds.factories import seed_registry
from tests.workspace.helpers import csrf_of, sign_in, sign_in_page


@pytest.fixture
def bureau(engine: sa.Engine) -> Iterator[tuple[str, dict[str, str], list[str]]]:
    """A classified registry, two coordinators (陈明 and 林芳) by their tokens, the app."""
    codes = seed_registry(engine, enterprises=4)
    bureau_code = get_settings().bureau_code
    who = {name: tokens.create_coordinator(engine, name, bureau_code) for name in ("陈明", "林芳")}
    classify(engine, risk_rules.load(), as_of=dt.date(2026, 11, 30), by="陈明")
    with serve(create_app(engine=engine)) as base:
        yield base, who, codes


def _overrides(engine: sa.Engine) -> list[RiskOverride]:
    with Session(engine) as s:
        return list(s.exec(select(RiskOverride).order_by(RiskOverride.id)).all())


def _events(engine: sa.Engine) -> list[tuple[str, dict]]:
    with Session(engine) as s:
        chain = audit.load_chain(s)
    return [(e.event, json.loads(e.payload)) for e in chain if e.event.startswith("RiskOverride")]


def _in_force(engine: sa.Engine, code: str) -> str | None:
    with engine.connect() as conn:
        return classes_in_force(conn).get(code)


def test_two_coordinators_override_a_class_on_the_pages(
    bureau: tuple[str, dict[str, str], list[str]], engine: sa.Engine
) -> None:
    base, who, codes = bureau
    code = codes[0]
    with headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, f"{base}/w/c/open?token={who['陈明']}")
        page.goto(f"{base}/w/c/risk/{code}")
        page.get_by_label("调整为").select_option("D")
        page.get_by_label("理由（必填").fill("现场发现伪造证书，待立案")
        page.get_by_role("button", name="申请调整").click()
        assert "已申请调整：须由另一名协调员批准后才生效" in page.locator("#done").inner_text()
        assert "待另一名协调员批准，尚未生效" in page.locator("#overrides").inner_text()
        assert page.get_by_role("button", name=re.compile("批准调整")).count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert _in_force(engine, code) == "A"  # pending: not in force

        other = phone(browser).new_page()
        sign_in_page(other, f"{base}/w/c/open?token={who['林芳']}")
        other.goto(f"{base}/w/c/risk/{code}")
        other.get_by_role("button", name="批准调整 1").click()
        assert "已批准" in other.locator("#done").inner_text()
        assert "当前类别：D 类（信用风险高）" in other.locator("#class").inner_text()
        assert "现行有效" in other.locator("#overrides").inner_text()
    assert _in_force(engine, code) == "D"
    (row,) = _overrides(engine)
    assert (row.requested_by, row.approved_by, row.reason) == (
        "陈明",
        "林芳",
        "现场发现伪造证书，待立案",
    )
    events = [(e, p["requested_by"], p.get("approved_by")) for e, p in _events(engine)]
    assert events == [("RiskOverrideRequested", "陈明", None),
                      ("RiskOverrideApproved", "陈明", "林芳")]  # fmt: skip


def test_the_rules_of_overrides_hold_on_the_pages_and_are_said_in_chinese(
    bureau: tuple[str, dict[str, str], list[str]], engine: sa.Engine
) -> None:
    base, who, codes = bureau
    code = codes[1]
    path = f"/w/c/risk/{code}"
    with httpx.Client(base_url=base) as mine, httpx.Client(base_url=base) as theirs:
        assert sign_in(mine, f"/w/c/open?token={who['陈明']}").status_code == 303
        assert sign_in(theirs, f"/w/c/open?token={who['林芳']}").status_code == 303
        csrf = csrf_of(mine.get(path).text)
        no_class = mine.post(path, data={"csrf": csrf, "risk_class": "E",
                                                        "reason": "复查"})  # fmt: skip
        no_reason = mine.post(path, data={"csrf": csrf, "risk_class": "C",
                                                         "reason": " "})  # fmt: skip
        twice = mine.post(path, data={"csrf": csrf, "risk_class": ["C", "D"],
                                                     "reason": "复查"})  # fmt: skip
        assert _overrides(engine) == []
        form = {"csrf": csrf, "risk_class": "C", "reason": "两次投诉属实"}
        first = mine.post(path, data=form)
        again = mine.post(path, data=form)  # a double click: one override
        (row,) = _overrides(engine)
        own = mine.post(f"{path}/accept", data={"csrf": csrf, "override": str(row.id)})
        their_csrf = csrf_of(theirs.get(path).text)
        approved = theirs.post(f"{path}/accept", data={"csrf": their_csrf,
                                                         "override": str(row.id)})  # fmt: skip
        second = theirs.post(f"{path}/accept", data={"csrf": their_csrf,
                                                       "override": str(row.id)})  # fmt: skip
        elsewhere = theirs.post(f"/w/c/risk/{codes[2]}/accept", data={"csrf": their_csrf,
                                "override": str(row.id)})  # fmt: skip
    assert no_class.status_code == 422 and "调整为：请从 A、B、C、D 中选择" in no_class.text
    assert no_reason.status_code == 422 and "理由：必填" in no_reason.text
    assert twice.status_code == 422 and "调整为：表单中填写了不止一次" in twice.text
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert (
        own.status_code == 422 and f"调整 {row.id} 由 陈明 申请，须由另一名协调员批准" in own.text
    )
    assert approved.status_code == 303
    assert second.status_code == 409 and f"调整 {row.id} 已经批准过（林芳）" in second.text
    assert elsewhere.status_code == 422 and "本企业没有这项调整" in elsewhere.text
    assert [e for e, _ in _events(engine)] == ["RiskOverrideRequested", "RiskOverrideApproved"]
    assert _in_force(engine, code) == "C"
