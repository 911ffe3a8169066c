"""A lead of an enterprise the registry does not hold (a valid credit code): received and said
so, and not accepted until the registry takes the enterprise in, since no round's frame could
target it (it was accepted without a word, and waited for a round that could never come)."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from api.app import create_app
from leads.models import Lead, LeadStatus
from registry.models import Enterprise
from shuangsui.config import get_settings
from tests.leads.helpers import outside_code
from tests.rounds.factories import seed_registry

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

    # once the registry holds the enterprise, the lead is accepted like any other
    with Session(engine) as s:
        s.add(Enterprise(credit_code=code, name="后来登记的企业有限公司", division_code="350100",
                         risk_class="B", updated_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        s.commit()
    accepted = post(f"/leads/{outside['id']}/accept", {"check_item": "CCC-01"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
