"""Reading and writing registry tables as CSV or XLSX.

CSV encodings are detected, not guessed from the locale: the bytes must decode strictly as UTF-8
(with or without BOM); otherwise they must decode strictly as GB18030 (a superset of GBK and
GB2312). Row numbers are what a person sees: the header is row 1; in a CSV, a row is numbered by
the line it starts on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from registry.schema import unknown_column
from shuangsui import spreadsheet
from shuangsui.errors import RowProblem, UserError
from shuangsui.files import atomic_writer

CHUNK = 1 << 20
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str
    format: str  # "csv" | "xlsx"
    encoding: str | None  # None for XLSX

    @property
    def source(self) -> str:
        """What a history row records as its source: file name and content hash."""
        return f"{self.path.name} sha256:{self.sha256}"


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    raise UserError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def inspect_source(path: Path) -> SourceFile:
    """Hash the file and, for a CSV, detect its encoding."""
    if path.is_dir():
        raise UserError(f"{path}: a folder, not a file (`registry import all` takes a folder)")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    fmt = file_format(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    encoding = None
    if fmt == "csv":
        encoding = next((e for e in CSV_ENCODINGS if _decodes(path, e)), None)
        if encoding is None:
            raise UserError(f"{path}: neither UTF-8 nor GB18030/GBK text")
    return SourceFile(path, digest.hexdigest(), fmt, encoding)


def cell_text(value: Any) -> str:
    """One spreadsheet cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_rows(src: SourceFile) -> Iterator[tuple[int, list[str]]]:
    """``read_rows`` of a CSV file (a row's number is the line it starts on)."""
    with src.path.open(encoding=src.encoding, newline="", errors="strict") as fh:
        reader = csv.reader(fh)
        start = 1
        try:
            for cells in reader:
                if "".join(cells).strip():
                    yield start, cells
                start = reader.line_num + 1
        except csv.Error as exc:  # a cell over the csv module's limit (128 KiB), say
            raise UserError(f"{src.path}:{start}: not readable as CSV: {exc}") from None


def _not_xlsx(path: Path, exc: Exception) -> UserError:
    # a KeyError (a part missing) without the quotes its str() adds
    reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return UserError(
        f"{path}: not an XLSX workbook ({reason}); save it as .xlsx (Excel 2007 or later) or as CSV"
    )


def _xlsx_rows(src: SourceFile) -> Iterator[tuple[int, list[str]]]:
    """``read_rows`` of an XLSX file's first sheet. An empty cell may be absent from the file,
    and a sheet without a dimension ends each row at its last cell: a row shorter than the
    header is given the empty cells it lacks, as a CSV row holds them."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # what a file that is no workbook, or a damaged one, raises: not a zip archive, a part
    # missing (KeyError), a part that does not inflate (zlib) or is not XML (SyntaxError)
    damaged = (zipfile.BadZipFile, zlib.error, SyntaxError)
    try:
        wb = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    except (*damaged, KeyError, InvalidFileException) as exc:
        raise _not_xlsx(src.path, exc) from None
    try:
        ws = wb.worksheets[0]
        width = 0  # the header's, once read
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [cell_text(v) for v in values]
            if "".join(cells).strip():
                cells += [""] * (width - len(cells))
                width = width or len(cells)
                yield number, cells
    except damaged as exc:
        raise _not_xlsx(src.path, exc) from None
    finally:
        wb.close()


def read_rows(src: SourceFile) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells)`` for every non-blank row, header included."""
    return _csv_rows(src) if src.format == "csv" else _xlsx_rows(src)


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write a CSV (UTF-8 with BOM) or XLSX by extension; returns the number of data rows.
    Text a spreadsheet would run as a formula is written with a ``'`` before it."""
    fmt = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_writer(path) as raw:  # a killed export leaves the old file, not half a table
        if fmt == "csv":
            fh = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            writer = spreadsheet.csv_writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
            fh.flush()
            fh.detach()  # the writer closes the file itself, after fsync
            return count
        return spreadsheet.write_xlsx(raw, header, rows)


def named_width(fields: Sequence[str | None]) -> int:
    """The cells a data row must have under a header that maps to ``fields``: up to its last
    named column (a blank header cell after it names nothing a row could lack)."""
    return max((i + 1 for i, name in enumerate(fields) if name is not None), default=0)


def header_fields(
    file: str,
    cells: Sequence[str],
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
) -> tuple[list[str | None], list[RowProblem]]:
    """The field each header cell names (its own name or one of its aliases, any case), or
    ``None``; and the header's problems: unknown, repeated and missing required columns."""
    lookup = {name: name for name in columns}
    lookup.update({alias.lower(): name for name, aliases in columns.items() for alias in aliases})
    fields: list[str | None] = []
    problems = []
    for text in cells:
        name = lookup.get(text.strip().lower())
        if text.strip() and name is None:
            reason = unknown_column(text.strip(), columns)
            problems.append(RowProblem(file, 1, text.strip(), reason))
        elif name in fields:
            problems.append(RowProblem(file, 1, str(name), "column appears twice"))
            name = None
        fields.append(name)
    problems += [RowProblem(file, 1, name, "required column is missing")
                 for name in required if name not in fields]  # fmt: skip
    return fields, problems
