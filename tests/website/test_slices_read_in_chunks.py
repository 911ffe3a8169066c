"""A round's share of the files spanning every round is read from its own data file a chunk at
a time (``website.output.READ_CHUNK``), the whole file checked against the manifest at its end:
a share that begins and ends inside chunks is joined byte for byte, and a file changed after
the share's end (in a chunk the share does not reach) is still refused, with no copy left."""

from __future__ import annotations

from pathlib import Path

import pytest

from shuangsui.errors import IntegrityError
from website.opendata import FileSlice
from website.output import READ_CHUNK, Output, PublishReport

# a file of two chunks and a half, every byte told apart from its neighbours
DATA = bytes(range(251)) * (READ_CHUNK * 5 // 2 // 251)


def test_a_share_across_chunks_is_joined_byte_for_byte(tmp_path: Path) -> None:
    out, report = Output(tmp_path), PublishReport(tmp_path)
    out.write("data/r1.json", DATA, report)
    start, end = READ_CHUNK - 7, 2 * READ_CHUNK + 11  # inside the first and the third chunk
    out.write("data/all.json", [b"<", FileSlice("data/r1.json", start, end), b">"], report)
    assert (tmp_path / "data/all.json").read_bytes() == b"<" + DATA[start:end] + b">"
    out.write("data/head.json", [FileSlice("data/r1.json", 0, 3)], report)  # one chunk's start
    assert (tmp_path / "data/head.json").read_bytes() == DATA[:3]


def test_a_change_past_the_share_is_refused_and_no_copy_is_left(tmp_path: Path) -> None:
    out, report = Output(tmp_path), PublishReport(tmp_path)
    out.write("data/r1.json", DATA, report)
    changed = bytearray(DATA)
    changed[-1] ^= 1  # in the last chunk, which the share below does not reach
    (tmp_path / "data/r1.json").write_bytes(changed)
    share = FileSlice("data/r1.json", 0, READ_CHUNK // 2)
    with pytest.raises(IntegrityError, match="data/r1.json changed while the site was"):
        out.write("data/all.json", [share, b"\n"], report)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["r1.json"]
    assert "data/r1.json" not in out.files  # forgotten: the publish writes it again
