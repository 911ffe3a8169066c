"""A partner's joint finding as the lead receives it (real `shuangsui serve` processes, one
per bureau): the finding must be the sender's own members of a team the lead drew. A member
changes only by a signed replacement of its bureau that the lead holds (docs/draw-algorithm.md
§13.7, test_joint_replacements.py), so a finding naming another inspector, one claiming a
replacement that never happened, was held and went into the lead's log as the joint result,
where every partner takes it in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from exchange.errors import SyncRejected
from exchange.models import ExchangeEntry
from joint import client, store
from joint.models import JointRound, JointStatement
from joint.protocol import sign_statement
from tests.joint.world import NAMES, World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"


def _outcome(w: World, code: str) -> dict:
    with Session(w.b[code].engine) as s:
        row = s.get(JointRound, JOINT)
        assert row is not None and row.outcome is not None
        return row.outcome


def _finding(w: World, code: str, credit_code: str, inspectors: list[str], **change: str) -> dict:
    """A joint finding of ``code`` signed with its real key, as a partner could send it."""
    with Session(w.b[code].engine) as s:
        row = s.get(JointRound, JOINT)
        assert row is not None
        phash = row.plan_hash
    st = {"v": 1, "type": "joint-finding", "joint": JOINT, "joint_plan_hash": phash,
          "bureau": code, "credit_code": credit_code, "outcome": "未发现问题",
          "inspected_on": "2026-12-10", "inspectors": inspectors} | change  # fmt: skip
    key = w.b[code].key
    return sign_statement(st, key.origin, key.private)


def _post(w: World, code: str, envelope: dict) -> dict:
    me = w.me(code)
    return client.post_statement(me.partners[FJ], me.key, JOINT, envelope)


def _findings_held(w: World) -> list[dict]:
    with Session(w.b[FJ].engine) as s:
        rows = s.exec(select(JointStatement).where(JointStatement.kind == "finding")).all()
    return [json.loads(r.envelope)["statement"] for r in rows]


def test_the_lead_holds_only_a_finding_of_the_team_it_drew(world: World, tmp_path: Path) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for code in NAMES:
        w.run(code, "joint", "commit", str(plan))
    for code in NAMES:
        w.run(code, "joint", "reveal", JOINT)
    w.run(SH, "joint", "draw", JOINT)
    teams = _outcome(w, SH)["teams"]
    code, team = sorted(teams.items())[0]
    ours = [i for b, i in team if b == SH]
    others = sorted({i for t in teams.values() for b, i in t if b == SH} - set(ours))
    assert ours and others

    # before the lead has drawn, it cannot tell a team: the finding is refused as too early
    with pytest.raises(SyncRejected, match="409.*has not drawn joint round"):
        _post(w, SH, _finding(w, SH, code, ours))
    w.run(FJ, "joint", "draw", JOINT)

    # Shanghai names an inspector of its own who was never on this team (a member
    # "replaced" without any draw saying so), or one more than its seats, or nobody
    for named in ([others[0]], [*ours, others[0]], []):
        with pytest.raises(SyncRejected, match="422.*inspectors"):
            _post(w, SH, _finding(w, SH, code, named))
    # an enterprise the joint round did not select; a date that is not one
    with pytest.raises(SyncRejected, match="422.*credit_code: 91350000NOTDRAWN0X"):
        _post(w, SH, _finding(w, SH, "91350000NOTDRAWN0X", ours))
    with pytest.raises(SyncRejected, match="422.*inspected_on"):
        _post(w, SH, _finding(w, SH, code, ours, inspected_on="2026-13-45"))
    assert _findings_held(w) == []
    # the bureau's own command says what is wrong with a date (it was a ValueError traceback)
    bad = w.run(SH, "joint", "finding", JOINT, code, "未发现问题", "2026-13-45", ok=False)
    assert bad.returncode != 0 and "inspected_on: a date written YYYY-MM-DD" in bad.stderr
    assert "Traceback" not in bad.stderr

    # the findings as the bureaus make them are held and published, naming the drawn team
    for b in NAMES:
        w.run(b, "joint", "draw", JOINT)
        w.run(b, "joint", "finding", JOINT, code, "未发现问题", "2026-12-10")
    # a false finding held before the lead checked them on receipt is not published either
    code2, team2 = sorted(teams.items())[1]
    wrong = sorted({i for t in teams.values() for b, i in t if b == SH} - {team2[1][1]})[0]
    false = _finding(w, SH, code2, [wrong])
    store.store(w.b[FJ].engine, JOINT, "finding", false["statement"], false)
    for b in (FJ, ZJ):
        w.run(b, "joint", "finding", JOINT, code2, "未发现问题", "2026-12-10")
    said = w.run(FJ, "joint", "publish", JOINT).stdout
    assert f"{code}: published" in said
    assert f"a finding of {SH} is not published: inspectors: not the members" in said
    assert f"{code2}: waiting for the findings of {SH}" in said
    with Session(w.b[FJ].engine) as s:
        entry = s.exec(select(ExchangeEntry).where(ExchangeEntry.kind == "result")).one()
    found = json.loads(entry.body)["body"]["joint"]["findings"]
    assert {b: f["inspectors"] for b, f in found.items()} == {
        b: [i for b2, i in team if b2 == b] for b in NAMES
    }


def _results(w: World) -> list[dict]:
    """The lead's log entries of kind result and correction, in log order."""
    with Session(w.b[FJ].engine) as s:
        rows = s.exec(
            select(ExchangeEntry)
            .where(ExchangeEntry.kind.in_(("result", "correction")))  # type: ignore[attr-defined]
            .order_by(ExchangeEntry.seq)  # type: ignore[arg-type]
        ).all()
    return [json.loads(r.body) for r in rows]


def test_a_finding_corrected_after_the_publish_is_shared_as_a_correction(
    world: World, tmp_path: Path
) -> None:
    """A bureau that sends its finding again (another outcome) after the lead published: the
    lead's next publish shares a ``correction`` superseding the result, as a bureau's own
    rounds do. The result's id was taken again and nothing was shared, while the command
    said ``published``."""
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for step in ("commit", "reveal", "draw"):
        for code in NAMES:
            w.run(code, "joint", step, str(plan) if step == "commit" else JOINT)
    code = sorted(_outcome(w, FJ)["teams"])[0]
    for b in NAMES:
        w.run(b, "joint", "finding", JOINT, code, "未发现问题", "2026-12-10")
    assert f"{code}: published" in w.run(FJ, "joint", "publish", JOINT).stdout

    w.run(SH, "joint", "finding", JOINT, code, "责令整改", "2026-12-11")
    said = w.run(FJ, "joint", "publish", JOINT).stdout
    assert f"{code}: corrected" in said, said
    first, correction = _results(w)
    assert correction["kind"] == "correction" and correction["supersedes"] == first["id"]
    assert correction["body"]["joint"]["findings"][SH]["outcome"] == "责令整改"
    assert correction["body"]["joint"]["findings"][ZJ] == first["body"]["joint"]["findings"][ZJ]

    said = w.run(FJ, "joint", "publish", JOINT).stdout  # nothing new: nothing shared
    assert f"{code}: already published" in said, said
    assert len(_results(w)) == 2
