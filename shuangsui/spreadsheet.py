"""Cells bound for a spreadsheet, made safe in one place (OWASP "CSV Injection").

A spreadsheet program reads a text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or with
a tab or carriage return before one) as a formula: an enterprise named ``=cmd|' /C calc'!A0``
or ``=HYPERLINK(...)`` would run on the machine of whoever opens the open data. Every CSV and
XLSX the project writes goes through :func:`csv_writer` or :func:`write_xlsx`, which put a
``'`` before such text (:func:`safe_cell`). Numbers stay numbers: only text is touched.

Only spreadsheet formats are neutralised. JSON files and the round bundles keep the text as it
is (they are hashed and verified byte for byte). Registry import undoes the prefix
(:func:`unescape_cell`) so an exported registry file imports back unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a ``'`` before it when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


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


def csv_writer(fh: IO[str]) -> SafeCsvWriter:
    return SafeCsvWriter(fh)


def write_xlsx(path: Path | IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """One sheet: ``header`` then ``rows`` (text cells neutralised); returns the row count."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(safe_row(header))
    count = 0
    for row in rows:
        ws.append(safe_row(row))
        count += 1
    wb.save(path)
    return count
