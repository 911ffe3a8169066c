"""The inspector's 提交 says every fault of the form at once. It said them one at a time: a
form whose measure lacked its deadline was refused for that alone, and only once the deadline
was written was its check date (outside the round's window, no 说明) refused; a date and a
certificate the enterprise does not hold, both refused by the service, were said as the first
of them. On a phone, each round trip is a page to scroll. Over real HTTP, both databases."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from findings import service
from tests.findings.factories import ROUND
from tests.workspace.helpers import csrf_of, open_assignment

# the test rounds' window is 2026-12-07 to 2026-12-31, and today 2026-12-31 (tests/conftest.py)
BEFORE_WINDOW = "2026-12-05"
DATE_SAID = f"检查日期 {BEFORE_WINDOW} 不在本轮检查期间（2026-12-07 至 2026-12-31）内"


def _faults(html: str) -> list[str]:
    """The refusal banner's items, as text."""
    found = re.search(r'<section class="banner banner-stop"[^>]*>(.*?)</section>', html, re.S)
    assert found, html[:500]
    return [
        re.sub(r"<[^>]+>", "", li).strip()
        for li in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)
    ]


def test_a_fault_of_the_form_and_its_date_are_said_together(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    form = {"result": "ordered_to_rectify", "check_date": BEFORE_WINDOW,
            "measure_kind": "rectify", "description": "铭牌不规范", "action": "submit"}  # fmt: skip
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        r = http.post(path, data={"csrf": csrf_of(html), **form})
        assert r.status_code == 422
        faults = _faults(r.text)
        assert len(faults) == 2, faults
        assert "责令限期改正须填写期限" in faults[0]
        assert faults[1].startswith(DATE_SAID), faults
        # with a 说明, the date is no fault: the measure alone is said
        r = http.post(path, data={"csrf": csrf_of(html), **form, "reason": "企业次日停产"})
        assert r.status_code == 422 and len(_faults(r.text)) == 1, _faults(r.text)
        # a date that is not one is said by the form alone, once
        r = http.post(path, data={"csrf": csrf_of(html), **form, "check_date": "2026-13-01"})
        assert r.status_code == 422
        dated = [f for f in _faults(r.text) if "检查日期" in f]
        assert dated == ["检查日期：应为日期，例如 2026-12-10"], dated
    assert service.history(engine, ROUND, code).versions == []


def test_the_services_faults_are_each_said(live: tuple[str, dict], engine: sa.Engine) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    form = {"result": "no_problem", "check_date": BEFORE_WINDOW, "cert:XX:1": "kept",
            "action": "submit"}  # fmt: skip
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        r = http.post(path, data={"csrf": csrf_of(html), **form})
        assert r.status_code == 422
        faults = _faults(r.text)
    assert len(faults) == 2, faults
    assert faults[0].startswith(DATE_SAID), faults
    assert faults[1].startswith(f"证书处理：XX 1 不是这家企业（{code}）的证书"), faults
    assert service.history(engine, ROUND, code).versions == []
