"""follow-up-findings: reminders once, escalations once, rounds closed only when all is out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service as findings
from findings.categories import ResultCategory
from findings.schemas import FindingIn
from flows.follow_up import follow_up_findings
from rounds import service
from rounds.models import Assignment, Round, RoundStatus
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

DIGITS = "16180339887498948482045868"


def _teams(engine: sa.Engine) -> dict[str, list[str]]:
    teams: dict[str, list[str]] = {}
    with Session(engine) as s:
        for a in s.exec(select(Assignment).order_by(Assignment.position)):
            teams.setdefault(a.credit_code, []).append(a.inspector_id)
    return teams


def _finish(engine: sa.Engine, code: str, team: list[str]) -> None:
    data = FindingIn(result=ResultCategory.no_problem, check_date=dt.date(2026, 12, 10))
    v = findings.submit(
        engine, round_key="ccc-2026-12", credit_code=code, data=data,
        submitted_by=team[0], signers=[team[0]],
    )  # fmt: skip
    for member in team[1:]:
        findings.sign_off(
            engine, round_key="ccc-2026-12", credit_code=code, version=v.version,
            inspector_id=member,
        )  # fmt: skip


@pytest.mark.usefixtures("prefect_harness")
def test_follow_up_reminds_once_escalates_and_closes_when_published(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(
        engine=engine, round_key="ccc-2026-12",
        entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=("王五",)),
    )  # fmt: skip
    teams = _teams(engine)
    codes = sorted(teams)
    _finish(engine, codes[0], teams[codes[0]])

    # two working days before the window ends (2026-12-31): everyone still open is reminded
    before = follow_up_findings(today="2026-12-29")
    open_assignments = sum(len(teams[c]) for c in codes[1:])
    assert before["queued"]["reminders"] == open_assignments
    assert before["queued"]["escalations"] == 0
    again = follow_up_findings(today="2026-12-29")
    assert again["queued"] == {"reminders": 0, "escalations": 0}

    late = follow_up_findings(today="2027-01-05")
    assert late["queued"]["escalations"] == 1  # one message to the coordinator for the round
    assert {d["credit_code"] for d in late["due"] if d["what"] == "finding"} == set(codes[1:])
    assert late["closed"] == []

    for code in codes[1:]:
        _finish(engine, code, teams[code])
    assert follow_up_findings(today="2027-01-06")["closed"] == []  # final, not yet published
    publish(engine, tmp_path / "site", bundles=False)
    assert follow_up_findings(today="2027-01-06")["closed"] == ["ccc-2026-12"]
    with Session(engine) as s:
        rnd = s.get(Round, "ccc-2026-12")
        assert rnd is not None and rnd.status is RoundStatus.closed


@pytest.mark.usefixtures("prefect_harness")
def test_publish_results_flow_publishes_final_results_once(
    engine: sa.Engine, tmp_path: Path
) -> None:
    from flows.publish import publish_results

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(
        engine=engine, round_key="ccc-2026-12",
        entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=("王五",)),
    )  # fmt: skip
    teams = _teams(engine)
    code = sorted(teams)[0]
    _finish(engine, code, teams[code])
    site = tmp_path / "site"
    first = publish_results(out=str(site))
    assert first["newly_published"] == 1
    page = (site / "rounds" / "ccc-2026-12" / "index.html").read_text(encoding="utf-8")
    assert code in page and "未发现问题" in page
    again = publish_results(out=str(site))
    assert again["newly_published"] == 0 and again["written"] == []
