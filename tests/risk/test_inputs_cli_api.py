"""Each kind of input reaches the classification; the command line and the coordinator's
route explain it. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from api import tokens
from api.app import create_app
from exchange.models import PartnerEntry
from registry.models import Certificate, Enterprise
from risk import rules as risk_rules
from risk.classify import classify
from risk.explain import explain
from risk.inputs import complaint_commitment
from risk.models import RiskRun
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from shuangsui.errors import ImportRejected, UserError
from tests.rounds.factories import seed_registry
from tests.servers import serve_app

AS_OF = dt.date(2026, 12, 31)


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _partner(session: Session, seq: int, code: str, outcome: str, day: str, **kw: str) -> None:
    body = {"body": {"credit_code": code, "outcome": outcome, "inspected_on": day}}
    session.add(PartnerEntry(
        partner_code="310000", seq=seq, entry_id=kw.get("entry_id", f"result/x/{seq}"),
        kind=kw.get("kind", "result"), supersedes=kw.get("supersedes"), credit_code=code,
        check_item="CCC-01", event_date=dt.date.fromisoformat(day), body=json.dumps(body),
        leaf_hash="0" * 64, applied_at=dt.datetime.now(dt.UTC),
    ))  # fmt: skip


def test_every_input_kind_moves_the_class(
    engine: sa.Engine, tmp_path: Path, cli: CliRunner
) -> None:
    codes = seed_registry(engine, enterprises=12)
    listed, certs, partner, complained, abnormal = codes[:5]
    with Session(engine) as session:
        ent = session.get(Enterprise, listed)
        assert ent is not None
        ent.serious_violation = True
        session.add(ent)
        other = session.get(Enterprise, abnormal)
        assert other is not None
        other.abnormal_listed = True
        session.add(other)
        cert = session.get(Certificate, ("CQC", "2026010000000001"))
        assert cert is not None and cert.credit_code == certs
        cert.status = "suspended"  # type: ignore[assignment]
        session.add(cert)
        _partner(session, 0, partner, "nonconforming", "2026-06-01")
        _partner(session, 1, partner, "under_investigation", "2026-07-01", entry_id="result/y")
        _partner(session, 2, partner, "no_problem", "2026-08-01", kind="correction",
                 supersedes="result/y")  # fmt: skip
        session.commit()
    csv = tmp_path / "complaints.csv"
    csv.write_text(
        "credit_code,ref,upheld_on,summary\n"
        f"{complained},TS-2026-001,2026-05-01,标志使用不规范\n"
        f"{complained},TS-2026-002,2026-09-01,虚假宣传\n"
        f"{complained},TS-2023-009,2023-01-01,已过期\n",
        encoding="utf-8",
    )
    for name in ("陈明", "林芳"):
        tokens.create_coordinator(engine, name, get_settings().bureau_code)
    done = cli.invoke(app, ["risk", "complaints", str(csv), "--by", "陈明"])
    assert done.exit_code == 0, done.output
    assert "3 upheld complaint(s)" in done.output

    bad = tmp_path / "bad.csv"
    bad.write_text("credit_code,ref,upheld_on\n91350100XXXXXXXXXX,A,2026-13-01\n,B,2026-01-01\n")
    refused = cli.invoke(app, ["risk", "complaints", str(bad), "--by", "陈明"])
    assert isinstance(refused.exception, ImportRejected)
    assert "bad.csv:2: upheld_on" in str(refused.exception)
    assert "bad.csv:3: credit_code: empty" in str(refused.exception)

    wrong = cli.invoke(app, ["risk", "classify", "--as-of", "2026-02-30"])
    assert isinstance(wrong.exception, UserError) and "--as-of" in str(wrong.exception)
    ran = cli.invoke(app, ["risk", "classify", "--as-of", AS_OF.isoformat(), "--by", "陈明"])
    assert ran.exit_code == 0, ran.output
    assert "12 enterprises" in ran.output and "risk-2026-1" in ran.output

    inputs = {
        c: explain(engine, c)["classification"]
        for c in (listed, certs, partner, complained, abnormal)
    }
    assert inputs[listed]["inputs"] == {"serious_violation": True}
    assert (inputs[listed]["score"], inputs[listed]["class"]) == (45, "D")  # C, floored at D
    assert inputs[abnormal]["inputs"] == {"abnormal_listed": True}
    assert (inputs[abnormal]["score"], inputs[abnormal]["class"]) == (25, "B")
    assert inputs[certs]["inputs"] == {"certificates": {"suspended": 1}}
    assert (inputs[certs]["score"], inputs[certs]["class"]) == (20, "B")
    # the corrected result counts as corrected: a clean check, not an investigation
    assert inputs[partner]["inputs"] == {
        "last_clean_check": "2026-08-01",
        "partner_results": [["310000", "no_problem", "2026-08-01"],
                            ["310000", "nonconforming", "2026-06-01"]],
    }  # fmt: skip
    assert (inputs[partner]["score"], inputs[partner]["class"]) == (10, "B")  # 20 - 10
    with engine.connect() as conn:
        salt = conn.execute(sa.select(RiskRun.salt)).scalar_one()  # type: ignore[call-overload]
    refs = ["TS-2026-001", "TS-2026-002"]
    assert inputs[complained]["inputs"] == {
        "complaints": {"count": 2, "commitment": complaint_commitment(salt, complained, refs)}
    }
    assert "TS-2026" not in json.dumps(inputs[complained], ensure_ascii=False)
    assert (inputs[complained]["score"], inputs[complained]["class"]) == (25, "B")

    text = cli.invoke(app, ["risk", "explain", listed])
    assert text.exit_code == 0, text.output
    assert "class D (classification)" in text.output and "min_class D" in text.output

    asked = cli.invoke(app, ["risk", "override", certs, "--class", "A", "--reason", "证书已恢复",
                             "--by", "陈明"])  # fmt: skip
    assert asked.exit_code == 0, asked.output
    own = cli.invoke(app, ["risk", "approve", "1", "--by", "陈明"])
    assert isinstance(own.exception, UserError) and "second coordinator" in str(own.exception)
    approved = cli.invoke(app, ["risk", "approve", "1", "--by", "林芳"])
    assert approved.exit_code == 0, approved.output
    shown = cli.invoke(app, ["risk", "explain", certs])
    assert "class A (override)" in shown.output and "approved by 林芳: 证书已恢复" in shown.output


def test_the_coordinators_route_explains_a_class(engine: sa.Engine) -> None:
    codes = seed_registry(engine, enterprises=5)
    classify(engine, risk_rules.load(), as_of=AS_OF)
    token = tokens.create_coordinator(engine, "王五", get_settings().bureau_code)
    with serve_app(create_app(engine=engine)) as base, httpx.Client(base_url=base) as client:
        auth = {"Authorization": f"Bearer {token}"}
        ok = client.get(f"/risk/{codes[0]}", headers=auth)
        assert ok.status_code == 200, ok.text
        doc = ok.json()
        assert doc["class"] == "A" and doc["classification"]["score"] == 5
        assert doc["classification"]["points"] == [
            {"section": "clean_check", "detail": "never", "points": 5}
        ]
        missing = client.get("/risk/91350100MA2Y0Y0Y0Y", headers=auth)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert "no enterprise" in missing.json()["detail"]
        bad = client.get("/risk/not-a-code", headers=auth)
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert client.get(f"/risk/{codes[0]}").status_code == 401
