"""The lead's enterprise frame, sent with its commitment, checked against the joint plan's round
on receipt (three bureaus served on loopback, SQLite and PostgreSQL). A participant checked
only that the frames were the ones the commitment commits to: a lead could commit to a frame
naming an enterprise outside the round's population (another province's, 440106), one unit
twice, or a unit under another stratum than the plan gives it (another rate), and every
participant took it, drew on it and sent its inspectors; only ``verify_joint.py``, later,
refused the bundle (``frame-enterprises.jsonl: line N (…): division outside the plan's
population``). Now such a commitment is refused, 422 naming the unit and the field, nothing
held; the participant keeps waiting for a commitment of the lead it can draw on."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from draw.canonical import canonical_json
from draw.frame import stratum_of
from exchange.errors import SyncRejected
from joint import client, service
from joint.frames import commitments, own_frames
from joint.plan import joint_plan_hash, read_joint_plan
from joint.protocol import nonce_commitment, sign_statement
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import joint_yaml

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def _outside(frame: dict) -> None:
    last = frame["enterprises"][-1]
    rnd = frame["_round"]
    stratum = stratum_of(rnd, "440106", last["risk_class"])
    unit = {"credit_code": "91440106MA5XXXXX9Z", "division_code": "440106", "stratum": stratum}
    frame["enterprises"].append(last | unit)


def _twice(frame: dict) -> None:
    frame["enterprises"].insert(1, frame["enterprises"][0])


def _stratum(frame: dict) -> None:
    first = frame["enterprises"][0]
    other = "A" if first["risk_class"] != "A" else "D"
    frame["enterprises"][0] = first | {"stratum": first["stratum"].rsplit("/", 1)[0] + "/" + other}


CASES = [
    (_outside, "91440106MA5XXXXX9Z: division_code: 440106 is outside the round's population"),
    (_twice, "not in strictly ascending credit_code order"),
    (_stratum, "stratum: "),
]


@pytest.mark.parametrize(("change", "said"), CASES, ids=["outside", "twice", "stratum"])
def test_a_lead_frame_outside_the_round_is_refused(
    trio: Trio, change: Callable[[dict], None], said: str
) -> None:
    joint = "jt-scope"
    text = joint_yaml(joint)
    for code in (SH, ZJ):
        service.commit(trio.b[code].engine, trio.me[code], text)
    plan = read_joint_plan(text)
    with trio.b[FJ].engine.connect() as conn:
        frames = own_frames(conn, plan, FJ)
    frames["_round"] = plan["round"]
    change(frames)
    del frames["_round"]
    nonce = secrets.token_hex(32)
    st = {"v": 1, "type": "joint-commit", "joint": joint, "joint_plan_hash": joint_plan_hash(plan),
          "bureau": FJ, "nonce_commitment": nonce_commitment(joint, FJ, nonce),
          **commitments(plan, FJ, frames)}  # fmt: skip
    key = trio.b[FJ].key
    envelope = sign_statement(st, key.origin, key.private)
    with pytest.raises(SyncRejected) as refused:
        client.post_statement(trio.me[FJ].partners[SH], key, joint, envelope,
                              canonical_json(frames).decode())  # fmt: skip
    assert "HTTP 422" in str(refused.value) and said in str(refused.value), refused.value
    assert "frames of 350000: enterprises" in str(refused.value)
    assert [r.bureau for r in service.held(trio.b[SH].engine, joint, ("commit",))] != [] and all(
        r.bureau != FJ for r in service.held(trio.b[SH].engine, joint, ("commit",))
    )
