"""What a participant relays when another pulls a joint round from it (real `shuangsui
serve` processes): only statements of that joint round are taken. A participant could serve,
under the round asked for, a statement it signed for another joint key: it was stored under
that key (a key of 100 characters, or holding a NUL: on PostgreSQL the insert failed and with
it every ``joint reveal`` and ``joint draw`` of the bureau pulling, a veto nobody saw)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from joint.models import JointRound, JointStatement
from joint.protocol import sign_statement, statement_hash
from tests.joint.world import NAMES, World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"


def _serve_under_our_round(w: World, joint: str) -> None:
    """Shanghai's server answers, for ``JOINT``, a commitment it signed for ``joint``."""
    engine = w.b[SH].engine
    with Session(engine) as s:
        row = s.get(JointRound, JOINT)
        assert row is not None
        own = next(
            json.loads(r.envelope)["statement"]
            for r in s.exec(select(JointStatement).where(JointStatement.bureau == SH)).all()
        )
        st = own | {"joint": joint}
        key = w.b[SH].key
        s.add(
            JointStatement(
                joint_key=JOINT,
                bureau=SH,
                kind="commit",
                digest=statement_hash(st),
                envelope=json.dumps(sign_statement(st, key.origin, key.private)),
                payload="",
                received_at=dt.datetime.now(dt.UTC),
            )  # fmt: skip
        )
        s.commit()


def test_a_statement_of_another_joint_round_is_not_taken(world: World, tmp_path: Path) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for code in NAMES:
        w.run(code, "joint", "commit", str(plan))
    for other in ("jt-" + "x" * 97, "jt-\x00nul", "../../jt-2026-11"):
        _serve_under_our_round(w, other)
    for code in NAMES:
        w.run(code, "joint", "reveal", JOINT)
    said = {code: w.run(code, "joint", "draw", JOINT).stdout for code in NAMES}
    drawn = {code: out.splitlines()[0] for code, out in said.items()}  # then what was not taken
    assert len(set(drawn.values())) == 1 and "drawn, seed" in drawn[FJ], said
    with Session(w.b[FJ].engine) as s:
        keys = set(s.exec(select(JointStatement.joint_key)).all())
    assert keys == {JOINT}
