"""Reading and writing registry tables as CSV or XLSX.

CSV encodings are detected, not guessed from the locale: the bytes must decode strictly as UTF-8
(with or without BOM); otherwise they must decode strictly as GB18030 (a superset of GBK and
GB2312). Row numbers are what a person sees: the header is row 1; in a CSV, a row is numbered by
the line it starts on.
"""

from __future__ import annotations

import codecs
import copy
import csv
import hashlib
import io
import logging
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from registry.schema import unknown_column
from shuangsui import spreadsheet
from shuangsui.errors import RowProblem, UserError
from shuangsui.files import atomic_writer

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
CSV_ENCODINGS = ("utf-8-sig", "gb18030")
EXCEL_ROWS = 1_048_576  # the rows of a sheet in Excel 2007 and later: an XLSX is read to here
FORMULA_SHOWN = 40  # characters of a refused formula quoted back


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str
    format: str  # "csv" | "xlsx"
    encoding: str | None  # None for XLSX
    size: int  # bytes, as hashed

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


# Chinese read as UTF-8 before the first byte that is not: a file of UTF-8 with a stray byte
# (a character pasted from a page or a document in another encoding), not GBK. GBK's two-byte
# characters seldom make UTF-8 at all, four running ideographs next to never; read as GB18030,
# such a file's Chinese would be taken, silently, as other characters (有限公司 as 鏈夐檺鍏徃).
UTF8_SURE = 4
# why a file that is not UTF-8 throughout is taken for UTF-8 (said in its refusal)
UTF8_BOM = "it begins with UTF-8's byte order mark"
UTF8_READ = "its Chinese up to there is UTF-8"
_IDEOGRAPH = re.compile("[\u4e00-\u9fff]")


