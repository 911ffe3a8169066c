"""A lead of an enterprise the registry does not hold (a valid credit code): received and said
so, and not accepted until the registry takes the enterprise in, since no round's frame could
target it (it was accepted without a word, and waited for a round that could never come)."""

from __future__ import annotations

import datetime as dt
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api import tokens
from api.app import create_app
from leads.models import Lead, LeadStatus
from leads.service import not_in_registry
from registry.io import write_table
from registry.models import Certificate, Enterprise
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.leads.helpers import outside_code
from tests.rounds.factories import credit_code, seed_registry

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_a_lead_outside_the_registry_is_said_so_and_not_accepted(engine: sa.Engine) -> None:
    registered, code = seed_registry(engine, enterprises=8)[0], outside_code()
    token = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    client = TestClient(create_app(engine=engine))
    auth = {"Authorization": f"Bearer {token}"}

    def post(url: str, body: dict[str, Any]) -> Any:
        return client.post(url, json=body, headers=auth)

    def lead(credit_code: str) -> dict[str, Any]:
        made = post("/leads", {"source": "complaint", "credit_code": credit_code,
                               "category": "虚假认证", "received_on": "2026-11-02"})  # fmt: skip
        assert made.status_code == 201, made.text
        return dict(made.json())

    outside, inside = lead(code), lead(registered)
    assert (outside["in_registry"], inside["in_registry"]) == (False, True)
    assert client.get(f"/leads/{outside['id']}", headers=auth).json()["in_registry"] is False

    refused = post(f"/leads/{outside['id']}/accept", {"check_item": "CCC-01"})
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith(f"credit_code: {code} is not in the registry") and "no round" in detail
    with Session(engine) as s:
        kept = s.get(Lead, outside["id"])
        assert kept is not None and kept.status is LeadStatus.received
        assert kept.check_item_code is None
    assert post(f"/leads/{inside['id']}/accept", {"check_item": "CCC-01"}).status_code == 200

    # once the registry holds the enterprise (with its CCC certificate, as an import brings
    # it in: one holding no certificate of the item is refused, test_accept_out_of_reach.py),
    # the lead is accepted like any other
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        s.add(Enterprise(credit_code=code, name="后来登记的企业有限公司", division_code="350100",
                         risk_class="B", updated_at=now))  # fmt: skip
        s.flush()
        s.add(Certificate(body="CQC", number="2026019999999997", credit_code=code, kind="ccc",
                          issued_on=dt.date(2025, 1, 1), expires_on=dt.date(2030, 1, 1),
                          updated_at=now))  # type: ignore[arg-type]  # fmt: skip
        s.commit()
    accepted = post(f"/leads/{outside['id']}/accept", {"check_item": "CCC-01"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


def test_an_import_names_each_lead_outside_the_registry_and_counts_them(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``leads import`` recorded such leads without a word; it still records them (a lead may
    come before the registry import that holds its enterprise), and says so."""
    monkeypatch.setattr("leads.importer.LOOKUP", 2)  # the three codes in two lookups
    registered = seed_registry(engine, enterprises=3)[0]
    outside, other = outside_code(), credit_code(random.Random(98), "350200")
    path = tmp_path / "leads.csv"
    write_table(path, ["来源", "统一社会信用代码", "线索类别", "收到日期"], [
        ["投诉举报", outside, "虚假认证", "2026-11-02"],
        ["投诉举报", registered, "虚假认证", "2026-11-02"],
        ["风险监测", other.lower(), "标志", "2026-11-03"],
    ])  # fmt: skip
    _register_groups()
    done = CliRunner().invoke(app, ["leads", "import", str(path), "--by", "林科长"])
    assert done.exit_code == 0, done.output
    with Session(engine) as s:
        leads = s.exec(select(Lead).order_by(col(Lead.id))).all()
    assert [lead.status for lead in leads] == [LeadStatus.received] * 3  # all recorded
    ids = {lead.credit_code: lead.id for lead in leads}
    assert done.stderr.splitlines() == [
        f"warning: {path}:2: lead {ids[outside]}: {not_in_registry(outside)}",
        f"warning: {path}:4: lead {ids[other]}: {not_in_registry(other)}",
    ]
    first, last = leads[0].id, leads[-1].id
    assert done.stdout.splitlines() == [
        f"3 lead(s) imported from {path}: {first}..{last}; 2 of them not in the registry of "
        "enterprises (named above), so no round can target them yet"
    ]
