"""An urgent lead's ad hoc round is of a plan whose risk classes take the lead's enterprise. A
plan directed to some risk classes was taken whatever the enterprise's class: the lead was
accepted, its round started, and the round's frame, which draws only the plan's classes, could
not hold the firm, so the lead waited unsaid. The class that counts is the one in force as the
frame reads it (an approved override over the registry's). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from api.tokens import create_coordinator
from leads import service
from leads.models import LeadStatus
from registry.models import Enterprise
from risk import overrides
from rounds.plans import load_plan_text
from shuangsui.config import get_settings
from tests.leads.test_triage import Desk
from tests.leads.test_urgent_plan_reach import ALL, _said
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry


def _directed(plan_id: str, classes: str) -> str:
    return plan_yaml(plan_id=plan_id).replace(
        ALL, f"{ALL}\n  directed: true\n  risk_classes: [{classes}]"
    )


PLANS = {"a.yaml": _directed("ccc-a-2026-12", "A"), "d.yaml": _directed("ccc-d-2026-12", "D")}


def _accept(desk: Desk, code: str, plan: str) -> tuple[int, Any]:
    lead = desk.lead(code)
    sent = desk.post(f"/leads/{lead}/accept", {"check_item": "CCC-01", "urgent": True,
                                               "adhoc_plan": plan})  # fmt: skip
    return lead, sent


def test_a_plan_directed_to_other_risk_classes_is_refused(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = seed_registry(engine, enterprises=8)[0]
    with engine.begin() as conn:  # the registry's class: A
        conn.execute(
            sa.update(Enterprise).where(col(Enterprise.credit_code) == code).values(risk_class="A")
        )
    plans_folder(tmp_path, monkeypatch, files=PLANS)
    desk = Desk(engine)
    lead, sent = _accept(desk, code, "ccc-d-2026-12")
    assert sent.status_code == 422, sent.text
    why = "the plan is directed to risk classes D and its class in force is A"
    assert sent.json()["detail"].startswith(_said("ccc-d-2026-12", code, lead, why))
    assert service.get(engine, lead).status is LeadStatus.received
    assert desk.adhoc == []

    for name in ("陈明", "林芳"):  # the class in force, not the registry's: an override to D
        create_coordinator(engine, name, get_settings().bureau_code)
    asked = overrides.request(engine, credit_code=code, risk_class="D", reason="投诉核实",
                              by="陈明")  # fmt: skip
    assert asked.id is not None
    overrides.approve(engine, asked.id, by="林芳")
    lead, sent = _accept(desk, code, "ccc-a-2026-12")
    assert sent.status_code == 422, sent.text
    why = "the plan is directed to risk classes A and its class in force is D"
    assert sent.json()["detail"].startswith(_said("ccc-a-2026-12", code, lead, why))
    plan, _ = load_plan_text(PLANS["a.yaml"])  # as the lead's page says it
    missed = service.plan_misses(engine, service.get(engine, lead), plan)
    assert missed is not None
    assert "该计划定向抽查信用风险分类 A，该企业现行的风险分类为 D" in missed.chinese

    lead, sent = _accept(desk, code, "ccc-d-2026-12")
    assert sent.status_code == 200, sent.text
    assert [p["plan"] for p in desk.adhoc] == ["ccc-d-2026-12"]
    assert service.get(engine, lead).status is LeadStatus.accepted
