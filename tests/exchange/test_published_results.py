"""Publishing a result shares it in the log, in the same transaction; a correction supersedes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

import exchange.hooks
from exchange.models import ExchangeEntry
from findings import service as findings
from findings.categories import ResultCategory
from findings.schemas import FindingIn
from rounds import service
from rounds.models import Assignment
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish


def _sign(engine: sa.Engine, code: str, team: list[str], data: FindingIn) -> None:
    v = findings.submit(
        engine, round_key="ccc-2026-12", credit_code=code, data=data,
        submitted_by=team[0], signers=[team[0]],
    )  # fmt: skip
    for member in team[1:]:
        findings.sign_off(engine, round_key="ccc-2026-12", credit_code=code,
                          version=v.version, inspector_id=member)  # fmt: skip


def _drawn_teams(engine: sa.Engine) -> dict[str, list[str]]:
    """Seed, commit and draw the round; its teams (credit code -> inspector ids, lead first)."""
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(
        engine=engine, round_key="ccc-2026-12",
        entropy=service.EntropyInput("26535897932384626433832795", ("王五",)),
    )  # fmt: skip
    with Session(engine) as s:
        teams: dict[str, list[str]] = {}
        for a in s.exec(select(Assignment).order_by(Assignment.credit_code, Assignment.position)):
            teams.setdefault(a.credit_code, []).append(a.inspector_id)
    return teams


def test_published_result_and_its_correction_enter_the_log(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = _drawn_teams(engine)
    code = sorted(teams)[0]
    day = dt.date(2026, 12, 9)
    _sign(engine, code, teams[code], FindingIn(
        result=ResultCategory.no_problem, check_date=day, internal_note="内部：勿公开",
    ))  # fmt: skip
    publish(engine, tmp_path / "site", bundles=False)
    _sign(engine, code, teams[code], FindingIn(
        result=ResultCategory.other, check_date=day, description="复核后更正", reason="录入错误",
    ))  # fmt: skip
    publish(engine, tmp_path / "site", bundles=False)

    with Session(engine) as s:
        entries = s.exec(select(ExchangeEntry).order_by(ExchangeEntry.seq)).all()
    kinds = [e.kind for e in entries]
    assert kinds == ["round", "result", "correction"]
    result, correction = entries[1], entries[2]
    assert result.entry_id == f"result/ccc-2026-12/{code}/CCC-01"
    assert json.loads(result.body)["body"]["outcome"] == "no_problem"
    assert correction.supersedes == result.entry_id
    assert json.loads(correction.body)["body"]["outcome"] == "other"
    assert all("勿公开" not in e.body for e in entries)


@pytest.mark.parametrize("chunk", [1, 5_000])
def test_one_publish_shares_a_first_result_and_a_correction_together(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The hook shares what the publish read: in one batch, a finding published before gets
    a correction and one published for the first time a result; shared a version at a time
    (``SHARE_CHUNK``), the same entries in the same order."""
    monkeypatch.setattr(exchange.hooks, "SHARE_CHUNK", chunk)
    teams = _drawn_teams(engine)
    first, second = sorted(teams)[:2]
    day = dt.date(2026, 12, 9)
    _sign(engine, first, teams[first], FindingIn(result=ResultCategory.no_problem, check_date=day))
    publish(engine, tmp_path / "site", bundles=False)
    _sign(engine, first, teams[first], FindingIn(
        result=ResultCategory.other, check_date=day, description="复核后更正", reason="录入错误",
    ))  # fmt: skip
    _sign(engine, second, teams[second], FindingIn(
        result=ResultCategory.unreachable, check_date=day, description="<b>无人</b>",
    ))  # fmt: skip
    publish(engine, tmp_path / "site", bundles=False)

    with Session(engine) as s:
        entries = s.exec(select(ExchangeEntry).order_by(ExchangeEntry.seq)).all()
    shared = [(e.kind, e.supersedes, json.loads(e.body)["body"]) for e in entries[2:]]
    assert [e.seq for e in entries] == list(range(len(entries)))
    assert shared == [
        ("correction", f"result/ccc-2026-12/{first}/CCC-01", {
            "check_item": "CCC-01", "credit_code": first, "inspected_on": "2026-12-09",
            "outcome": "other", "round_key": "ccc-2026-12", "summary": "复核后更正"}),
        ("result", None, {
            "check_item": "CCC-01", "credit_code": second, "inspected_on": "2026-12-09",
            "outcome": "unreachable", "round_key": "ccc-2026-12", "summary": "<b>无人</b>"}),
    ]  # fmt: skip
