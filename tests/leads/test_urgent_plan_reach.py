"""An urgent lead's ad hoc round is of a plan whose population takes the lead's enterprise. The
plan was checked only to be of the check item accepted: a plan of other divisions, of valid
certificates only (the firm's is suspended) or directed to other industries was taken, the lead
accepted and its round started, and the round's frame could not hold the firm (a lead's cause
outside the population is ignored): the lead waited unsaid. Now the accept is refused naming
the lead, the enterprise and why (422, the API; in Chinese on the lead's page), nothing
accepted and no round started; a plan that takes the firm starts its round as before. SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from leads import service
from leads.models import LeadStatus
from registry.models import Certificate
from tests.leads.test_triage import Desk
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of
from tests.workspace.test_lead_unregistered import _lead
from tests.workspace.test_leads_pages import _desk

ALL = "  divisions: ['350000']"
PLANS = {  # every one of CCC-01 and of this month
    "ccc.yaml": plan_yaml(),
    "xiamen.yaml": plan_yaml(plan_id="ccc-xm-2026-12", division="350200"),
    "directed.yaml": plan_yaml(plan_id="ccc-c38-2026-12").replace(
        ALL, f"{ALL}\n  directed: true\n  industries: ['C38']"
    ),
}


def _registry(engine: sa.Engine) -> list[str]:
    """Firms of 350100, 350200, 350500 and 350600, each holding a valid CCC certificate but
    the third, whose certificate is suspended; none with an industry recorded."""
    codes = seed_registry(engine, enterprises=8)
    with Session(engine) as s:
        cert = s.get(Certificate, ("CQC", "2026010000000002"))
        assert cert is not None and cert.credit_code == codes[2]
        cert.status = "suspended"  # type: ignore[assignment]
        s.add(cert)
        s.commit()
    return codes


def _said(plan: str, code: str, lead: int, why: str) -> str:
    return f"adhoc_plan: plan {plan} cannot draw the enterprise {code} of lead {lead}: {why}"


def test_the_api_refuses_a_plan_that_cannot_draw_the_lead_s_enterprise(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _registry(engine)
    plans_folder(tmp_path, monkeypatch, files=PLANS)
    desk = Desk(engine)
    cases = [  # (firm, plan, why)
        (codes[0], "ccc-xm-2026-12",
         "it lies in division 350100, outside the plan's divisions 3502"),
        (codes[2], "ccc-2026-12", "the plan takes enterprises holding a ccc certificate that "
         "is valid, and it holds none (it holds: ccc suspended)"),
        (codes[3], "ccc-c38-2026-12",
         "the plan is directed to industries C38 and its industry is not recorded"),
    ]  # fmt: skip
    for code, plan, why in cases:
        lead = desk.lead(code)
        sent = desk.post(f"/leads/{lead}/accept", {"check_item": "CCC-01", "urgent": True,
                                                   "adhoc_plan": plan})  # fmt: skip
        assert sent.status_code == 422, (plan, sent.text)
        assert sent.json()["detail"].startswith(_said(plan, code, lead, why)), sent.text
        assert service.get(engine, lead).status is LeadStatus.received
    assert desk.adhoc == []  # no round started
    lead = desk.lead(codes[1])  # of 350200: Xiamen's plan takes it
    done = desk.post(f"/leads/{lead}/accept", {"check_item": "CCC-01", "urgent": True,
                                               "adhoc_plan": "ccc-xm-2026-12"})  # fmt: skip
    assert done.status_code == 200, done.text
    assert [p["plan"] for p in desk.adhoc] == ["ccc-xm-2026-12"]
    assert service.get(engine, lead).status is LeadStatus.accepted


def test_the_lead_s_page_says_why_in_chinese(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _registry(engine)
    plans_folder(tmp_path, monkeypatch, files=PLANS)
    lead, fine = _lead(engine, codes[0]), _lead(engine, codes[4])  # both of 350100
    with _desk(engine) as desk, desk.signed_in() as http:
        form: dict[str, Any] = {"csrf": csrf_of(http.get(f"/w/c/leads/{lead}").text),
                                "check_item": "CCC-01", "urgent": "1",
                                "adhoc_plan": "ccc-xm-2026-12"}  # fmt: skip
        sent = http.post(f"/w/c/leads/{lead}/accept", data=form)
        assert sent.status_code == 422, sent.text[:300]
        above = sent.text.split('id="accept"', 1)[1].split("<form", 1)[0]
        assert 'id="refused"' in above, above
        assert f"计划 ccc-xm-2026-12 不能抽到线索 {lead} 的企业 {codes[0]}" in above, above
        assert "行政区划 350100 不在该计划的区划 3502 内" in above, above
        assert service.get(engine, lead).status is LeadStatus.received
        assert desk.started == []
        form["csrf"] = csrf_of(http.get(f"/w/c/leads/{fine}").text)
        form["adhoc_plan"] = "ccc-2026-12"
        done = http.post(f"/w/c/leads/{fine}/accept", data=form)
        assert done.status_code == 303, done.text[:300]
        assert [p["plan"] for p in desk.started] == ["ccc-2026-12"]
