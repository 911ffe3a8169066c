"""A workbook's parts are measured before openpyxl opens it (registry/io.py, ``max_part_bytes``):
a part whose zip directory understates its size, or compressed in a method Excel does not
write, is refused unread. zipfile inflates a part read whole (the content types, the
workbook, the styles, the document properties) in one call and cuts it to the declared size
only afterwards, and inflates bzip2 and lzma a read at once: a 400 KB upload that understated
its ``docProps/core.xml`` held 870 MB while it was read, a 5 KB one in bzip2 673 MB."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest

from registry.io import inspect_source, read_rows
from shuangsui.errors import UserError

LIMIT = 2**20  # what the import reads of a part, here


def _workbook() -> bytes:
    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.active.append(["1", "2"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rewritten(part: str, padding: int, method: int) -> bytes:
    """The workbook with ``part`` followed by ``padding`` spaces, compressed by ``method``,
    its directory declaring the part's own size and CRC (as if the spaces were not there)."""
    src = zipfile.ZipFile(io.BytesIO(_workbook()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == part:
                real, data = data, data + b" " * padding
            dst.writestr(info.filename, data, method if info.filename == part else 8)
    raw = bytearray(out.getvalue())
    at = raw.index(b"PK\x01\x02")  # the central directory's first entry
    while at >= 0:
        name_length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46 : at + 46 + name_length] == part.encode():
            struct.pack_into("<I", raw, at + 16, zlib.crc32(real))
            struct.pack_into("<I", raw, at + 24, len(real))
        at = raw.find(b"PK\x01\x02", at + 4)
    return bytes(raw)


def _read(tmp_path: Path, data: bytes) -> list[tuple[int, list[str]]]:
    path = tmp_path / "findings.xlsx"
    path.write_bytes(data)
    return list(read_rows(inspect_source(path), last_row=100, max_part_bytes=LIMIT))


@pytest.mark.parametrize("part", ["docProps/core.xml", "[Content_Types].xml", "xl/styles.xml",
                                  "xl/worksheets/sheet1.xml"])  # fmt: skip
def test_a_part_larger_than_its_directory_says_is_refused(tmp_path: Path, part: str) -> None:
    data = _rewritten(part, 4 * LIMIT, zipfile.ZIP_DEFLATED)
    assert len(data) < 64 * 2**10
    with pytest.raises(UserError, match=re.escape(f"part {part} unpacks to more than")):
        _read(tmp_path, data)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_part_in_a_method_excel_does_not_write_is_refused(tmp_path: Path, method: int) -> None:
    data = _rewritten("docProps/core.xml", 0, method)
    with pytest.raises(UserError, match="part docProps/core.xml is compressed by method"):
        _read(tmp_path, data)


def test_a_workbook_whose_directory_is_true_is_read(tmp_path: Path) -> None:
    assert _read(tmp_path, _rewritten("docProps/core.xml", 0, zipfile.ZIP_DEFLATED)) == [
        (1, ["a", "b"]),
        (2, ["1", "2"]),
    ]
