"""Import upheld complaints from a CSV (credit_code, ref, upheld_on[, summary]).

Any bad row rejects the whole file (FILE:ROW: field: reason). A complaint already held (same
enterprise and reference) is left as it is, also when an import of the same complaints runs at
the same time and commits first (the second raised the unique violation's ``IntegrityError``: a
traceback). The file's SHA-256 is in the audit log.

Each value is checked as the leads' import checks its own (``shuangsui.text``): a control or
invisible character is refused by name (PostgreSQL refused a NUL with a raw ``DataError``,
SQLite stored it), a complaint upheld after today is refused (it would count in every
classification from then on, dated after any ``--as-of``), and one complaint twice in the file
(code and reference) is refused naming both rows (only the last was kept, unsaid). A file with
no row below its header imports nothing and records nothing.

The file is read as the registry's and the leads' imports read theirs: a row is numbered by the
line it starts on (blank lines and line breaks inside a quoted cell counted), and its header may
name each column once and no unknown one (a second ``ref`` column was taken over the first, and
a misspelt ``summery`` dropped, unsaid); a row with fewer cells than the header names, or a cell
past the header (an unquoted comma in a summary), is refused, not cut. Only a regular file is
read: a FIFO blocked the command for ever. It is decoded as theirs are too: UTF-8 (a BOM or
none), else GB18030/GBK, as Excel saves a CSV on a Chinese Windows (refused before); and its
dates as theirs (``registry.validate.parse_date``): 2026/10/1, as Excel writes a date in such a
CSV, 2026.10.1, 2026年10月1日 and 20261001 beside 2026-10-01 (the slashes were refused). A credit
code is upper-cased, as the leads' import reads it (a lower-case one was "not in the
registry"), and one the registry does not hold is said by what is wrong with it, if anything
(``registry.uscc.problem``: 9.13506E+17, a code Excel turned into a number, was "not in the
registry" too).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import stat
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from findings import dates
from registry import uscc
from registry.io import csv_encoding, header_fields, named_width
from registry.models import Enterprise
from registry.validate import WITH_TIME, CellError, parse_date, spreadsheet_day
from risk.events import RiskComplaintsImported
from risk.models import RiskComplaint
from rounds import audit
from shuangsui import db
from shuangsui.errors import ImportRejected, RowProblem, UserError
from shuangsui.text import no_control, no_control_in_text

_RC = RiskComplaint.__table__  # type: ignore[attr-defined]
_E = Enterprise.__table__  # type: ignore[attr-defined]
COLUMNS = ("credit_code", "ref", "upheld_on")
# credit codes looked up a statement: an IN of a file's every code was one parameter a code,
# past PostgreSQL's 65,535 (a file of 70,000 enterprises failed with psycopg's OperationalError)
LOOKUP = 10_000
HEADERS: dict[str, tuple[str, ...]] = {name: () for name in (*COLUMNS, "summary")}


class Imported(NamedTuple):
    """What an import did: complaints added, and those of the file already held (left as
    they were: a file imported again adds none, and says so)."""

    added: int
    held: int


def import_complaints(engine: Engine, path: Path, *, by: str) -> Imported:
    """Import the file's complaints; those already held are skipped."""
    data = _read(path)
    records, problems = _records(path, _text(path, data))
    rows: list[dict[str, Any]] = []
    now, today = dt.datetime.now(dt.UTC), dates.today()
    first_row: dict[tuple[str, str], int] = {}
    for n, rec in records:
        fields = _fields(path.name, n, rec, problems)
        if fields is None:
            continue
        code, ref, day, summary = fields
        if day > today:
            problems.append(RowProblem(path.name, n, "upheld_on", f"{day} is in the future"))
            continue
        if (code, ref) in first_row:
            problems.append(RowProblem(path.name, n, "ref", f"{ref} of {code} is also on row "
                                       f"{first_row[code, ref]}"))  # fmt: skip
            continue
        first_row[code, ref] = n
        rows.append({"credit_code": code, "ref": ref, "upheld_on": day, "summary": summary,
                     "imported_at": now, "imported_by": by, "_row": n})  # fmt: skip
    if not rows and not problems:
        raise UserError(f"{path.name}: no data rows below the header")
    codes = sorted({r["credit_code"] for r in rows})
    with engine.connect() as conn:
        known = {c for (c,) in db.rows_of(conn, _E, ["credit_code"], "credit_code", codes, LOOKUP)}
    for r in rows:
        if r["credit_code"] and r["credit_code"] not in known:
            # what is wrong with it, if it is no code at all (9.13506E+17: Excel's number)
            why = uscc.problem(r["credit_code"], uscc.whitelist()) or "not in the registry"
            problems.append(RowProblem(path.name, r["_row"], "credit_code", why))
    if problems:
        raise ImportRejected(problems)
    digest = hashlib.sha256(data).hexdigest()
    for _attempt in range(20):
        with Session(engine) as session:
            # what is held is read again in each attempt: an import of the same complaints
            # that committed first (the insert's unique violation) holds them now
            fresh = _fresh(session.connection(), rows, codes)
            try:
                if fresh:
                    session.connection().execute(sa.insert(_RC), fresh)
                audit.add_to(session, None, RiskComplaintsImported(digest, len(fresh), by))
                session.commit()
            except IntegrityError:  # that import's rows, or another audit append
                session.rollback()
                continue
        return Imported(len(fresh), len(rows) - len(fresh))
    raise RuntimeError("could not record the import: the audit log is too busy")


