"""A statement relayed by a participant's ``GET`` during ``joint pull`` / ``joint draw`` (real
``shuangsui serve`` processes) is checked like one POSTed: a field of the wrong JSON type is
refused naming the bureau, the statement's kind and the field.

``POST /exchange/v1/joint/{joint}/statements`` refused such a statement with a 422 naming the
field, but a pull reached the checks without the route: a properly signed statement with
``joint_plan_hash`` a number came back from the pull as "'int' object is not subscriptable"
(a ``TypeError`` deep in the checks), naming neither the statement nor the field. Now the type
check is the envelope's (``joint.protocol.open_envelope``), which every statement passes
through; the pull refuses that statement, holds nothing of it, and goes on with the others, as
it does with a statement whose signature does not check."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from joint.models import JointStatement
from joint.protocol import sign_statement, statement_hash
from tests.joint.test_joint_replacements import _held, _row
from tests.joint.world import NAMES, World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"


def _own(w: World, code: str, kind: str) -> JointStatement:
    """``code``'s own statement of ``kind``, as it holds it."""
    with Session(w.b[code].engine) as s:
        q = select(JointStatement).where(JointStatement.bureau == code, JointStatement.kind == kind)
        return s.exec(q).one()


def _serve(w: World, code: str, kind: str, st: dict[str, Any], payload: str = "") -> None:
    """``code`` holds ``st``, signed with its own key, among its statements of ``kind``: its
    server answers it to a participant's pull."""
    key = w.b[code].key
    envelope = sign_statement(st, key.origin, key.private)
    with Session(w.b[code].engine) as s:
        s.add(
            JointStatement(
                joint_key=JOINT,
                bureau=code,
                kind=kind,
                digest=statement_hash(st),
                envelope=json.dumps(envelope),
                payload=payload,
                received_at=dt.datetime.now(dt.UTC),
            )
        )
        s.commit()


def _digests(w: World, code: str) -> set[tuple[str, str, str]]:
    with Session(w.b[code].engine) as s:
        rows = s.exec(select(JointStatement)).all()
        return {(r.bureau, r.kind, r.digest) for r in rows}


def test_a_relayed_statement_of_the_wrong_type_is_refused_naming_it(
    world: World, tmp_path: Path
) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for step in ("commit", "reveal", "draw"):
        for code in NAMES:
            w.run(code, "joint", step, str(plan) if step == "commit" else JOINT)
    code, team = sorted(_row(w.b[FJ].engine).outcome["teams"].items())[0]  # type: ignore[union-attr]

    # the lead is down while Shanghai replaces its member: it takes the replacement by a pull
    w.servers.stop(FJ)
    w.run(SH, "joint", "replace", JOINT, code, team[1][1], "--cause", "left", "--note", "调离")
    (good,) = _held(w.b[SH].engine)
    nxt = good | {"n": 2, "withdrawn": good["replacement"]}
    commit, reveal = _own(w, SH, "commit"), _own(w, SH, "reveal")
    hostile = {  # what Shanghai serves besides, each signed by its own key
        ("joint-replacement", "joint_plan_hash"): ("replacement", nxt | {"joint_plan_hash": 123}),
        ("joint-replacement", "cause"): ("replacement", nxt | {"cause": ["left"]}),
        ("joint-replacement", "position"): ("replacement", nxt | {"position": "1"}),
        ("joint-reveal", "joint_plan_hash"): (
            "reveal", json.loads(reveal.envelope)["statement"] | {"joint_plan_hash": 7},
        ),
        ("joint-commit", "joint_plan_hash"): (
            "commit", json.loads(commit.envelope)["statement"] | {"joint_plan_hash": [1]},
        ),
    }  # fmt: skip
    for kind, st in hostile.values():
        _serve(w, SH, kind, st, commit.payload if kind == "commit" else "")
    w.start(FJ)
    before = _digests(w, FJ)

    pulled = w.run(FJ, "joint", "pull", JOINT)
    assert "Traceback" not in pulled.stderr
    lines = pulled.stdout.splitlines()
    for (kind, field), _ in hostile.items():
        said = [line for line in lines if f"{kind} of {SH}: statement.{field}: " in line]
        assert len(said) == 1 and said[0].startswith(f"  pull from {SH}: "), (kind, field, lines)
    # nothing of them is held; the good replacement, served by the same pull, is
    assert _held(w.b[FJ].engine) == [good]
    assert _digests(w, FJ) == before | {(SH, "replacement", statement_hash(good))}

    drawn = w.run(FJ, "joint", "draw", JOINT)  # a drawn round pulls again: nothing else changes
    assert "Traceback" not in drawn.stderr and "drawn, seed" in drawn.stdout
    assert _digests(w, FJ) == before | {(SH, "replacement", statement_hash(good))}
