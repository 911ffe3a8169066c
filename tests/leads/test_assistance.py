"""A partner's assistance request (协查请求), once pulled and verified, is also a lead."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session, select

from exchange.apply import Verified, apply_entries
from exchange.directory import Partner
from exchange.models import AssistanceCase
from leads.models import Lead, LeadSource, LeadStatus
from shuangsui.config import get_settings
from tests.leads.helpers import outside_code

SHANGHAI = Partner(code="310000", name="上海", division="310000",
                   base_url="https://sh.example.org", keys=())  # fmt: skip


def _request(seq: int, request_id: str, code: str, to: str) -> Verified:
    doc = {"id": f"assistance-request/{request_id}", "kind": "assistance-request",
           "body": {"request_id": request_id, "to": to, "credit_code": code,
                    "division": "350100", "check_item": "CCC-01", "cert_kinds": ["ccc"],
                    "reason": "我局受理投诉: 涉嫌冒用认证标志",
                    "window": {"start": "2026-12-07", "end": "2026-12-31"}}}  # fmt: skip
    data = json.dumps(doc, ensure_ascii=False).encode()
    return Verified(seq, data, doc, bytes([seq]) * 32)


def test_an_assistance_request_becomes_a_lead_once(engine: sa.Engine) -> None:
    us, code = get_settings().bureau_code, outside_code()
    entries = [_request(1, "310000-aa", code, us), _request(2, "310000-bb", code, "320000"),
               _request(3, "310000-cc", "NOT-A-CODE", us)]  # fmt: skip
    with Session(engine) as s:
        assert apply_entries(s, SHANGHAI, entries, us) == 3
        s.commit()
    with Session(engine) as s:  # pulled again: nothing new
        assert apply_entries(s, SHANGHAI, entries[:1], us) == 0
        s.commit()
        leads = s.exec(select(Lead)).all()
        cases = s.exec(select(AssistanceCase)).all()
    assert len(cases) == 2  # ours, and the one with a bad code: the case stays, no lead
    [lead] = leads
    assert lead.source is LeadSource.assistance_request and lead.credit_code == code
    assert lead.status is LeadStatus.received and lead.external_ref == "assistance:310000/310000-aa"
    assert lead.created_by == "partner:310000" and lead.allegation.startswith("我局受理投诉")
