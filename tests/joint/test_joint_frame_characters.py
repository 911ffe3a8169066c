"""A participant's frames holding a control or invisible character (an inspector id ending in
NUL, a unit name with U+202E, a conflict's credit code with U+200B), sent with a commitment
that opens to them (three bureaus served on loopback, SQLite and PostgreSQL). They were held:
each participant then wrote that id into its own inspectors' notices (a teammate of another
bureau is named by bureau code and inspector id), the right-to-left override turning the text
of an official notice around, the NUL a text PostgreSQL does not store. A bureau's own
registry refuses these characters (``shuangsui.text``); now so does a receiver, 422 naming the
unit and field, nothing held."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from draw.canonical import canonical_json
from exchange.errors import SyncRejected
from joint import client, service
from joint.frames import commitments, own_frames
from joint.plan import joint_plan_hash, read_joint_plan
from joint.protocol import nonce_commitment, sign_statement
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import joint_yaml

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def _nul(frames: dict) -> None:
    frames["inspectors"][0]["inspector_id"] += "\x00"


def _rtl(frames: dict) -> None:
    frames["inspectors"][1]["unit"] = "\u202e局查检"


def _zero_width(frames: dict) -> None:
    frames["conflicts"] = sorted(frames["conflicts"] + [[frames["inspectors"][0]["inspector_id"],
                                                         "91350100\u200b0000000X"]])  # fmt: skip


CASES = [
    (_nul, "inspectors[0].inspector_id: holds U+0000"),
    (_rtl, "inspectors[1].unit: holds U+202E"),
    (_zero_width, ": holds U+200B"),
]


def send_changed(trio: Trio, joint: str, change: Callable[[dict], None]) -> str:
    """Fujian and Zhejiang commit; Shanghai's commitment, its frames changed by ``change`` and
    committed to as they are, sent to Fujian; the frames' text as sent."""
    text = joint_yaml(joint)
    for code in (FJ, ZJ):
        service.commit(trio.b[code].engine, trio.me[code], text)
    plan = read_joint_plan(text)
    with trio.b[SH].engine.connect() as conn:
        frames = own_frames(conn, plan, SH)
    change(frames)
    st = {"v": 1, "type": "joint-commit", "joint": joint, "joint_plan_hash": joint_plan_hash(plan),
          "bureau": SH, "nonce_commitment": nonce_commitment(joint, SH, secrets.token_hex(32)),
          **commitments(plan, SH, frames)}  # fmt: skip
    key = trio.b[SH].key
    sent = canonical_json(frames).decode()
    envelope = sign_statement(st, key.origin, key.private)
    client.post_statement(trio.me[SH].partners[FJ], key, joint, envelope, sent)
    return sent


@pytest.mark.parametrize(("change", "said"), CASES, ids=["nul", "rtl", "zero-width"])
def test_frames_with_control_characters_are_refused(
    trio: Trio, change: Callable[[dict], None], said: str
) -> None:
    joint = "jt-chars"
    with pytest.raises(SyncRejected) as refused:
        send_changed(trio, joint, change)
    assert "HTTP 422" in str(refused.value), refused.value
    assert "frames of 310000: " in str(refused.value) and said in str(refused.value), refused.value
    assert all(r.bureau != SH for r in service.held(trio.b[FJ].engine, joint, ("commit",)))
