"""Leads of two rounds answered in one go: their ``LeadAnswered`` events join the audit log in
the leads' order, each naming its own round, and the chain still verifies (each run of one
round's leads is chained in one insert, ``rounds.audit.add_many``)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session, col, select

from leads import service as leads
from leads.models import Lead, LeadStatus
from leads.targeting import sync_answers
from rounds import audit, service
from rounds.models import AuditEvent
from tests.leads.helpers import complaint, draw, final_finding
from tests.rounds.factories import plan_yaml, seed_registry


def test_leads_of_two_rounds_answered_in_their_order(engine: sa.Engine) -> None:
    codes = seed_registry(engine)
    first, second, third = (complaint(engine, codes[i]) for i in (3, 5, 7))
    for lead_id in (first, third):  # the first round targets these two
        leads.accept(engine, lead_id, check_item="CCC-01", by="林科长")
    a = service.commit_round(engine=engine, plan_text=plan_yaml())
    leads.accept(engine, second, check_item="CCC-01", by="林科长")
    b = service.commit_round(
        engine=engine, plan_text=plan_yaml(plan_id="ccc-2027-01", period="2027-01")
    )
    with Session(engine) as s:
        rounds_of = {lead.id: lead.round_key for lead in s.exec(select(Lead)).all()}
    assert rounds_of == {first: a.round_key, second: b.round_key, third: a.round_key}
    for key in (a.round_key, b.round_key):
        draw(engine, key)
    for lead_id, key in rounds_of.items():
        with Session(engine) as s:
            lead = s.get(Lead, lead_id)
            assert lead is not None
            code = lead.credit_code
        # the second round's window is next month's: its check was done early, with the reason
        final_finding(engine, key, code, reason="企业停产前提前检查")

    assert sync_answers(engine) == 3

    with Session(engine) as s:
        assert all(lead.status is LeadStatus.answered for lead in s.exec(select(Lead)).all())
        answered = s.exec(
            select(AuditEvent)
            .where(AuditEvent.event == "LeadAnswered")
            .order_by(col(AuditEvent.seq))
        ).all()
    assert [(json.loads(e.payload)["lead_id"], e.round_key) for e in answered] == [
        (first, a.round_key), (second, b.round_key), (third, a.round_key)
    ]  # fmt: skip
    assert audit.check_chain(engine) > 0
