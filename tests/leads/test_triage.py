"""Triage over HTTP: accept, merge, reject, each once and each in the audit log; bad input is a
problem document naming the field; the overdue list by API and CLI."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from api import tokens
from api.app import create_app
from rounds import audit
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.leads.helpers import outside_code
from tests.rounds.factories import plans_folder, seed_registry

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Desk:
    def __init__(self, engine: sa.Engine, plans: Any = None):
        self.token = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
        self.adhoc: list[dict[str, Any]] = []
        self.client = TestClient(create_app(engine=engine, adhoc_runner=self._adhoc))

    def _adhoc(self, params: dict[str, Any]) -> dict[str, Any]:
        self.adhoc.append(params)
        return {"mode": "test", "round_key": "adhoc-x", "state": "scheduled"}

    def post(self, url: str, body: Any) -> Any:
        auth = {"Authorization": f"Bearer {self.token}"}
        return self.client.post(url, json=body, headers=auth)

    def get(self, url: str) -> Any:
        return self.client.get(url, headers={"Authorization": f"Bearer {self.token}"})

    def lead(self, code: str, **kw: Any) -> int:
        body = {"source": "complaint", "credit_code": code, "category": "虚假认证",
                "received_on": "2026-11-02"} | kw  # fmt: skip
        r = self.post("/leads", body)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


def test_triage_is_audited_and_final(engine: sa.Engine) -> None:
    code = seed_registry(engine, enterprises=8)[0]
    desk = Desk(engine)
    a, b, c = desk.lead(code), desk.lead(code), desk.lead(code)
    assert (
        desk.post(f"/leads/{a}/accept", {"check_item": "CCC-01", "reason": "属实"}).status_code
        == 200
    )
    merged = desk.post(f"/leads/{b}/merge", {"into": a, "reason": "同一事项"})
    assert merged.json()["status"] == "merged" and merged.json()["merged_into"] == a
    rejected = desk.post(f"/leads/{c}/reject", {"reason": "不属于本局管辖"})
    assert rejected.json()["status"] == "rejected"

    again = desk.post(f"/leads/{c}/accept", {"check_item": "CCC-01"})
    assert again.status_code == 409 and again.json()["lead_status"] == "rejected"
    assert again.headers["content-type"] == "application/problem+json"
    with Session(engine) as s:
        chain = audit.load_chain(s)
        assert audit.verify_chain(chain) == len(chain)
    events = [(e.event, json.loads(e.payload)) for e in chain]
    decided = [(n, p["lead_id"], p["by"], p.get("reason")) for n, p in events
               if n in ("LeadAccepted", "LeadMerged", "LeadRejected")]  # fmt: skip
    assert decided == [
        ("LeadAccepted", a, "林科长", "属实"),
        ("LeadMerged", b, "林科长", "同一事项"),
        ("LeadRejected", c, "林科长", "不属于本局管辖"),
    ]
    assert all("reporter" not in p and "allegation" not in p for _n, p in events)


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/leads",
            {
                "source": "complaint",
                "credit_code": "91350100123",
                "category": "x",
                "received_on": "2026-11-02",
            },
            "body.credit_code",
        ),  # fmt: skip
        (
            "/leads",
            {"source": "weibo", "credit_code": "x", "category": "x", "received_on": "2026-11-02"},
            "body.source",
        ),  # fmt: skip
        ("/leads/1/reject", {"reason": ""}, "body.reason"),
        ("/leads/1/merge", {"into": 0}, "body.into"),
    ],
)
def test_bad_input_names_the_field(engine: sa.Engine, url: str, body: Any, field: str) -> None:
    desk = Desk(engine)
    r = desk.post(url, body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


def test_refusals_without_a_5xx(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=8)
    desk, code = Desk(engine), outside_code()
    a = desk.lead(code)
    assert desk.post(f"/leads/{a}/accept", {"check_item": "NOPE"}).status_code == 422
    assert desk.post(f"/leads/{a}/merge", {"into": a}).status_code == 422
    assert desk.post(f"/leads/{a}/reject", {"reason": " "}).status_code == 422
    assert desk.post("/leads/999/reject", {"reason": "x"}).status_code == 404
    later = desk.post("/leads", {"source": "other", "credit_code": code, "category": "x",
                                 "received_on": "2027-06-01"})  # fmt: skip
    assert later.status_code == 422 and "received_on" in later.json()["detail"]
    late = desk.post("/leads", {"source": "other", "credit_code": code, "category": "x",
                                "received_on": "2026-11-02", "deadline": "2026-11-01"})  # fmt: skip
    assert late.status_code == 422 and "deadline" in late.text
    # an urgent lead starts an ad hoc round of a plan of its check item
    bad = desk.post(f"/leads/{a}/accept", {"check_item": "CCC-01", "adhoc_plan": "x"})
    assert bad.status_code == 422 and "urgent" in bad.json()["detail"]


def test_urgent_lead_starts_an_ad_hoc_round(
    engine: sa.Engine, monkeypatch: Any, tmp_path: Any
) -> None:
    code = seed_registry(engine, enterprises=8)[0]
    plans_folder(tmp_path, monkeypatch)
    desk = Desk(engine)
    a = desk.lead(code)
    r = desk.post(f"/leads/{a}/accept", {"check_item": "CCC-01", "urgent": True,
                                         "adhoc_plan": "ccc-2026-12"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["urgent"] is True and r.json()["adhoc"]["round_key"] == "adhoc-x"
    assert desk.adhoc == [{"plan": "ccc-2026-12", "requested_by": "林科长",
                           "reason": f"线索 {a} 紧急定向检查: 虚假认证"}]  # fmt: skip


def test_the_overdue_list(engine: sa.Engine, db_url: str, monkeypatch: Any) -> None:
    seed_registry(engine, enterprises=8)
    desk, code = Desk(engine), outside_code()
    late = desk.lead(code, deadline="2026-12-01")  # today is 2026-12-31 in the tests
    desk.lead(code, deadline="2027-01-31")
    done = desk.lead(code, deadline="2026-12-01")
    desk.post(f"/leads/{done}/reject", {"reason": "重复"})
    r = desk.get("/leads/overdue")
    assert r.status_code == 200
    assert [(i["id"], i["days_late"], i["deadline"]) for i in r.json()] == [
        (late, 30, "2026-12-01")
    ]
    assert desk.client.get("/leads/overdue").status_code == 401
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", db_url)
    get_settings.cache_clear()
    _register_groups()
    out = CliRunner().invoke(app, ["leads", "overdue"])
    assert out.exit_code == 0, out.output
    assert f"{late:>6} received  {code} 虚假认证: deadline 2026-12-01, 30 day(s) late" in out.output
    assert "1 overdue lead(s)" in out.output
    assert dt.date(2026, 12, 1) < dt.date(2026, 12, 31)
