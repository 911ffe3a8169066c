"""A registry, a coordinator token and an app for the leads' tests."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service as findings
from findings.models import Finding
from findings.schemas import FindingIn
from leads import service as leads
from leads.schemas import LeadIn
from rounds import service as rounds
from rounds.models import Assignment
from tests.rounds.factories import credit_code

DIGITS = "2718281828459045235360287"


def outside_code() -> str:
    """A valid credit code of no enterprise in the registry."""
    return credit_code(random.Random(99), "350100")


def draw(engine: sa.Engine, key: str) -> None:
    rounds.draw_round(
        engine=engine,
        round_key=key,
        entropy=rounds.EntropyInput(witness_digits=DIGITS, witnesses=("张三",)),
    )


def team(engine: sa.Engine, key: str, code: str) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(Assignment)
            .where(Assignment.round_key == key, Assignment.credit_code == code)
            .order_by(Assignment.position)  # type: ignore[arg-type]
        ).all()
    return [a.inspector_id for a in rows]


def final_finding(engine: sa.Engine, key: str, code: str, **kw: Any) -> int:
    """A final finding (submitted by the lead, signed by the rest); its finding id."""
    members = team(engine, key, code)
    data = FindingIn.model_validate(
        {"result": "mark_misused", "check_date": dt.date(2026, 12, 10)} | kw
    )
    v = findings.submit(engine, round_key=key, credit_code=code, data=data,
                        submitted_by=f"inspector:{members[0]}", signers=[members[0]])  # fmt: skip
    for member in members[1:]:
        findings.sign_off(
            engine, round_key=key, credit_code=code, version=v.version, inspector_id=member
        )
    with Session(engine) as s:
        row = s.exec(select(Finding).where(Finding.round_key == key, Finding.credit_code == code))
        found = row.one()
    assert found.id is not None
    return found.id


def complaint(engine: sa.Engine, code: str, by: str = "林科长") -> int:
    """A complaint about ``code`` received by ``by``: the new lead's id."""
    data = {"source": "complaint", "credit_code": code, "category": "虚假认证",
            "received_on": "2026-11-02"}  # fmt: skip
    lead = leads.receive(engine, LeadIn.model_validate(data), by=by)
    assert lead.id is not None
    return lead.id
