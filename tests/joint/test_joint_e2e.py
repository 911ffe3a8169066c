"""A joint round across three bureaus (real `shuangsui serve` processes on loopback): commit,
a forged reveal caught, reveal, draw at every bureau, the bundle verified with `python3 -I -S`,
findings to the lead and its publication; then a round whose last bureau withholds."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from exchange.models import ExchangeEntry
from joint import client, service
from joint.models import JointStatement
from joint.protocol import sign_statement, statement_hash
from tests.joint.world import NAMES, World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"


def verify(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["python3", "-I", "-S", str(bundle / "verify_joint.py"), str(bundle)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def forged_reveal(w: World, code: str, joint: str) -> dict:
    """A reveal of ``code`` (signed with its real key) with a nonce it did not commit to."""
    with Session(w.b[code].engine) as s:
        q = select(JointStatement).where(
            JointStatement.joint_key == joint,
            JointStatement.bureau == code,
            JointStatement.kind == "commit",
        )
        row = s.exec(q).one()
    commit = json.loads(row.envelope)["statement"]
    st = {"v": 1, "type": "joint-reveal", "joint": joint, "bureau": code,
          "joint_plan_hash": commit["joint_plan_hash"], "commit": statement_hash(commit),
          "nonce": "ab" * 32}  # fmt: skip
    return sign_statement(st, w.b[code].key.origin, w.b[code].key.private)


def test_joint_round_end_to_end(world: World, tmp_path: Path) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml("jt-2026-12"), encoding="utf-8")
    w.run(FJ, "joint", "commit", str(plan))
    w.run(SH, "joint", "commit", str(plan))
    # nobody reveals before every commitment is held
    early = w.run(FJ, "joint", "reveal", "jt-2026-12", ok=False)
    assert early.returncode == 3 and "waiting for the commitments of 330000" in early.stderr
    w.run(ZJ, "joint", "commit", str(plan))

    # Shanghai, having seen every commitment, tries another nonce: refused, kept, shown
    sh = w.me(SH)
    with pytest.raises(Exception, match="does not open|differs from the signed"):
        client.post_statement(sh.partners[FJ], sh.key, "jt-2026-12",
                              forged_reveal(w, SH, "jt-2026-12"))  # fmt: skip
    status = w.run(FJ, "partners", "status").stdout
    assert "310000 REVEALED A NONCE THAT DOES NOT OPEN ITS COMMITMENT" in status

    for code in NAMES:
        w.run(code, "joint", "reveal", "jt-2026-12")
    outs = {code: w.run(code, "joint", "draw", "jt-2026-12").stdout for code in NAMES}
    assert len(set(outs.values())) == 1 and "drawn, seed" in outs[FJ], outs  # same everywhere

    bundle = tmp_path / "bundle"
    w.run(FJ, "joint", "bundle", "jt-2026-12", "--out", str(bundle))
    res = verify(bundle)
    assert res.returncode == 0 and "reproduced exactly" in res.stdout, res.stdout
    assert "refused reveal of 310000" in res.stdout
    outcome = json.loads((bundle / "outcome.json").read_text())
    team = next(iter(outcome["teams"].values()))
    assert [b for b, _ in team] == [FJ, SH, ZJ]  # one inspector of each bureau, lead first

    # findings flow back to the lead, which publishes with every participant named
    code = next(iter(outcome["teams"]))
    for b in NAMES:
        w.run(b, "joint", "finding", "jt-2026-12", code, "未发现问题", "2026-12-10")
    assert "published" in w.run(FJ, "joint", "publish", "jt-2026-12").stdout
    with Session(w.b[FJ].engine) as s:
        entry = s.exec(select(ExchangeEntry).where(ExchangeEntry.kind == "result")).one()
    body = json.loads(entry.body)["body"]
    assert body["joint"]["participants"] == [FJ, SH, ZJ]
    assert set(body["joint"]["findings"]) == {FJ, SH, ZJ}

    # a second round: Zhejiang sees both reveals and withholds its own
    plan2 = tmp_path / "joint2.yaml"
    plan2.write_text(joint_yaml("jt-2027-01"), encoding="utf-8")
    for code in NAMES:
        w.run(code, "joint", "commit", str(plan2))
    w.run(FJ, "joint", "reveal", "jt-2027-01")
    w.run(SH, "joint", "reveal", "jt-2027-01")
    waiting = w.run(FJ, "joint", "draw", "jt-2027-01", ok=False)
    assert waiting.returncode == 3 and "reveals of 330000" in waiting.stderr
    after = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # past the reveal deadline
    row = service.draw(w.b[FJ].engine, w.me(FJ), "jt-2027-01", now=after)
    assert row.status == "failed" and row.outcome == {
        "failure": {"reason": "withheld", "bureaus": [ZJ]}}  # fmt: skip
    status = w.run(FJ, "partners", "status").stdout
    assert "330000 WITHHELD ITS REVEAL in joint round jt-2027-01" in status
    assert "signed commitment(s)" in status
    bundle2 = tmp_path / "bundle2"
    w.run(FJ, "joint", "bundle", "jt-2027-01", "--out", str(bundle2))
    res = verify(bundle2)
    assert res.returncode == 0 and "fails: withheld (330000)" in res.stdout, res.stdout
    # the rerun may not include the withholder
    plan3 = tmp_path / "joint3.yaml"
    plan3.write_text(joint_yaml("jt-2027-02").replace("round:", "replaces: jt-2027-01\nround:"))
    refused = w.run(FJ, "joint", "commit", str(plan3), ok=False)
    assert refused.returncode != 0 and "330000 withheld its reveal" in refused.stderr
