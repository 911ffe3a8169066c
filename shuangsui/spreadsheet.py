"""Cells bound for a spreadsheet, made safe in one place (OWASP "CSV Injection").

A spreadsheet program reads a text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or with
a tab or carriage return before one) as a formula: an enterprise named ``=cmd|' /C calc'!A0``
or ``=HYPERLINK(...)`` would run on the machine of whoever opens the open data. Every CSV and
XLSX the project writes goes through :func:`csv_writer` or :func:`write_xlsx`, which put a
``'`` before such text (:func:`safe_cell`). Numbers stay numbers: only text is touched.

Only spreadsheet formats are neutralised. JSON files and the round bundles keep the text as it
is (they are hashed and verified byte for byte). Registry import undoes the prefix
(:func:`unescape_cell`) so an exported registry file imports back unchanged.

XLSX cannot hold most control characters: openpyxl refuses U+0000-0008, U+000B, U+000C and
U+000E-001F (``openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE``) with ``IllegalCharacterError``.
Input validation keeps them out of new findings and leads, but text stored before that (or
come by another path) must not make a whole export fail: :func:`write_xlsx` replaces each such
character with U+FFFD (:data:`REPLACEMENT`, "�"), visibly, before the formula guard looks at
the text. Tabs and line breaks stay. CSV is written as it was: a CSV cell holds any character.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_STARTS)  # (each is one character)
# what an XLSX cell shows in place of a character it cannot hold
REPLACEMENT = "\ufffd"


def safe_cell(value: Any) -> Any:
    """``value`` with a ``'`` before it when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` of each value (written out: a call per cell was most of a row's cost)."""
    return ["'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in row]


# a formula's first character after a NUL: in a column of texts joined by NULs, a text after
# the first that starts as a formula (or, rarely, one holding a NUL before such a character)
_FORMULA_AFTER_NUL = re.compile("\0[=+\\-@\t\r]")


def safe_column(values: Sequence[Any]) -> Sequence[Any]:
    """:func:`safe_cell` of each of ``values`` (a column of a table): the column as it is when
    no text of it starts as a formula. A column of texts is searched at once, joined by NULs
    (a look at each text's first character was most of a column's guard); one holding another
    value, a text at a time."""
    try:
        texts = "\0".join(values)
    except TypeError:  # not only texts
        if FORMULA_FIRST.isdisjoint([v[:1] for v in values if isinstance(v, str)]):
            return values
    else:
        if texts[:1] not in FORMULA_FIRST and not _FORMULA_AFTER_NUL.search(texts):
            return values
    return [safe_cell(v) for v in values]


def unescape_cell(text: str) -> str:
    """The text :func:`safe_cell` was given, for a cell read back from an exported file."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


class SafeCsvWriter:
    """``csv.writer`` (CRLF line ends) whose rows pass through :func:`safe_row`."""

    def __init__(self, fh: IO[str]):
        self._writer = csv.writer(fh, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow(safe_row(row))

    def write_columns(self, columns: Sequence[Sequence[Any]]) -> None:
        """The rows whose values ``columns`` hold (a list a column, as long as each other),
        each column guarded at once (:func:`safe_column`), written in one call: a table of
        many rows without a guard and a call a row."""
        self._writer.writerows(zip(*map(safe_column, columns), strict=True))


def csv_writer(fh: IO[str]) -> SafeCsvWriter:
    return SafeCsvWriter(fh)


def _xlsx_row(row: Iterable[Any], illegal: re.Pattern[str]) -> list[Any]:
    """``row`` for openpyxl: characters it refuses become :data:`REPLACEMENT`, then the
    formula guard (:func:`safe_cell`) sees the text as it will be written."""
    return [safe_cell(illegal.sub(REPLACEMENT, v) if isinstance(v, str) else v) for v in row]


def write_xlsx(path: Path | IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """One sheet: ``header`` then ``rows``; returns the row count. Text cells are neutralised
    (:func:`safe_cell`), and each character an XLSX cell cannot hold (a C0 control other than
    tab and line breaks, ``openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE``) is written as U+FFFD
    (:data:`REPLACEMENT`) instead of failing the whole file."""
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(_xlsx_row(header, ILLEGAL_CHARACTERS_RE))
    count = 0
    for row in rows:
        ws.append(_xlsx_row(row, ILLEGAL_CHARACTERS_RE))
        count += 1
    wb.save(path)
    return count
