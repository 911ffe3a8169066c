"""A statement of a type joint protocol version 1 does not have (a newer bureau's withdrawal
notice or attestation), between real ``shuangsui serve`` processes on SQLite and PostgreSQL.

POSTed to us it was answered 422 ``statement: v 1 and a known type needed`` (naming neither
the type nor that it is ours that is older), or, when it used one of our field names for
another kind of value, ``statement.n: an integer is needed``, as if the sender had erred;
relayed by a participant's ``GET`` it was noted as ``a statement not taken: statement: v 1 and
a known type needed``, a refusal of a malformed statement. Now a POST is answered 422
``unknown-statement-type`` naming the type and saying this bureau's joint protocol (version 1)
does not know it, nothing held; a pull skips it, says so, and the round is decided as if it
had not been there."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from joint import client
from joint.models import JointStatement
from joint.protocol import sign_statement, statement_hash
from tests.joint.world import NAMES, World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"


def _rows(w: World, code: str) -> set[tuple[str, str, str, str]]:
    with Session(w.b[code].engine) as s:
        rows = s.exec(select(JointStatement)).all()
        return {(r.bureau, r.kind, r.digest, r.payload) for r in rows}


def _newer(w: World, kind: str, **fields: Any) -> dict[str, Any]:
    """A statement of ``kind`` signed by Shanghai's own key, as a newer Shanghai would."""
    with Session(w.b[SH].engine) as s:
        q = select(JointStatement).where(JointStatement.bureau == SH)
        commit = next(json.loads(r.envelope)["statement"] for r in s.exec(q) if r.kind == "commit")
    st = {"v": 1, "type": kind, "joint": JOINT, "joint_plan_hash": commit["joint_plan_hash"],
          "bureau": SH, "commit": statement_hash(commit), **fields}  # fmt: skip
    key = w.b[SH].key
    return sign_statement(st, key.origin, key.private)


def _seed(out: str) -> str:
    found = re.search(r"drawn, seed ([0-9a-f]+)", out)
    assert found, out
    return found.group(1)


def test_a_statement_type_we_do_not_know_is_named_when_posted_and_skipped_when_relayed(
    world: World, tmp_path: Path
) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for step in ("commit", "reveal"):
        for code in NAMES:
            w.run(code, "joint", step, str(plan) if step == "commit" else JOINT)
    seed = _seed(w.run(SH, "joint", "draw", JOINT).stdout)
    withdrawal = _newer(w, "joint-withdrawal", note="撤回", n="two")  # `n`: ours is an integer
    attestation = _newer(w, "joint-attestation", reveals=["nonce"])
    before = _rows(w, FJ)

    # (a) POSTed by Shanghai to the lead: refused naming the type, nothing held
    fj = w.me(SH).partners[FJ]
    for env, kind in ((withdrawal, "joint-withdrawal"), (attestation, "joint-attestation")):
        with pytest.raises(client.Refused) as refused:
            client.post_statement(fj, w.b[SH].key, JOINT, env)
        assert refused.value.status == 422, refused.value
        assert refused.value.detail == (
            f"statement type '{kind}': this bureau's joint protocol (version 1) does not know it "
            "(it knows joint-commit, joint-reveal, joint-finding, joint-replacement); nothing "
            "of it is held"
        ), refused.value.detail
    assert _rows(w, FJ) == before

    # (b) relayed: Shanghai's server answers them among its statements (held there as
    # reveals: a newer bureau answers them under kinds of its own, which a pull reads alike,
    # the envelope first)
    with Session(w.b[SH].engine) as s:
        for env in (withdrawal, attestation):
            digest, now = statement_hash(env["statement"]), dt.datetime.now(dt.UTC)
            row = JointStatement(joint_key=JOINT, bureau=SH, kind="reveal", digest=digest,
                                 payload="", envelope=json.dumps(env), received_at=now)  # fmt: skip
            s.add(row)
        s.commit()
    pulled = w.run(FJ, "joint", "pull", JOINT)
    lines = pulled.stdout.splitlines()
    for kind in ("joint-withdrawal", "joint-attestation"):
        said = [line for line in lines if f"'{kind}'" in line]
        assert said == [
            f"  pull from {SH}: a statement skipped: statement type '{kind}': this bureau's "
            "joint protocol (version 1) does not know it (it knows joint-commit, joint-reveal, "
            "joint-finding, joint-replacement); nothing of it is held"
        ], lines
    assert _rows(w, FJ) == before
    # the round is decided at the others as at Shanghai: the skipped statements change nothing
    for code in (FJ, ZJ):
        drawn = w.run(code, "joint", "draw", JOINT)
        assert "Traceback" not in drawn.stderr
        assert _seed(drawn.stdout) == seed, drawn.stdout
        newer = {statement_hash(env["statement"]) for env in (withdrawal, attestation)}
        assert not newer & {digest for _, _, digest, _ in _rows(w, code)}
