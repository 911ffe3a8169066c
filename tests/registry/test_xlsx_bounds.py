"""The registry and leads imports bound a workbook's parts as the findings upload does
(registry/io.py): a part whose zip directory understates it, or compressed by bzip2 or lzma, is
refused on every XLSX read, bound or not; and a part that unpacks past ``PART_RATIO`` times the
file's own size (a part declaring gigabytes, a bomb deflated a thousand times) is refused
before openpyxl opens the file. A refused import set changes nothing, its other files'
rows included."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads.importer import import_leads
from leads.models import Lead
from registry.importer import import_files
from registry.io import inspect_source, read_rows, write_table
from registry.schema import KINDS
from rounds import audit
from shuangsui.db import session_scope
from shuangsui.errors import UserError
from tests.leads.helpers import outside_code
from tests.leads.test_import import HEADER as LEADS_HEADER

from .helpers import certificate_row, dump, enterprise_row, enterprises_file

CORE = "docProps/core.xml"
STRINGS = "xl/sharedStrings.xml"
GIGABYTES = 2_000_000_000
MIB = 2**20
SHARED = (  # a shared-strings part, as Excel writes one, before any padding
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.'
    b'openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>a</t></si></sst>'
)


def _rebuilt(
    workbook: bytes, part: str, data: bytes, method: int, declared: bytes | int | None = None
) -> bytes:
    """``workbook`` with ``part`` (replaced, or added) holding ``data`` compressed by
    ``method``. ``declared``: what its zip directory says instead of the truth, as the bytes
    it claims the part holds (their size and CRC) or as a size alone."""
    src = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != part:
                dst.writestr(info.filename, src.read(info.filename), zipfile.ZIP_DEFLATED)
        dst.writestr(part, data, method)
    raw = bytearray(out.getvalue())
    if declared is None:
        return bytes(raw)
    size = declared if isinstance(declared, int) else len(declared)
    at = raw.index(b"PK\x01\x02")  # the central directory's first entry
    while at >= 0:
        name_length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46 : at + 46 + name_length] == part.encode():
            if isinstance(declared, bytes):
                struct.pack_into("<I", raw, at + 16, zlib.crc32(declared))
            struct.pack_into("<I", raw, at + 24, size)
        at = raw.find(b"PK\x01\x02", at + 4)
    return bytes(raw)


def _understated(workbook: bytes) -> bytes:
    real = zipfile.ZipFile(io.BytesIO(workbook)).read(CORE)
    return _rebuilt(workbook, CORE, real + b" " * (4 * MIB), 8, declared=real)


def _in_bzip2(workbook: bytes) -> bytes:
    return _rebuilt(workbook, CORE, zipfile.ZipFile(io.BytesIO(workbook)).read(CORE), 12)


def _declaring_gigabytes(workbook: bytes) -> bytes:
    return _rebuilt(workbook, STRINGS, SHARED, 8, declared=GIGABYTES)


def _deflated_a_thousand_times(workbook: bytes) -> bytes:
    """A shared-strings part of 16 MiB, true to its directory, in a file of a few KB."""
    return _rebuilt(workbook, STRINGS, SHARED + b" " * (16 * MIB), 8)


# each bomb, and what its refusal says of the part it names
BOMBS: dict[str, tuple[Callable[[bytes], bytes], str, str]] = {
    "understated": (_understated, CORE, "unpacks to more than the"),
    "bzip2": (_in_bzip2, CORE, "is compressed by method 12, not as Excel writes"),
    "gigabytes": (_declaring_gigabytes, STRINGS, f"unpacks to {GIGABYTES} bytes, past the"),
    "deflated": (
        _deflated_a_thousand_times,
        STRINGS,
        f"unpacks to {len(SHARED) + 16 * MIB} bytes",
    ),
}


def _leads(engine: sa.Engine) -> tuple[list[int], int]:
    """The leads' ids and the length of the audit chain."""
    with Session(engine) as s:
        return sorted(lead.id or 0 for lead in s.exec(select(Lead))), len(audit.load_chain(s))


def _refusal(path: Path, bomb: str) -> str:
    _, part, what = BOMBS[bomb]
    return re.escape(f"{path}: part {part} {what}")


def _bombed(tmp_path: Path, name: str, header: list[str], rows: list[list[str]], bomb: str) -> Path:
    path = tmp_path / name
    write_table(path, header, rows)
    path.write_bytes(BOMBS[bomb][0](path.read_bytes()))
    return path


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_registry_import_set_with_a_bomb_is_refused_and_changes_nothing(
    engine: sa.Engine, tmp_path: Path, bomb: str
) -> None:
    first = enterprises_file(tmp_path / "ent.csv", [enterprise_row(n) for n in range(1, 6)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", first)])
    before = dump(engine)
    changed = enterprises_file(
        tmp_path / "ent2.csv", [enterprise_row(n, risk_class="D") for n in range(1, 9)]
    )
    bombed = _bombed(tmp_path, "certificates.xlsx", list(KINDS["certificates"].fields),
                     [certificate_row(n, n) for n in range(1, 6)], bomb)  # fmt: skip
    files = [("enterprises", changed), ("certificates", bombed)]
    with pytest.raises(UserError, match=_refusal(bombed, bomb)), session_scope(engine) as session:
        import_files(session=session, files=files)
    assert dump(engine) == before


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_leads_import_with_a_bomb_is_refused_and_changes_nothing(
    engine: sa.Engine, tmp_path: Path, bomb: str
) -> None:
    row = [
        "投诉举报",
        outside_code(),
        "虚假认证",
        "2026-11-02",
        "",
        "是",
        "李某",
        "证书造假",
        "TS-1",
    ]
    bombed = _bombed(tmp_path, "leads.xlsx", LEADS_HEADER, [row], bomb)
    before = _leads(engine)
    with pytest.raises(UserError, match=_refusal(bombed, bomb)):
        import_leads(engine, bombed, imported_by="林科长")
    assert _leads(engine) == before


@pytest.mark.parametrize("bomb", ["understated", "bzip2"])
def test_every_xlsx_read_refuses_a_part_excel_would_not_write(tmp_path: Path, bomb: str) -> None:
    bombed = _bombed(tmp_path, "ent.xlsx", list(KINDS["enterprises"].fields),
                     [enterprise_row(1)], bomb)  # fmt: skip
    with pytest.raises(UserError, match=_refusal(bombed, bomb)):
        list(read_rows(inspect_source(bombed)))  # no bound given
