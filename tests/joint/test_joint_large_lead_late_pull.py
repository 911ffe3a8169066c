"""A lead whose commitment is too large to be POSTed (8,000 enterprises: frames past the 1 MiB
a partner's route takes), and partners that committed before it and first pull after the
commit deadline; real ``shuangsui serve`` processes on SQLite and PostgreSQL.

The partner refused the lead's commitment as late (``commitments are closed``) although the
lead had committed and pushed in time, and the round failed there as ``missing-commitment``
while the lead drew it. Now the lead, answered 413 by a partner that has committed, sends it
the same signed commitment without its frames (a small body); the partner holds it, on its own
clock, before the deadline, and takes the frames, which the commitment's hashes bind, by a pull
even after the deadline. Until they are held the round waits for them there, never failing as
``missing-commitment``. A commitment not held at all before the deadline is still refused,
and the refusal says what happened and what can be done."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlmodel import Session, select

from joint import overview, service
from joint.evidence import evidence
from joint.models import JointStatement
from joint.store import at
from tests.joint.world import NAMES, World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-large-late"


def _kinds(w: World, code: str, bureau: str) -> dict[str, dt.datetime]:
    """What ``code`` holds of ``bureau``'s statements: kind -> when it was held."""
    with Session(w.b[code].engine) as s:
        q = select(JointStatement).where(JointStatement.bureau == bureau)
        return {r.kind: r.received_at for r in s.exec(q)}


def _partners_then_lead(w: World, tmp_path: Path) -> tuple[str, dt.datetime]:
    """Shanghai and Zhejiang commit (the lead has not: their pulls find nothing of it), then
    the lead; the lead's `joint commit` output, and a moment past the commit deadline."""
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for code in (SH, ZJ):
        w.run(code, "joint", "commit", str(plan))
        assert not _kinds(w, code, FJ)
    out = w.run(FJ, "joint", "commit", str(plan)).stdout
    deadline = at(service.plan_of(service.get_joint(w.b[FJ].engine, JOINT))["commit_deadline"])
    return out, deadline + dt.timedelta(minutes=1)


def test_a_large_leads_commitment_held_in_time_counts_when_pulled_late(
    large_world: World, tmp_path: Path
) -> None:
    w = large_world
    out, late = _partners_then_lead(w, tmp_path)
    for code in (SH, ZJ):
        line = next(x for x in out.splitlines() if x.startswith(f"  commit -> {code}: "))
        assert re.fullmatch(
            rf"  commit -> {code}: too large for its route \(HTTP 413: [^)]*\): our commitment "
            rf"with its frames is [0-9,]+ bytes; sent without its frames, which its hashes bind, "
            rf"{code} holds it \(commitment held without its frames: this bureau takes them by "
            rf"a pull\) and takes the frames by a pull \(`shuangsui joint pull {JOINT}` there; "
            rf"`joint reveal` and `joint draw` pull first\), before or after the commit deadline",
            line,
        ), line
        assert set(_kinds(w, code, FJ)) == {"announced"}

    # past the commit deadline, frames not pulled yet: waiting for them, not failed (and, past
    # the reveal deadline, failed: frames that never come hold no round open)
    plan = service.plan_of(service.get_joint(w.b[SH].engine, JOINT))
    for code in (SH, ZJ):
        engine = w.b[code].engine
        d = service.decision(engine, JOINT, late)
        assert (d.state, d.bureaus) == ("waiting-commitments", [FJ]), d
        shown = overview.joint_round(engine, code, JOINT, late).decision  # the 联合抽查 page's
        assert shown is not None and (shown.state, shown.bureaus) == (d.state, d.bureaus), shown
        said = evidence(engine, service.get_joint(engine, JOINT), late)
        assert said == [f"waiting for the commitment of {FJ} (held here without its frames, too "
                        "large to be sent: a pull takes them)"], said  # fmt: skip
        d = service.decision(engine, JOINT, at(plan["reveal_deadline"]) + dt.timedelta(seconds=1))
        assert (d.state, d.reason, d.bureaus) == ("failed", "missing-commitment", [FJ]), d
    # each partner's first pull comes after the deadline: the frames count
    for code in (SH, ZJ):
        notes = service.pull(w.b[code].engine, w.me(code), JOINT, late)
        assert notes == [], notes
        held = _kinds(w, code, FJ)
        assert set(held) == {"announced", "commit"}, held
        assert held["commit"] == held["announced"] < late  # held since it was announced
    for code in NAMES:
        assert service.reveal(w.b[code].engine, w.me(code), JOINT, now=late) == "revealed"
    decided = set()
    for code in NAMES:
        row = service.draw(w.b[code].engine, w.me(code), JOINT, now=late)
        outcome = row.outcome or {}
        # 12 inspectors a bureau cannot staff 8,000 teams: the fixed failure, from the seed
        decided.add((row.status, outcome.get("seed") or outcome["failure"].get("seed")))
    assert len(decided) == 1 and None not in next(iter(decided)), decided


def test_a_commitment_not_held_before_the_deadline_is_still_refused_saying_why(
    large_world: World, tmp_path: Path
) -> None:
    w = large_world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for code in (SH, ZJ):
        w.run(code, "joint", "commit", str(plan))
    w.servers.stop(ZJ)  # Zhejiang is down while the lead commits: nothing of it reaches it
    w.run(FJ, "joint", "commit", str(plan))
    w.start(ZJ)
    deadline = service.plan_of(service.get_joint(w.b[FJ].engine, JOINT))["commit_deadline"]
    late = at(deadline) + dt.timedelta(minutes=1)

    notes = service.pull(w.b[ZJ].engine, w.me(ZJ), JOINT, late)
    assert notes == [
        f"pull from {src}: a statement not taken: joint round {JOINT}: commitments are closed "
        f"(the commit deadline {deadline} passed, or this bureau has revealed or withdrawn it), "
        f"and nothing of the commitment of {FJ} was held here before (not even without its "
        "frames, as a lead whose commitment is too large to send sends it): it cannot count "
        "here, and the round fails here as missing-commitment (§13.3). To go on, the "
        "coordinators agree a rerun, a new joint plan naming this one in replaces, and each "
        "partner that commits before the lead runs `shuangsui joint pull` once the lead has "
        "committed, before the commit deadline"
        for src in (FJ,)
    ], notes
    assert not _kinds(w, ZJ, FJ)
    d = service.decision(w.b[ZJ].engine, JOINT, late)
    assert (d.state, d.reason, d.bureaus) == ("failed", "missing-commitment", [FJ]), d
    # Shanghai, which held it without its frames in time, takes it
    assert service.pull(w.b[SH].engine, w.me(SH), JOINT, late) == []
    assert "commit" in _kinds(w, SH, FJ)
