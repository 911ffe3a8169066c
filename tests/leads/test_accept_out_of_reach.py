"""A lead is not accepted for a check item whose rounds can never target its enterprise: one
the registry holds as deregistered (注销) or revoked (吊销), one in a division outside this
bureau's jurisdiction (a firm of another province the registry took in), or one holding no
certificate of a kind the check item covers. A round's frame takes none of them, so such a
lead was accepted, left ``accepted`` by every round committed after, and waited unsaid until
it was overdue. Now ``accept`` refuses it naming why (422, the API; exit 2, the command line;
in Chinese on the lead's page), the lead left received; an enterprise a round can take is
accepted and targeted by the next round as before. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from api.app import create_app
from leads import service
from leads.models import LeadStatus
from registry.models import Certificate, Enterprise, EnterpriseStatus
from rounds import service as rounds
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.deploy.procs import shuangsui
from tests.rounds.factories import credit_code, plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in_page
from tests.workspace.test_lead_unregistered import _lead
from tests.workspace.test_leads_pages import _desk

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _registry(engine: sa.Engine) -> dict[str, str]:
    """The registry, with a deregistered firm, one holding only an organic certificate and one
    of Shanghai (310115) holding a CCC certificate; name: credit code."""
    codes = seed_registry(engine, enterprises=8)
    shanghai = credit_code(random.Random(5), "310115")
    with Session(engine) as s:
        gone = s.get(Enterprise, codes[1])
        assert gone is not None
        gone.status = EnterpriseStatus.deregistered
        s.add(gone)
        cert = s.get(Certificate, ("CQC", "2026010000000002"))
        assert cert is not None and cert.credit_code == codes[2]
        cert.kind = "organic"  # type: ignore[assignment]
        s.add(cert)
        s.add(Enterprise(credit_code=shanghai, name="上海测试企业有限公司",
                         division_code="310115", updated_at=NOW))  # fmt: skip
        s.flush()
        s.add(Certificate(body="CQC", number="2026019999999999", credit_code=shanghai,
                          kind="ccc", issued_on=dt.date(2025, 1, 1),  # type: ignore[arg-type]
                          expires_on=dt.date(2030, 1, 1), updated_at=NOW))  # fmt: skip
        s.commit()
    return {"ok": codes[0], "deregistered": codes[1], "organic": codes[2], "shanghai": shanghai}


SAID = {  # the refusal's start, by the API and the command line
    "deregistered": "credit_code: {code} is deregistered in the registry of enterprises, not "
    "active, so no round can target it",
    "organic": "check_item: CCC-01 covers ccc certificates and {code} holds none of them (it "
    "holds organic), so no round of CCC-01 can target it",
    "shanghai": "credit_code: {code} lies in division 310115, outside this bureau's "
    "jurisdiction 350000, so no round of ours can target it",
}


def test_the_api_and_the_command_line_refuse_and_the_round_targets_the_rest(
    engine: sa.Engine, tmp_path: Path, db_url: str
) -> None:
    codes = _registry(engine)
    assert get_settings().bureau_code == "350000"
    token = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    client = TestClient(create_app(engine=engine))
    auth = {"Authorization": f"Bearer {token}"}
    leads = {name: _lead(engine, code) for name, code in codes.items()}
    for name, expected in SAID.items():
        sent = client.post(f"/leads/{leads[name]}/accept", json={"check_item": "CCC-01"},
                           headers=auth)  # fmt: skip
        assert sent.status_code == 422, (name, sent.text)
        assert sent.json()["detail"].startswith(expected.format(code=codes[name])), sent.text
        assert service.get(engine, leads[name]).status is LeadStatus.received

    said = shuangsui(tmp_path, "leads", "accept", str(leads["deregistered"]), "--check-item",
                     "CCC-01", "--by", "林科长", SHUANGSUI_DATABASE_URL=db_url)  # fmt: skip
    expected = SAID["deregistered"].format(code=codes["deregistered"])
    assert (said.returncode, said.stdout) == (2, ""), said.stderr
    assert said.stderr.startswith(f"error: {expected}"), said.stderr
    said = shuangsui(tmp_path, "leads", "accept", str(leads["organic"]), "--check-item",
                     "CCC-01", "--by", "林科长", SHUANGSUI_DATABASE_URL=db_url)  # fmt: skip
    assert said.returncode == 2 and said.stderr.startswith("error: --check-item: CCC-01 covers")
    assert service.get(engine, leads["deregistered"]).status is LeadStatus.received

    done = client.post(f"/leads/{leads['ok']}/accept", json={"check_item": "CCC-01"},
                       headers=auth)  # fmt: skip
    assert done.status_code == 200, done.text
    rounds.commit_round(engine=engine, plan_text=plan_yaml(), accept="test")
    assert service.get(engine, leads["ok"]).status is LeadStatus.targeted
    # the others can be merged or rejected as before
    rejected = client.post(f"/leads/{leads['organic']}/reject", json={"reason": "非本事项"},
                           headers=auth)  # fmt: skip
    assert rejected.status_code == 200, rejected.text


def test_the_leads_page_says_why_in_chinese(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP each case; in Chromium at 390 px with JavaScript off the lead of Shanghai's
    firm: the lead's page again (422), why above 受理, the check item still chosen."""
    codes = _registry(engine)
    plans_folder(tmp_path, monkeypatch)
    leads = {name: _lead(engine, codes[name]) for name in SAID}
    words = {"deregistered": "状态为“注销”", "organic": "检查的认证类别为强制性产品认证",
             "shanghai": "行政区划 310115 不在本局辖区 350000 内"}  # fmt: skip
    with _desk(engine) as desk:
        with desk.signed_in() as http:
            for name, lead in leads.items():
                page = http.get(f"/w/c/leads/{lead}")
                form: dict[str, Any] = {"csrf": csrf_of(page.text), "check_item": "CCC-01"}
                sent = http.post(f"/w/c/leads/{lead}/accept", data=form)
                assert sent.status_code == 422, (name, sent.text[:300])
                above = sent.text.split('id="accept"', 1)[1].split("<form", 1)[0]
                assert 'id="refused"' in above and words[name] in above, name
                assert '<option value="CCC-01" selected>' in sent.text
                assert not re.search(r"covers|jurisdiction|deregistered", sent.text), name
                assert service.get(engine, lead).status is LeadStatus.received
        with headless() as browser:
            tab = phone(browser).new_page()  # JavaScript off
            sign_in_page(tab, f"{desk.base}/w/c/open?token={desk.token}")
            tab.goto(f"{desk.base}/w/c/leads/{leads['shanghai']}")
            tab.select_option("#check_item", "CCC-01")
            with tab.expect_navigation():
                tab.get_by_role("button", name="受理", exact=True).click()
            refused = tab.locator("#accept #refused").inner_text()
            assert words["shanghai"] in refused and "移送" in refused, refused
            assert tab.locator("#check_item").input_value() == "CCC-01"
            assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert service.get(engine, leads["shanghai"]).status is LeadStatus.received
