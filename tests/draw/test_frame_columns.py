"""``EnterpriseFrame``: a frame's units held as columns read back as the very units, in
credit-code order whatever order they came in, with every derived byte equal to the units'."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

import draw.frame
from draw.canonical import lp
from draw.errors import FrameError
from draw.frame import (
    EnterpriseFrame,
    EnterpriseUnit,
    encode_enterprise,
    encode_enterprises,
    jsonl,
    jsonl_pieces,
    rest_of,
)
from draw.select import code_ticket_table, ticket

ODD_CODES = ["91350100MA2Y3K7R4W", "代码", 'x"y', "a\\b", "A B", "\u2028", "Z", "ÿ", "\U0001f600"]


def _units(rng: random.Random, n: int, codes: list[str]) -> list[EnterpriseUnit]:
    return [
        EnterpriseUnit(
            code,
            rng.choice(["350100", "350200"]),
            rng.choice("ABCD"),
            tuple(sorted(rng.sample(["ccc", "organic"], rng.randint(1, 2)))),
            rng.choice(["350100/A", "*"]),
            rng.choice(["random", "random", "targeted", "excluded"]),
            rng.choice(["", "cites x", "列入经营异常名录"]),
        )
        for code in codes[:n]
    ]


def _credit_codes(rng: random.Random, n: int) -> list[str]:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return sorted({"91" + "".join(rng.choice(alphabet) for _ in range(16)) for _ in range(n)})


@pytest.mark.parametrize("kind", ["credit codes", "odd codes"])
def test_a_frame_reads_back_its_units_in_code_order(kind: str) -> None:
    """Credit codes (one width: numpy sorts them) and codes of every width and script (the
    general sort) alike: the frame is the units sorted by code, each rest held once."""
    rng = random.Random(3)
    if kind == "credit codes":
        codes = _credit_codes(rng, 500)
    else:
        codes = sorted({c + f"{i}" * rng.randint(0, 2) for i, c in enumerate(ODD_CODES * 40)})
    units = _units(rng, len(codes), codes)
    shuffled = units[:]
    rng.shuffle(shuffled)
    frame = EnterpriseFrame.of(shuffled)
    assert list(frame) == units == sorted(shuffled, key=lambda u: u.credit_code)
    assert len(frame) == len(units) and frame[7] == units[7] and frame[-1] == units[-1]
    assert frame[3:6] == units[3:6]
    assert list(frame.codes()) == codes and list(frame.credit_codes()) == codes
    assert len(frame.rests) == len({rest_of(u) for u in units})
    assert EnterpriseFrame.of(frame) is frame
    assert frame == EnterpriseFrame.of(units)


@pytest.mark.parametrize("kind", ["credit codes", "odd codes"])
def test_a_code_twice_is_named(kind: str) -> None:
    rng = random.Random(4)
    codes = _credit_codes(rng, 50) if kind == "credit codes" else sorted(set(ODD_CODES))
    units = _units(rng, len(codes), codes)
    twice = [*units, units[len(units) // 2]]
    rng.shuffle(twice)
    with pytest.raises(FrameError, match=f"enterprise {units[len(units) // 2].credit_code}: "
                                         "appears twice in the frame"):  # fmt: skip
        EnterpriseFrame.of(twice)


@pytest.mark.parametrize("kind", ["credit codes", "odd codes"])
def test_find_having_and_counts(kind: str) -> None:
    rng = random.Random(5)
    codes = _credit_codes(rng, 300) if kind == "credit codes" else sorted(set(ODD_CODES))
    units = _units(rng, len(codes), codes)
    frame = EnterpriseFrame.of(units)
    absent = ["91" + "0" * 16, "", "zzz", codes[0] + "0"]
    wanted = [codes[-1], *absent, codes[0], codes[len(codes) // 2]]
    assert frame.find(wanted) == [len(codes) - 1, -1, -1, -1, -1, 0, len(codes) // 2]
    for status in ("random", "targeted", "excluded"):
        assert list(frame.having(status)) == [u for u in units if u.status == status]
        at = frame.positions(status)
        assert [units[i] for i in at.tolist()] == [u for u in units if u.status == status]
        # the codes of those units read in place, as bytes and as text, in that order
        assert [bytes(c) for c in frame.code_bytes(at)] == [
            units[i].credit_code.encode() for i in at.tolist()
        ]
        assert list(frame.credit_codes(at)) == [units[i].credit_code for i in at.tolist()]
    counts = {frame.rests[r]: n for r, n in frame.rest_counts().items()}
    assert counts == {rest: sum(rest_of(u) == rest for u in units) for rest in counts}
    assert sum(counts.values()) == len(units)


@pytest.mark.parametrize("kind", ["credit codes", "odd codes"])
def test_a_frames_bytes_are_its_units_bytes(kind: str) -> None:
    """The canonical rows, the JSON lines and the tickets made from the columns are the ones
    made unit by unit."""
    rng = random.Random(6)
    codes = _credit_codes(rng, 300) if kind == "credit codes" else sorted(set(ODD_CODES))
    units = _units(rng, len(codes), codes)
    frame = EnterpriseFrame.of(units)
    assert list(encode_enterprises(frame)) == [encode_enterprise(u) for u in units]
    assert list(encode_enterprises(frame)) == list(encode_enterprises(units))
    assert jsonl(frame) == jsonl(units)
    seed = hashlib.sha256(b"seed").digest()
    table = code_ticket_table(seed, frame.code_bytes())
    assert table == b"".join(ticket(seed, c) for c in codes)
    assert table[:32] == hashlib.sha256(seed + lp(codes[0])).digest()


@pytest.mark.parametrize("kind", ["credit codes", "odd codes", "one width, quoted"])
def test_a_frames_json_lines_come_in_the_same_pieces(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame's JSON lines are joined a piece at a time, from its columns when every code is
    ASCII letters and digits of one width: the canonical JSON of each unit, in pieces of
    ``LINES_PER_PIECE`` lines, the same pieces as the units' own. Codes of one width that JSON
    escapes (a quote, a backslash) are escaped."""
    rng = random.Random(7)
    if kind == "credit codes":
        codes = _credit_codes(rng, 100)
    elif kind == "odd codes":
        codes = sorted(set(ODD_CODES))
    else:
        codes = sorted({rng.choice(['x"', "a\\", "AB"]) + c[2:] for c in _credit_codes(rng, 60)})
    units = _units(rng, len(codes), codes)
    frame = EnterpriseFrame.of(units)
    monkeypatch.setattr(draw.frame, "LINES_PER_PIECE", 7)
    pieces = list(jsonl_pieces(frame))
    assert pieces == list(jsonl_pieces(units))
    assert [p.count(b"\n") for p in pieces[:-1]] == [7] * (len(pieces) - 1)
    canonical = (
        json.dumps(u.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        for u in units
    )
    assert b"".join(pieces) == "".join(canonical).encode()
