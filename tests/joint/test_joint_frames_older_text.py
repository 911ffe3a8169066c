"""A participant on an older shuangsui, whose registry took a line or paragraph separator
(U+2028, U+2029) or a C1 control (U+0080-U+009F) in an inspector's unit or id, as every
shuangsui did before its registry refused them (5ad083d): its commitment's frames were refused
on receipt (422 `frames of 310000: inspectors[1].unit: holds U+2028`), so the bureaus on this
version never held its commitment while those on the older one did: one bureau failed the
joint round for a missing commitment where another drew it. A frame is hashed and drawn
byte for byte, so it cannot be taken with the text changed or left out: it is held as
committed (protocol version 1 refuses the characters it refused from the start, the C0
controls, DEL, bidirectional controls and zero-width characters, and no others: those are
still refused, tests/joint/test_joint_frame_characters.py), and a teammate of another bureau
is named in our notices with U+FFFD for such a character. Three bureaus served on loopback,
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from joint import service
from joint.notify import _Ours
from tests.joint import test_protocol
from tests.joint.test_joint_frame_characters import send_changed
from tests.joint.test_protocol import FJ, SH, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def _separator_in_unit(frames: dict) -> None:
    frames["inspectors"][1]["unit"] = "上海市\u2028市场监管局"


def _c1_in_id(frames: dict) -> None:
    frames["inspectors"][0]["inspector_id"] += "\u0085"


def _paragraph_in_unit(frames: dict) -> None:
    frames["inspectors"][0]["unit"] = "稽查\u2029总队\u009b"


@pytest.mark.parametrize(
    "change", [_separator_in_unit, _c1_in_id, _paragraph_in_unit],
    ids=["u2028-unit", "c1-id", "u2029-c1-unit"],
)  # fmt: skip
def test_frames_an_older_registry_took_are_held_as_committed(
    trio: Trio, change: Callable[[dict], None]
) -> None:
    joint = "jt-older"
    sent = send_changed(trio, joint, change)
    held = [r for r in service.held(trio.b[FJ].engine, joint, ("commit",)) if r.bureau == SH]
    assert [r.payload for r in held] == [sent]  # the frames as committed, byte for byte


def test_a_teammate_of_another_bureau_is_named_without_the_character() -> None:
    ours = _Ours(FJ, None, None, {}, {}, {}, {})  # type: ignore[arg-type]
    for raw in ("SH00001\u0085", "SH\u202800001", "SH\u009b00001"):
        person = ours.member(SH, raw)
        assert person.inspector_id == raw  # the id as the frame holds it, for the draw
        assert person.name == f"{SH} " + raw.translate({0x85: 0xFFFD, 0x2028: 0xFFFD,
                                                         0x9B: 0xFFFD})  # fmt: skip
