"""The bundle of a joint round failed as equivocation, where the bureau's two commitments
commit to different frames (it signed the second after its registry changed, or on purpose),
three bureaus served on loopback (SQLite and PostgreSQL). ``statements.json`` listed both
commitments, and ``inspectors-<b>.jsonl`` held the frames of the last one read, while
``verify_joint.py`` checks the frames against the first one listed: an honest bureau's bundle
of a round its rule failed was refused (``FAIL: inspectors-310000.jsonl: inspector_commitment
…``). Now each bureau's commitments are listed in the order they arrived and its frame files
are the first one's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from draw.canonical import canonical_json
from joint import client, service
from joint.bundle import write_bundle
from joint.frames import commitments
from joint.protocol import nonce_commitment
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def test_two_commitments_with_other_frames_give_a_bundle_that_verifies(
    trio: Trio, tmp_path: Path
) -> None:
    joint = "jt-two-frames"
    trio.commit(joint)
    engine = trio.b[FJ].engine
    row = service.get_joint(engine, joint)
    plan = service.plan_of(row)
    first = next(r for r in service.held(engine, joint, ("commit",)) if r.bureau == SH)
    fewer = json.loads(first.payload)
    fewer["inspectors"] = fewer["inspectors"][1:]  # one inspector less: other frames
    second = trio.statement(
        SH, joint, nonce_commitment=nonce_commitment(joint, SH, "22" * 32),
        **commitments(plan, SH, fewer),
    )  # fmt: skip
    said = client.post_statement(trio.me[SH].partners[FJ], trio.me[SH].key, joint, second,
                                 canonical_json(fewer).decode())  # fmt: skip
    assert said["result"] == "commitment held"
    row = service.draw(engine, trio.me[FJ], joint)
    assert row.outcome == {"failure": {"reason": "equivocation", "bureaus": [SH]}}
    write_bundle(engine, joint, tmp_path / "b")
    out = tmp_path / "b"
    res = subprocess.run(["python3", "-I", "-S", str(out / "verify_joint.py"), str(out)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.stdout.splitlines()[-1] == (
        "OK: confirmed: the joint round fails: equivocation (310000)"
    ), res.stdout
