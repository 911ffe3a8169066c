"""Findings are versioned, append-only and final only when the whole team has signed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import evidence, service
from findings.models import FindingVersion
from findings.settings import FindingsSettings
from rounds import audit
from shuangsui.errors import NotFound, UserError
from tests.findings.factories import ROUND, drawn_round, final_finding, finding


def test_two_person_rule_and_corrections(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    v1 = service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding(),
        submitted_by=f"inspector:{team[0]}",
        signers=[team[0]],
    )
    hist = service.history(engine, ROUND, code)
    assert hist.states[0].missing == (team[1],) and hist.public is None
    # the same submission again is a retry: no new version
    again = service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding(),
        submitted_by=f"inspector:{team[0]}",
        signers=[team[0]],
    )
    assert again.version == v1.version == 1
    state = service.sign_off(
        engine, round_key=ROUND, credit_code=code, version=1, inspector_id=team[1]
    )
    assert state.final and state.final_at is not None
    # a correction without a reason is refused; with one it is a new version
    with pytest.raises(UserError, match="needs a reason"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            data=finding("other"),
            submitted_by="coordinator:王五",
        )
    v2 = service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding("other", reason="录入错误"),
        submitted_by="coordinator:王五",
    )
    assert v2.version == 2
    hist = service.history(engine, ROUND, code)
    assert [v.result for v in hist.versions] == ["no_problem", "other"]
    assert hist.public is not None and hist.public.version == 1  # v2 not signed yet
    with pytest.raises(UserError, match="superseded"):
        service.sign_off(engine, round_key=ROUND, credit_code=code, version=1, inspector_id=team[0])
    for member in team:
        service.sign_off(engine, round_key=ROUND, credit_code=code, version=2, inspector_id=member)
    assert service.history(engine, ROUND, code).public.version == 2  # type: ignore[union-attr]
    with Session(engine) as s:
        assert len(s.exec(select(FindingVersion)).all()) == 2
        events = [e.event for e in audit.load_chain(s, ROUND)]
    assert events.count("FindingRecorded") == 2 and events.count("FindingSigned") == 3


def test_refusals_name_what_to_fix(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    with pytest.raises(NotFound, match="no assignment"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code="91350100MA0000000X",
            data=finding(),
            submitted_by="x",
        )
    outsider = next(i for t in teams.values() for i in t if i not in team)
    with pytest.raises(UserError, match="not on the team"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            data=finding(),
            submitted_by=f"inspector:{outsider}",
            signers=[outsider],
        )
    with pytest.raises(UserError, match="not a certificate of"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            submitted_by="x",
            data=finding(
                "certificate_suspended",
                certificates=[{"body": "CQC", "number": "9999", "action": "suspended"}],
            ),
        )
    with pytest.raises(UserError, match="was not uploaded"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            submitted_by="x",
            data=finding(evidence=[{"sha256": "a" * 64}]),
        )


def test_schema_rules() -> None:
    with pytest.raises(ValueError, match="needs a deadline"):
        finding("ordered_to_rectify", measures=[{"kind": "rectify"}])
    with pytest.raises(ValueError, match="name the suspended"):
        finding("certificate_suspended")
    ok = finding("ordered_to_rectify", measures=[{"kind": "rectify", "deadline": "2027-01-15"}])
    assert ok.measures[0].deadline is not None


def test_evidence_is_content_addressed_and_limited(engine: sa.Engine, tmp_path) -> None:
    settings = FindingsSettings(evidence_max_bytes=10)
    photo = b"\xff\xd8\xffphoto"  # a JPEG's signature, then anything
    row = evidence.store_bytes(
        engine, tmp_path, photo, media_type="image/jpeg", filename="a.jpg", settings=settings
    )
    assert (tmp_path / "evidence" / row.sha256).read_bytes() == photo and row.size == 8
    same = evidence.store_bytes(engine, tmp_path, photo, media_type="image/jpeg", settings=settings)
    assert same.sha256 == row.sha256 and same.filename == "a.jpg"
    with pytest.raises(evidence.EvidenceTooLarge):
        evidence.store_bytes(
            engine, tmp_path, b"x" * 11, media_type="image/jpeg", settings=settings
        )
    with pytest.raises(UserError, match="not accepted"):
        evidence.store_bytes(
            engine, tmp_path, b"x", media_type="application/x-msdownload", settings=settings
        )
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == [row.sha256]


def test_final_finding_helper(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[1]
    assert final_finding(engine, code, team) == 1
    assert service.history(engine, ROUND, code).public is not None
