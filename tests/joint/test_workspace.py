"""The coordinator's partners page shows a bureau that withheld its reveal in a joint round,
with its signed commitment and the deadline."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from draw.canonical import canonical_json
from joint.models import JointRound, JointStatement
from joint.protocol import sign_statement, statement_hash
from tests.joint.world import joint_yaml
from tests.workspace.test_coordinator import _signed_in, live  # noqa: F401  (fixture)


def test_partners_page_shows_a_withheld_reveal(
    live: tuple[str, dict, str],  # noqa: F811
    engine: sa.Engine,
) -> None:
    from joint.plan import joint_plan_hash, read_joint_plan

    plan = read_joint_plan(joint_yaml("jt-2026-12"))
    commit = {
        "v": 1,
        "type": "joint-commit",
        "joint": "jt-2026-12",
        "bureau": "330000",
        "joint_plan_hash": joint_plan_hash(plan),
        "nonce_commitment": "ab" * 32,
        "inspector_commitment": "cd" * 32,
        "inspector_root": "ef" * 32,
        "inspector_size": 12,
        "constraints_commitment": "01" * 32,
    }
    env = sign_statement(commit, "shuangsui.330000", Ed25519PrivateKey.generate())
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s:
        s.add(
            JointRound(
                joint_key="jt-2026-12",
                plan_hash=joint_plan_hash(plan),
                plan_json=canonical_json(plan).decode(),
                lead="350000",
                nonce="00" * 32,
                status="failed",
                created_at=now,
                decided_at=now,
                outcome={"failure": {"reason": "withheld", "bureaus": ["330000"]}},
            )
        )
        s.add(
            JointStatement(
                joint_key="jt-2026-12",
                bureau="330000",
                kind="commit",
                digest=statement_hash(commit),
                envelope=json.dumps(env),
                payload="",
                received_at=now,
            )
        )
        s.commit()
    base, _teams, ssc = live
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        page = http.get("/w/c/partners")
    section = page.text.split('id="joint-evidence"', 1)[1]
    assert "330000 WITHHELD ITS REVEAL in joint round jt-2026-12" in section
    assert plan["reveal_deadline"] in section and statement_hash(commit)[:16] in section
