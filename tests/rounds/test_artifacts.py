"""The fast frame serialisation gives exactly the canonical bytes of the generic one; a stored
artifact damaged is named."""

from __future__ import annotations

import gzip
import hashlib
import json
import random

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from draw.frame import EnterpriseFrame, EnterpriseUnit, rest_of
from rounds import artifacts
from rounds import service as rounds
from rounds.artifacts import enterprise_units, jsonl, load_inputs, pack
from rounds.models import RoundArtifact
from shuangsui.errors import IntegrityError
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"


def test_enterprise_lines_equal_canonical_json_of_each_unit() -> None:
    rng = random.Random(3)
    notes = [
        "",
        "本局 ccc-2026-12 已检查",
        'quote " and \\\\ back\\nslash',
        "列入经营异常名录；投诉",
    ]
    codes = ["91350100MA2Y3K7R4W", "9135010", "代码", 'x"y', "A B"]
    units = [
        EnterpriseUnit(
            rng.choice(codes) + str(i),
            rng.choice(["350100", "350200"]),
            rng.choice("ABCD"),
            tuple(sorted(rng.sample(["ccc", "organic", "management_system"], rng.randint(0, 2)))),
            rng.choice(["350100/A", "*"]),
            rng.choice(["random", "targeted", "excluded"]),
            rng.choice(notes),
        )  # fmt: skip
        for i in range(500)
    ]
    expected = "".join(
        json.dumps(u.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        for u in units
    ).encode()
    assert jsonl(units) == expected


def test_stored_frame_units_read_back_equal_and_share_what_repeats() -> None:
    """``enterprise_units`` (the fast reading, memoised per line without its code) gives the
    very units ``jsonl`` wrote, codes that JSON escapes included."""
    rng = random.Random(5)
    codes = ["91350100MA2Y3K7R4W", "代码", 'x"y', "a\\b", 'q",z', "A B", "\u2028"]
    units = [
        EnterpriseUnit(
            rng.choice(codes) + f"{i:04d}",
            rng.choice(["350100", "350200"]),
            rng.choice("ABCD"),
            tuple(sorted(rng.sample(["ccc", "organic"], rng.randint(0, 2)))),
            rng.choice(["350100/A", "*"]),
            rng.choice(["random", "targeted", "excluded"]),
            rng.choice(["", 'cites "x",y', "列入经营异常名录"]),
        )  # fmt: skip
        for i in range(400)
    ]
    units.sort(key=lambda u: u.credit_code)
    back = enterprise_units(jsonl(units).splitlines())
    assert isinstance(back, EnterpriseFrame) and list(back) == units
    # what repeats is held once: one rest per distinct (division, class, kinds, stratum,
    # status, note), each unit an index into them
    assert len(back.rests) == len({rest_of(u) for u in units}) < len(units)
    assert [back.rests[r] for r in back.rest_indices()] == [rest_of(u) for u in units]


def test_packed_in_pieces_is_packed_whole() -> None:
    data = b"".join(f'{{"n":{i}}}\n'.encode() for i in range(50_000))
    pieces = [data[i : i + 7_777] for i in range(0, len(data), 7_777)]
    assert pack(pieces) == pack(data)
    digest, content = pack(pieces)
    assert gzip.decompress(content) == data and digest == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["plan.json", "frame-enterprises.jsonl"])
def test_a_damaged_artifact_names_its_round_and_itself(engine: sa.Engine, name: str) -> None:
    """A stored artifact whose gzip no longer inflates (its CRC changed) stopped a verify with
    gzip's (or zlib's) traceback naming neither; now it is an IntegrityError naming both. The
    plan is inflated whole, the frame a piece at a time: both ways."""
    seed_registry(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())
    stored = RoundArtifact.__table__  # type: ignore[attr-defined]
    where = (stored.c.round_key == ROUND, stored.c.name == name)
    with engine.begin() as conn:
        content = conn.execute(sa.select(stored.c.content).where(*where)).scalar_one()
        crc = len(content) - 8  # the gzip trailer: CRC-32, then the size
        damaged = content[:crc] + bytes([content[crc] ^ 0xFF]) + content[crc + 1 :]
        conn.execute(sa.update(stored).where(*where).values(content=damaged))
    with Session(engine) as session, pytest.raises(IntegrityError) as info:
        load_inputs(session, ROUND)
    assert str(info.value).startswith(f"round {ROUND}: stored {name} is damaged"), info.value


@pytest.mark.parametrize("piece", [7, 1000, 1 << 22])
def test_stored_artifacts_read_in_pieces_are_read_whole(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    """A stored artifact is read ``PIECE`` bytes at a time (a bytea read whole cost
    PostgreSQL's driver six times its size in memory): the inputs read back in pieces of 7
    bytes (a gzip header split, every piece's end inside a deflate block), of 1,000 and of
    4 MiB (each of this round's artifacts one piece) are the inputs the commit made; the
    pieces are the stored value, in order; a byte changed in a piece after the first is
    caught."""
    seed_registry(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())
    stored = RoundArtifact.__table__  # type: ignore[attr-defined]
    frame_row = stored.c.name == "frame-enterprises.jsonl"
    with Session(engine) as session:
        committed = load_inputs(session, ROUND)  # the commit's own objects, kept in-process
    artifacts.release(ROUND)  # read back from the database from now on
    monkeypatch.setattr(artifacts, "PIECE", piece)
    with Session(engine) as session:
        read = load_inputs(session, ROUND)
        frame = artifacts._stored(session, ROUND, "frame-enterprises.jsonl")
        whole = bytes(session.execute(sa.select(stored.c.content).where(frame_row)).scalar_one())
    assert read is not committed
    assert b"".join(frame.pieces) == whole
    assert all(len(p) == piece for p in frame.pieces[:-1]) and 0 < len(frame.pieces[-1]) <= piece
    assert read.enterprises == committed.enterprises and read.plan == committed.plan
    assert read.inspectors == committed.inspectors and read.conflicts == committed.conflicts
    assert read.pseudonym_key == committed.pseudonym_key

    at = min(len(whole) - 9, piece + 3)  # in the second piece (or before the gzip trailer)
    changed = whole[:at] + bytes([whole[at] ^ 0x01]) + whole[at + 1 :]
    with engine.begin() as conn:
        conn.execute(sa.update(stored).where(frame_row).values(content=changed))
    artifacts.release(ROUND)
    with Session(engine) as session, pytest.raises(IntegrityError, match="frame-enterprises"):
        load_inputs(session, ROUND)
