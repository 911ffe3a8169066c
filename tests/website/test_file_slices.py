"""The files spanning every round are written from slices of the rounds' own data files."""

from __future__ import annotations

from pathlib import Path

import pytest

from shuangsui.errors import IntegrityError
from website.opendata import CSV_HEAD, FileSlice, csv_file, json_file
from website.output import Output, PublishReport

ROWS = "r1,91350100MA2XXXXX01,甲\r\n".encode()


def test_a_share_is_read_from_its_round_file_as_it_is_written(tmp_path: Path) -> None:
    out, report = Output(tmp_path), PublishReport(tmp_path)
    out.write("data/r1.csv", b"".join(csv_file([ROWS])), report)
    out.write("data/r1.json", b'[\n{"a":1}\n]\n', report)
    rows = FileSlice("data/r1.csv", len(CSV_HEAD), len(CSV_HEAD) + len(ROWS))
    out.write("data/results.csv", csv_file([rows, rows]), report)
    out.write("data/results.json", json_file([FileSlice("data/r1.json", 2, 9), b'{"b":2}']), report)
    assert (tmp_path / "data/results.csv").read_bytes() == CSV_HEAD + ROWS + ROWS
    assert (tmp_path / "data/results.json").read_bytes() == b'[\n{"a":1},\n{"b":2}\n]\n'
    assert out.files["data/results.csv"][1] == len(CSV_HEAD) + 2 * len(ROWS)


def test_a_round_file_changed_during_the_publish_is_never_joined(tmp_path: Path) -> None:
    out, report = Output(tmp_path), PublishReport(tmp_path)
    out.write("data/r1.csv", b"".join(csv_file([ROWS])), report)
    (tmp_path / "data/r1.csv").write_bytes(CSV_HEAD + ROWS.replace("甲".encode(), b"X"))
    rows = FileSlice("data/r1.csv", len(CSV_HEAD), len(CSV_HEAD) + len(ROWS))
    with pytest.raises(IntegrityError, match="data/r1.csv changed while the site was"):
        out.write("data/results.csv", csv_file([rows]), report)
    assert not (tmp_path / "data/results.csv").exists()


def test_a_share_written_again_with_the_same_bytes_leaves_the_file_as_it_is(
    tmp_path: Path,
) -> None:
    """The pieces are read once, hashed and written as they pass; bytes already in place
    are not put in place again, and the copy made meanwhile is gone."""
    out, report = Output(tmp_path), PublishReport(tmp_path)
    out.write("data/r1.csv", b"".join(csv_file([ROWS])), report)
    rows = FileSlice("data/r1.csv", len(CSV_HEAD), len(CSV_HEAD) + len(ROWS))
    out.write("data/results.csv", csv_file([rows]), report)
    before = (tmp_path / "data/results.csv").stat()
    again = PublishReport(tmp_path)
    out.write("data/results.csv", csv_file([rows]), again)
    assert (again.unchanged, again.written) == (1, [])
    assert (tmp_path / "data/results.csv").stat().st_ino == before.st_ino
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["r1.csv", "results.csv"]
    out.write("data/results.csv", csv_file([rows, rows]), again)  # other bytes: replaced
    assert again.written == ["data/results.csv"]
    assert (tmp_path / "data/results.csv").read_bytes() == CSV_HEAD + ROWS + ROWS