def _decodes(blocks: Iterable[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        for block in blocks:
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf8_before(blocks: Iterable[bytes]) -> int | None:
    """None if ``blocks`` are UTF-8 text; else the ideographs read before the first byte that
    is not (counted up to :data:`UTF8_SURE`)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    ideographs = 0
    try:
        for block in blocks:
            text = decoder.decode(block)
            if ideographs < UTF8_SURE:
                ideographs += len(_IDEOGRAPH.findall(text))
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        if ideographs < UTF8_SURE:
            before = exc.object[: exc.start].decode("utf-8", errors="ignore")
            ideographs += len(_IDEOGRAPH.findall(before))
        return min(ideographs, UTF8_SURE)
    return None


def csv_encoding(said: str, blocks: Callable[[], Iterable[bytes]]) -> str:
    """The encoding of a CSV (``said``: its name; ``blocks()``: its bytes, in order, each call
    from the start): UTF-8, with or without its BOM, else GB18030 (which holds GBK). A file
    that begins with UTF-8's BOM, or reads as UTF-8 Chinese before a byte that is not UTF-8, is
    UTF-8 with a stray byte, never read as GB18030; refused as :func:`not_text` says."""
    stop = _utf8_before(blocks())
    if stop is None:
        return "utf-8-sig"
    if next(iter(blocks()), b"").startswith(codecs.BOM_UTF8):
        raise not_text(said, blocks(), UTF8_BOM)
    if stop == UTF8_SURE:
        raise not_text(said, blocks(), UTF8_READ)
    if not _decodes(blocks(), "gb18030"):
        raise not_text(said, blocks())
    return "gb18030"


def regular_file(path: Path, said: str, *, folder_hint: str = "") -> None:
    """Refuse ``path`` unless it is a regular file, unopened (opening a FIFO waits for a
    writer), each refusal beginning with ``said`` (the file, or the option that named it)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"{said}: no such file") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{said}: a folder, not a file{folder_hint}")
    if not stat.S_ISREG(mode):
        raise UserError(f"{said}: not a regular file (a FIFO, a device or a socket)")


def inspect_source(path: Path, *, folder_hint: str = "") -> SourceFile:
    """Hash the file and, for a CSV, detect its encoding. Only a regular file is read: a FIFO
    (which was called "no such file") or a device is refused unopened, as opening a FIFO
    waits for a writer. ``folder_hint``: said after a folder's refusal (the registry's import:
    ``registry import all`` takes a folder; the leads' and the findings' take none)."""
    regular_file(path, str(path), folder_hint=folder_hint)
    fmt = file_format(path)
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            size += len(block)
    encoding = None
    if fmt == "csv":
        encoding = csv_encoding(str(path), lambda: _blocks(path))
    return SourceFile(path, digest.hexdigest(), fmt, encoding, size)


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            yield block


def not_text(said: str, blocks: Iterable[bytes], utf8: str = "") -> UserError:
    """The refusal of a CSV (``said``: its name) whose bytes (``blocks``, in order) are not
    text: where each encoding stops, by line, so that the rows pasted from elsewhere can be
    found; a file of UTF-16 (Excel's "Unicode text", with its byte order mark) said to be one,
    and how to save it. ``utf8``: why the file is UTF-8 (then not tried as GB18030)."""
    encodings = CSV_ENCODINGS[:1] if utf8 else CSV_ENCODINGS
    decoders = [codecs.getincrementaldecoder(e)(errors="strict") for e in encodings]
    lines = [1] * len(decoders)
    stops: list[str | None] = [None] * len(decoders)
    for n, block in enumerate(blocks):
        if n == 0 and block.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return UserError(
                f"{said}: UTF-16 text (Excel's 'Unicode text'), neither UTF-8 nor GB18030/GBK "
                "text: save the sheet as CSV (UTF-8) and import that"
            )
        for k, decoder in enumerate(decoders):
            if stops[k] is not None:
                continue
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:  # its object: the bytes held back from the last
                seen = exc.object  # block (part of one character: no line break), then this one
                line = lines[k] + seen.count(b"\n", 0, exc.start)
                stops[k] = f"line {line} (byte 0x{seen[exc.start]:02X})"
            lines[k] += block.count(b"\n")
        if all(stops):
            break
    for k, decoder in enumerate(decoders):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends inside a character
            stops[k] = stops[k] or f"line {lines[k]} (its last bytes)"
    if utf8:
        return UserError(
            f"{said}: UTF-8 text ({utf8}) but not from {stops[0]}: a character pasted from "
            "another encoding; retype that line, or save the sheet again as CSV (UTF-8)"
        )
    return UserError(
        f"{said}: neither UTF-8 nor GB18030/GBK text: not UTF-8 from {stops[0]}, not GB18030 "
        f"from {stops[1]}"
    )


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


def _past(path: Path, last_row: int, reached: int | None = None) -> UserError:
    """A file with rows past ``last_row``: ``reached``, the row its sheet says it reaches."""
    where = f"the sheet's used range reaches row {reached}," if reached else "a row"
    return UserError(
        f"{path}: {where} past row {last_row}, the last this import reads; "
        "delete the rows below the table"
    )


# a row as read: its number, its cells (a formula cell blank), its formulas by column index
# from 0 (none in a CSV)
Row = tuple[int, list[str], dict[int, str]]


def _csv_rows(src: SourceFile, last_row: int | None) -> Iterator[Row]:
    """``read_cells`` of a CSV file (a row's number is the line it starts on)."""
    with src.path.open(encoding=src.encoding, newline="", errors="strict") as fh:
        reader = csv.reader(fh)
        start = 1
        try:
            for cells in reader:
                if last_row is not None and start > last_row:
                    raise _past(src.path, last_row)
                if "".join(cells).strip():
                    yield start, cells, {}
                start = reader.line_num + 1
        except csv.Error as exc:  # a cell over the csv module's limit (128 KiB), say
            raise UserError(f"{src.path}:{start}: not readable as CSV: {exc}") from None


# what a file that is no workbook, or a damaged one, raises: not a zip archive, a part missing
# (KeyError), a part that does not inflate (zlib) or is not XML (SyntaxError)
_DAMAGED = (zipfile.BadZipFile, zlib.error, SyntaxError, KeyError)
CHARTS_ONLY = "no worksheet, only chart sheets"  # why a workbook is no table (_not_xlsx)


def _not_xlsx(path: Path, reason: Exception | str) -> UserError:
    # a KeyError (a part missing) without the quotes its str() adds
    if isinstance(reason, KeyError) and reason.args:
        reason = str(reason.args[0])
    return UserError(
        f"{path}: not an XLSX workbook ({reason}); save it as .xlsx (Excel 2007 or later) or as CSV"
    )


def _unreadable(path: Path, exc: Exception) -> UserError:
    """Whatever openpyxl raised reading ``path``, as the file's refusal. What a damaged file
    is known to raise says so; anything else (a workbook of chart sheets alone raises an
    AttributeError, say) is named by its type too, and logged with its traceback."""
    from openpyxl.utils.exceptions import InvalidFileException

    if isinstance(exc, (*_DAMAGED, InvalidFileException)):
        return _not_xlsx(path, exc)
    logger.info("%s: openpyxl cannot read it", path, exc_info=exc)
    return _not_xlsx(path, f"{type(exc).__name__}: {exc}")


# the compression methods Excel writes; zipfile inflates any other (bzip2, lzma) a read at once
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What an XLSX part may unpack to in an import with no rows to bound it by (the registry's,
# the leads'): PART_RATIO times the file's own size, and PART_OVERHEAD besides for a small
# workbook's own parts (its theme alone is 10 KB). A sheet's XML repeats itself and deflates
# 15 to 25 times: a 100,000-row enterprises XLSX written by write_table is 3.8 MB, its sheet
# 59 MB (15.7 times the file); certificates 14.6; 100,000 rows of one repeated cell 23.4. A
# registry as long as Excel allows (EXCEL_ROWS) is read whole, then; a bomb is not: deflate
# gives about 1,000 times on repeated bytes, and a part unpacking to gigabytes from a small
# file is refused unread (the sheet openpyxl streams, but the shared strings it holds whole)
PART_RATIO = 100
PART_OVERHEAD = 1 << 20


def part_bound(src: SourceFile) -> int:
    """``read_cells``'s ``max_part_bytes`` for a file whose rows nothing bounds but Excel's
    own limit: by its size (:data:`PART_RATIO`)."""
    return PART_OVERHEAD + PART_RATIO * src.size


def _refused_part(path: Path, limit: int | None) -> UserError | None:
    """The refusal of a workbook with a part no workbook Excel saves would hold, before
    openpyxl opens it; None if none is: a part compressed by a method Excel does not write,
    one that unpacks to more than the zip's directory declares, and, given ``limit``, one
    past ``limit`` bytes uncompressed. Every part is measured, whatever its name: the
    workbook's content types, not the name, say which part holds the shared strings.

    openpyxl holds some parts whole in memory, whatever the rows: every shared string of
    ``xl/sharedStrings.xml`` (a 6.7 MB upload of 2.7 million of them, 58 MB unpacked, took
    the server from 195 MB to 596 MB), the styles. A part declaring more is refused from the
    zip's directory alone. A directory that understates a part is no way round it: zipfile
    inflates a part read whole (the content types, the workbook, the styles) in one call and
    cuts it to the declared size only after (400 KB understating ``docProps/core.xml`` took
    870 MB), so each part is inflated here first, a piece at a time, and refused as soon as it
    gives more than declared (:func:`_inflates_past`); and a part in a method Excel does not
    write is refused unread (zipfile inflates bzip2 and lzma a read at once: 5 KB, 673 MB)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None  # not a zip: openpyxl says what it is (_not_xlsx)
    with archive:
        for part in archive.infolist():
            if part.compress_type not in ZIP_METHODS:
                return UserError(
                    f"{path}: part {part.filename} is compressed by method "
                    f"{part.compress_type}, not as Excel writes a workbook; save it again "
                    "in Excel as .xlsx, or as CSV"
                )
            if limit is not None and part.file_size > limit:
                return UserError(
                    f"{path}: part {part.filename} unpacks to {part.file_size} bytes, past "
                    f"the {limit} this import reads of a part; save the table alone as a new "
                    "workbook or as CSV"
                )
            try:
                if _inflates_past(archive, part):
                    return UserError(
                        f"{path}: part {part.filename} unpacks to more than the "
                        f"{part.file_size} bytes the workbook's directory declares; save it "
                        "again in Excel as .xlsx, or as CSV"
                    )
            except (*_DAMAGED, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
                return _not_xlsx(path, exc)
    return None


def _inflates_past(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> bool:
    """Whether ``part`` gives more bytes than the zip's directory declares: read a piece at a
    time (a read of ``CHUNK`` inflates at most that), as if it declared one byte more and no
    CRC (openpyxl's reading checks it)."""
    probe = copy.copy(part)
    probe.file_size = part.file_size + 1
    probe.CRC = None  # type: ignore[assignment]  # zipfile then checks none
    given = 0
    with archive.open(probe) as fh:
        while piece := fh.read(CHUNK):
            given += len(piece)
            if given > part.file_size:
                return True
    return False


def _xlsx_rows(src: SourceFile, last_row: int | None, max_part_bytes: int | None) -> Iterator[Row]:
    """``read_cells`` of an XLSX file's first worksheet, read with its formulas (openpyxl's
    ``data_only=False``): a formula's saved result is not read. Any exception openpyxl raises
    opening the workbook or reading the sheet is the file's refusal (:func:`_unreadable`), but
    a MemoryError: the server's trouble, not the file's."""
    import openpyxl

    if refused := _refused_part(src.path, max_part_bytes):
        raise refused
    try:
        wb = openpyxl.load_workbook(src.path, read_only=True, data_only=False)
    except MemoryError:
        raise
    except Exception as exc:  # a file openpyxl cannot read, whatever it raises
        raise _unreadable(src.path, exc) from None
    try:
        yield from _sheet_rows(src.path, wb, min(last_row or EXCEL_ROWS, EXCEL_ROWS))
    except (UserError, MemoryError):
        raise
    except Exception as exc:
        raise _unreadable(src.path, exc) from None
    finally:
        wb.close()


def _sheet_rows(path: Path, wb: Any, last_row: int) -> Iterator[Row]:
    """The rows of ``wb``'s first worksheet, to ``last_row`` at most.

    Read as the sheet holds them, not as its dimension (its used range, ``A1:L51``) says:
    openpyxl cuts off the rows and columns past a dimension, and gives a row for every row
    number one skips, each as wide as the dimension; a sheet of one cell at row 20,000,000
    took seconds per million rows. So a sheet whose dimension reaches past ``last_row`` is
    refused before a row is read, and one with a row past it when that row is reached: the
    time taken is bounded by the content and ``last_row``, whatever the row numbers say.

    An empty cell may be absent from the file: a row shorter than the header is given the
    empty cells it lacks, as a CSV row holds them. The header keeps the dimension's width, as
    openpyxl gives it, so a cell under a blank header cell is ignored, not outside the header.

    A formula cell is blank among the row's cells and named in its formulas (its text, as
    ``=1+1``); a row with a formula is given, blank or not.
    """
    if not wb.worksheets:
        raise _not_xlsx(path, CHARTS_ONLY)
    ws = wb.worksheets[0]
    if ws.max_row is not None and ws.max_row > last_row:
        raise _past(path, last_row, ws.max_row)
    declared = ws.max_column or 0  # the dimension's width: the header's at least
    ws.reset_dimensions()
    width = 0  # the header's, once read
    rows = ws.iter_rows(max_row=last_row + 1)
    for number, row in enumerate(rows, start=1):
        if number > last_row:
            raise _past(path, last_row)
        formulas = {i: _formula_text(c.value) for i, c in enumerate(row) if c.data_type == "f"}
        cells = [cell_text(None if i in formulas else c.value) for i, c in enumerate(row)]
        if "".join(cells).strip() or formulas:  # not a skipped row number, nor formatted only
            cells += [""] * ((width or declared) - len(cells))
            width = width or len(cells)
            yield number, cells, formulas


def _formula_text(value: Any) -> str:
    """A formula cell's formula: ``=1+1``; an array formula's is its ``text``."""
    return str(getattr(value, "text", value))


def formula_refused(path: Path, row: int, formulas: Mapping[int, str]) -> UserError:
    """The refusal of a file with a formula where values are read: the first cell named."""
    column = min(formulas)
    formula = formulas[column]
    shown = formula if len(formula) <= FORMULA_SHOWN else formula[:FORMULA_SHOWN] + "…"
    return UserError(
        f"{path}: cell {_column_letter(column)}{row} holds a formula ({shown}); this import "
        "reads values only: paste the column as values, or save the sheet as CSV"
    )


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def read_cells(
    src: SourceFile, *, last_row: int | None = None, max_part_bytes: int | None = None
) -> Iterator[Row]:
    """``(row number, cells, formulas)`` for every non-blank row, header included.

    An XLSX is read once, with its formulas: a formula cell is blank in ``cells`` and its
    formula is in ``formulas``, by the column's index (from 0); the caller says what a formula
    means to it. Its result is not read, because it is not always saved (a formula a program
    wrote, openpyxl's ``=1+1``, has none), and a blank read for it would pass for a value.

    ``last_row``: a file with a row past it, blank or not, is refused (:class:`UserError`) when
    that row is reached, and an XLSX sheet whose dimension reaches past it before a row is
    read. An XLSX sheet is read to Excel's last row (:data:`EXCEL_ROWS`) at most.
    ``max_part_bytes``: an XLSX with a part (the sheet, its shared strings, its styles, any
    other) that unpacks to more is refused before it is opened; an upload's reader sets it
    from the rows the file may hold, the registry's and the leads' imports from the file's
    size (:func:`part_bound`). Whatever the bound, an XLSX with a part that unpacks to more
    than its zip's directory declares, or compressed as Excel does not, is refused
    (:func:`_refused_part`)."""
    if src.format == "csv":
        return _csv_rows(src, last_row)
    return _xlsx_rows(src, last_row, max_part_bytes)


def read_rows(
    src: SourceFile, *, last_row: int | None = None, max_part_bytes: int | None = None
) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells)`` for every non-blank row, header included (:func:`read_cells`),
    for an import that reads values only (the registry's, the leads'): a formula cell, wherever
    it is, refuses the file when its row is reached (:func:`formula_refused`)."""
    for number, cells, formulas in read_cells(
        src, last_row=last_row, max_part_bytes=max_part_bytes
    ):
        if formulas:
            raise formula_refused(src.path, number, formulas)
        yield number, cells


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
    ``None``; and the header's problems: unknown, repeated and missing required columns. A
    blank header cell names nothing, however many there are: its column is not read (a sheet
    gives one past the table for a cell formatted or written there)."""
    lookup = {name: name for name in columns}
    lookup.update({alias.lower(): name for name, aliases in columns.items() for alias in aliases})
    fields: list[str | None] = []
    problems = []
    for text in cells:
        name = lookup.get(text.strip().lower())
        if text.strip() and name is None:
            reason = unknown_column(text.strip(), columns)
            problems.append(RowProblem(file, 1, text.strip(), reason))
        elif name is not None and name in fields:
            problems.append(RowProblem(file, 1, name, "column appears twice"))
            name = None
        fields.append(name)
    problems += [RowProblem(file, 1, name, "required column is missing")
                 for name in required if name not in fields]  # fmt: skip
    return fields, problems
