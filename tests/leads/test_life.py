"""A lead's life end to end, over HTTP and on both databases: received, accepted, targeted by the
next committed round (its reason in the frame commitment, the plan's hash untouched), answered
by the final finding, and counted on the public site, which never shows the reporter or the
allegation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from draw.plan import plan_hash
from findings.models import PublishedResult
from leads.models import Lead, LeadStatus
from registry.models import Certificate, Enterprise
from rounds import service
from rounds.artifacts import load_inputs
from rounds.bundle import run_verify_script
from rounds.models import Selection
from rounds.plans import load_plan_text
from rounds.preflight import preflight
from shuangsui.config import get_settings
from tests.leads.helpers import draw, final_finding, outside_code
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import serve_app
from website.site import publish

REPORTER = "举报人王某某 13800000000"
ALLEGATION = "该企业销售的插座未加施CCC标志-9931"
CATEGORY = "认证标志使用不规范"


def _lead(code: str, **kw: object) -> dict[str, object]:
    body = {"source": "投诉举报", "credit_code": code, "category": CATEGORY,
            "received_on": "2026-11-20", "reporter": REPORTER,
            "allegation": ALLEGATION}  # fmt: skip
    return body | kw


def _outside_the_plans_population(engine: sa.Engine) -> str:
    """A firm of the bureau's province whose only CCC certificate is withdrawn: a round of
    CCC-01 could take it (a plan's ``cert_statuses`` may name withdrawn certificates), this
    plan's population (valid ones) does not. (A lead of a firm no round of ours can take, of
    another province or with no certificate of the item, is not accepted: test_accept_out_of_
    reach.py.)"""
    code = outside_code()
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        s.add(Enterprise(credit_code=code, name="外地企业有限公司", division_code="350100",
                         risk_class="B", updated_at=now))  # fmt: skip
        s.flush()
        s.add(Certificate(body="CQC", number="2026019999999998", credit_code=code, kind="ccc",
                          status="withdrawn", issued_on=dt.date(2025, 1, 1),
                          expires_on=dt.date(2030, 1, 1), updated_at=now))  # type: ignore[arg-type]  # fmt: skip
        s.commit()
    return code


def test_a_lead_from_intake_to_the_published_count(engine: sa.Engine, tmp_path: Path) -> None:
    codes = seed_registry(engine)
    target, elsewhere = codes[5], _outside_the_plans_population(engine)
    token = tokens.create_coordinator(engine, "林科长", get_settings().bureau_code)
    app = create_app(engine=engine)
    with (
        serve_app(app) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http,
    ):
        made = http.post("/leads", json=_lead(target))
        assert made.status_code == 201, made.text
        lead = made.json()
        assert lead["status"] == "received" and lead["source"] == "complaint"
        assert lead["reporter"] == "(保密)" and lead["deadline"] == "2027-01-19"
        # a lead on a firm outside this plan's population: accepted, but its frame does not
        # take it
        other = http.post("/leads", json=_lead(elsewhere, source="risk_monitoring")).json()
        assert httpx.get(f"{base}/leads").status_code == 401
        accepted = http.post(f"/leads/{lead['id']}/accept", json={"check_item": "CCC-01"})
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        taken = http.post(f"/leads/{other['id']}/accept", json={"check_item": "CCC-01"})
        assert taken.status_code == 200, taken.text

    plan_text = plan_yaml()
    plan, _ = load_plan_text(plan_text)
    with engine.connect() as conn:
        before = preflight(conn, plan)
    assert sum(s.targeted for s in before.strata) == 1  # the preflight shows the lead's target

    rnd = service.commit_round(engine=engine, plan_text=plan_text)
    assert rnd.plan_hash == plan_hash(plan)  # the plan file's hash, not a changed plan
    with Session(engine) as s:
        frame = {u.credit_code: u for u in load_inputs(s, rnd.round_key).enterprises}
        first, second = s.get(Lead, lead["id"]), s.get(Lead, other["id"])
        assert first is not None and second is not None
        assert (first.status, first.round_key) == (LeadStatus.targeted, rnd.round_key)
        assert second.status is LeadStatus.accepted and second.round_key is None
    unit = frame[target]
    assert unit.status == "targeted" and unit.note == f"线索 {lead['id']}: {CATEGORY}"
    assert elsewhere not in frame
    # the reason is inside the committed frame: the commitment recomputes from the stored frame
    assert service.commit_round(engine=engine, plan_text=plan_text).frame_commitment == (
        rnd.frame_commitment
    )

    draw(engine, rnd.round_key)
    with Session(engine) as s:
        picked = s.exec(select(Selection).where(Selection.credit_code == target)).one()
    assert picked.kind == "targeted"
    finding_id = final_finding(engine, rnd.round_key, target)

    out = tmp_path / "site"
    publish(engine, out)
    with Session(engine) as s:
        answered = s.get(Lead, lead["id"])
        assert answered is not None and answered.status is LeadStatus.answered
        assert answered.finding_id == finding_id
        assert s.exec(
            select(PublishedResult).where(PublishedResult.finding_id == finding_id)
        ).first()
    # the round with the lead's target verifies from its public bundle alone
    verdict = run_verify_script(out / "rounds" / rnd.round_key / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    counts = json.loads((out / "data" / "leads.json").read_text("utf-8"))
    by_source = {s["source"]: s for s in counts["sources"]}
    assert counts["total"] == 2
    assert by_source["complaint"]["outcomes"]["answered"] == 1
    assert by_source["risk_monitoring"]["outcomes"]["accepted"] == 1
    assert by_source["complaint"]["label"] == "投诉举报"
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (REPORTER, "13800000000", ALLEGATION):
                assert secret.encode() not in data, f"{secret} in {path}"
    assert target.encode() not in (out / "data" / "leads.json").read_bytes()
    # published again: the counts file is unchanged, and kept
    again = publish(engine, out)
    assert "data/leads.json" not in again.written and (out / "data" / "leads.json").is_file()