def _fresh(
    conn: sa.Connection, rows: list[dict[str, Any]], codes: list[str]
) -> list[dict[str, Any]]:
    """The rows to insert: those of ``rows`` whose complaint (code and reference) is not held."""
    names = ["credit_code", "ref"]
    held = {(c, r) for c, r in db.rows_of(conn, _RC, names, "credit_code", codes, LOOKUP)}
    return [
        {k: v for k, v in r.items() if k != "_row"}
        for r in rows
        if (r["credit_code"], r["ref"]) not in held
    ]


def _read(path: Path) -> bytes:
    """The bytes of ``path``, if it is a regular file; a FIFO (which blocked the command for
    ever), a device or a folder is refused naming it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UserError(f"{path.name}: no such file") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{path.name}: a folder, not a file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{path.name}: not a regular file (a FIFO, a device or a socket)")
    return path.read_bytes()


WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".et")  # what Excel and WPS save besides a CSV


def _text(path: Path, data: bytes) -> str:
    """``data`` as text, decoded as the registry's and the leads' imports decode a CSV
    (``registry.io.csv_encoding``): strictly UTF-8, with or without its BOM, else strictly
    GB18030, which holds GBK. A CSV saved by Excel or WPS on a Chinese Windows is GBK, and
    was refused as "not UTF-8" here alone. A workbook is refused as one, not as text."""
    if path.suffix.lower() in WORKBOOKS:
        raise UserError(f"{path.name}: a workbook; risk complaints reads a CSV file: save the "
                        "sheet as CSV (UTF-8 or GBK)")  # fmt: skip
    return data.decode(csv_encoding(path.name, lambda: [data]))


def _records(path: Path, text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[RowProblem]]:
    """(row number, cells by column) of each row below the header, the header checked first,
    and the problems of the rows' shapes.
    A row is numbered by the line it starts on; blank rows are skipped. A row the csv module
    cannot read (a cell over its 128 KiB limit, say) refuses the file naming the row, not with
    a ``_csv.Error`` traceback; so does a header naming a column twice, an unknown column or
    none of a required one, and a row with fewer cells than the header names or one past it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    fields: list[str | None] | None = None
    width = 0  # the cells a row must have: up to the header's last named column
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[RowProblem] = []
    row = 1  # the line the row being read starts on
    try:
        for cells in reader:
            if "".join(cells).strip():
                if fields is None:
                    fields, header_problems = header_fields(path.name, cells, HEADERS, COLUMNS)
                    if header_problems:
                        raise ImportRejected(header_problems)
                    width = named_width(fields)
                elif shape := _shape(path.name, row, cells, fields, width):
                    problems.extend(shape)
                else:
                    records.append((row, {f: cells[i] for i, f in enumerate(fields) if f}))
            row = reader.line_num + 1
    except csv.Error as exc:
        raise UserError(f"{path.name}:{row}: not readable as CSV: {exc}") from None
    if fields is None:
        raise UserError(f"{path.name}: empty file: no header row")
    return records, problems


def _shape(
    name: str, row: int, cells: list[str], fields: list[str | None], width: int
) -> list[RowProblem]:
    """A row's problems of shape: cut short of the columns the header names, or with a cell
    past the header (the rest of a summary after an unquoted comma, say)."""
    if len(cells) < width:  # a missing cell is not an empty one
        return [RowProblem(name, row, "row", f"{len(cells)} cells, the header has {width}")]
    return [
        RowProblem(name, row, f"column {i + 1}", "cell outside the header")
        for i in range(len(fields), len(cells))
        if cells[i].strip()
    ]


def _fields(
    name: str, row: int, rec: dict[str, Any], problems: list[RowProblem]
) -> tuple[str, str, dt.date, str] | None:
    """A row's code, reference, date and summary; None when any is bad (``problems`` then
    says which). A summary may hold line breaks and tabs; the other three are one line."""
    found = len(problems)
    values: dict[str, str] = {}
    for field in (*COLUMNS, "summary"):
        text = (rec.get(field) or "").strip()
        check = no_control_in_text if field == "summary" else no_control
        try:
            values[field] = check(text)
        except ValueError as exc:
            problems.append(RowProblem(name, row, field, str(exc)))
            continue
        if not text and field in COLUMNS:
            problems.append(RowProblem(name, row, field, "empty"))
    if "credit_code" in values:  # as the leads' import reads a code
        values["credit_code"] = values["credit_code"].upper()
    day = None
    if values.get("upheld_on"):
        try:  # as the registry's, the leads' and the findings' imports read a date
            day = dt.date.fromisoformat(parse_date(values["upheld_on"]))
        except CellError as exc:  # a spreadsheet's day number, a time of day: said as what it is
            typed = values["upheld_on"]
            said = (
                str(exc)
                if spreadsheet_day(typed) or WITH_TIME.match(typed)
                else "not a YYYY-MM-DD date"
            )
            problems.append(RowProblem(name, row, "upheld_on", said))
    if len(problems) > found or day is None:
        return None
    return values["credit_code"], values["ref"], day, values["summary"]
