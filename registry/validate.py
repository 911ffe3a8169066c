"""Row validation in plain Python: cells in, a canonical row (JSON-compatible values) out.

A canonical row holds text, booleans, ISO dates as text, enumeration values as text, and sorted
lists; it is what the importer compares and what history rows record. Checks that need the
database (references) live in the importer.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import repeat
from typing import Any
from urllib.parse import urlsplit

from registry import uscc
from registry.divisions import DivisionTable
from registry.io import named_width
from registry.schema import LABELS, Col, Kind, header_map, kind_columns, unknown_column
from shuangsui.errors import RowProblem
from shuangsui.spreadsheet import unescape_cell
from shuangsui.text import CONTROL_IN_TEXT, LINE_BREAK, SEPARATORS

LIST_SEPARATORS = re.compile(r"[;；、]")
_DATE_FORMATS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}
# Bidi controls (U+202A-202E, U+2066-2069, U+200E/F, U+061C) reorder what a reader sees; the
# zero-width characters (U+200B-200D, U+2060, U+FEFF) hide inside a name; the C0 controls, DEL
# and the C1 controls (tab and line breaks aside) are no text at all, and PostgreSQL refuses a
# NUL; a line or paragraph separator (U+2028, U+2029) is a line break to a page and none to a
# spreadsheet: none belongs in a registry text (the rule of every text a person types,
# shuangsui.text).
INVISIBLE = CONTROL_IN_TEXT
CCC_NUMBER = re.compile(r"[0-9]{16}")  # ASCII digits: `\d` takes full-width ones
ORGANIC_NUMBER = re.compile(r"[0-9]{3,4}OP[0-9]{2}[0-9]{5}(-[0-9]+)?")
# An address a message can be sent to (``notifications.messages.route`` routes by it): one
# ``@``, no spaces or list separators, a dotted domain (or ``localhost``, for a test bureau).
EMAIL_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$|^[^@\s<>,;]+@localhost$")


def is_webhook_url(text: str) -> bool:
    """An address a robot or webhook message can be posted to: http(s), a host, no spaces."""
    try:
        parts = urlsplit(text)
    except ValueError:  # a bracketed host that is not an IPv6 address
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", text)


class CellError(ValueError):
    pass


# Cell types whose values repeat down a column (a few thousand divisions or dates over a
# million rows) and are immutable once parsed: each distinct text is checked once.
REPEATING = frozenset({"division", "date", "bool", "enum"})
MEMO_LIMIT = 100_000


def check_visible(text: str) -> str:
    if m := INVISIBLE.search(text):
        char = m[0]
        raise CellError(
            f"contains the invisible character U+{ord(char):04X} "
            f"({unicodedata.name(char, 'control')}){LINE_BREAK if char in SEPARATORS else ''}; "
            "retype the value without it"
        )
    return text


# A date with a time of day: what a workbook's cell of a date and a time reads as
# (2026-11-02T09:30:00, registry.io.cell_text) and what Excel writes of one in a CSV (2026/11/2
# 9:30). At midnight it is the day (a date formatted with a time); at any other time the file
# meant something else than a day, and is told so.
WITH_TIME = re.compile(r"^(\S+?)(?:T| +)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?$")


def _written_day(text: str) -> tuple[int, int, int] | None:
    """The year, month and day ``text`` is written as, None if it is not written as a day."""
    for pattern in _DATE_FORMATS:
        if m := pattern.match(text):
            return int(m[1]), int(m[2]), int(m[3])
    return None


def parse_date(text: str) -> str:
    written, timed = _written_day(text), None
    if written is None and (timed := WITH_TIME.match(text)):
        written = _written_day(timed[1]) if int(timed[2]) < 24 and int(timed[3]) < 60 else None
    if written is not None:
        try:
            day = date(*written).isoformat()
        except ValueError as exc:
            raise CellError(f"not a real date: {text!r}") from exc
        if timed and any(int(t or 0) for t in timed.groups()[1:]):
            raise CellError(
                f"not a date: {text!r} is a date and a time of day ({int(timed[2]):02d}:"
                f"{timed[3]}); a date alone is wanted: write {day}, or set the column's format "
                "to a date (日期) without the time"
            )
        return day
    if stored := spreadsheet_day(text):
        raise CellError(
            f"not a date (use YYYY-MM-DD): {text!r} is a date as a spreadsheet stores it, a "
            f"number of days ({stored} in Excel's 1900 date system): set the column's format to a "
            "date (日期) and save the file again"
        )
    raise CellError(f"not a date (use YYYY-MM-DD): {text!r}")


# A date as a spreadsheet stores it, a number of days from 1899-12-30 (Excel's 1900 date system;
# a time of day as the fraction): what a date column formatted as 常规 (General) shows, and what a
# workbook's cell holds when its format is not a date's. Only 1900-03-01 to 2099-12-31 is taken for
# one (the serials 61 to 73050): a smaller number is no date a file of leads or findings holds.
SPREADSHEET_DAY = re.compile(r"[0-9]{2,5}(\.[0-9]+)?")
_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_DAYS = range(61, 73051)


def spreadsheet_day(text: str) -> str | None:
    """The day ``text`` stands for (YYYY-MM-DD) if it is a date as a spreadsheet stores it, a
    number such as ``46000`` or ``46000.5``; None otherwise."""
    if not SPREADSHEET_DAY.fullmatch(text) or int(float(text)) not in _EXCEL_DAYS:
        return None
    return date.fromordinal(_EXCEL_EPOCH.toordinal() + int(float(text))).isoformat()


@cache
def _enum_values(enum_class: type[enum.Enum]) -> dict[str, str]:
    return {str(m.value).lower(): str(m.value) for m in enum_class}


def parse_enum(text: str, col: Col) -> str:
    assert col.enum is not None
    values = _enum_values(col.enum)
    key = text.strip().lower()
    if key in values:
        return values[key]
    if key in LABELS.get(col.enum, {}):
        return LABELS[col.enum][key]
    allowed = ", ".join(values.values())
    raise CellError(f"unknown value {text!r} (allowed: {allowed} or their Chinese labels)")


def parse_leave(text: str) -> list[list[str]]:
    periods: list[list[str]] = []
    for part in LIST_SEPARATORS.split(text):
        part = part.strip()
        if not part:
            continue
        start, sep, end = part.partition("..")
        first = parse_date(start.strip())
        last = parse_date(end.strip()) if sep else first
        if last < first:
            raise CellError(f"leave period ends before it starts: {part!r}")
        periods.append([first, last])
    return sorted(periods)


@dataclass
class RowValidator:
    """Validates the rows of one file of one kind."""

    kind: Kind
    file: str
    divisions: DivisionTable
    whitelist: dict[str, uscc.WhitelistEntry] = field(default_factory=dict)
    today: date = field(default_factory=date.today)
    fields: list[str | None] = field(default_factory=list)
    # per column: cell text -> value (or CellError), for the cell types in REPEATING
    _memo: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def problem(self, row: int, name: str, reason: str) -> RowProblem:
        return RowProblem(self.file, row, name, reason)

    def read_header(self, cells: Sequence[str]) -> list[RowProblem]:
        """Map header cells to fields; problems are reported on row 1."""
        accepted = header_map(self.kind)
        problems: list[RowProblem] = []
        self.fields = []
        for text in cells:
            name = accepted.get(text.strip().lower())
            if text.strip() and name is None:
                reason = unknown_column(text.strip(), kind_columns(self.kind))
                problems.append(self.problem(1, text.strip(), reason))
            elif name is not None and name in self.fields:
                problems.append(self.problem(1, name, "column appears twice"))
                name = None
            self.fields.append(name)
        for col in self.kind.columns:
            if col.required and col.name not in self.fields:
                problems.append(self.problem(1, col.name, "required column is missing"))
        return problems

    def cell(self, col: Col, text: str) -> Any:
        text = text.strip()
        if not text:
            if col.required:
                raise CellError("required")
            return col.default
        match col.cell:
            case "text":  # undo the formula guard of an exported file (shuangsui.spreadsheet)
                return unescape_cell(check_visible(text))
            case "credit_code":
                code = text.replace(" ", "").upper()
                if reason := uscc.problem(code, self.whitelist):
                    raise CellError(reason)
                return code
            case "division":
                if not re.fullmatch(r"[0-9]{6}", text):  # ASCII: `\d` takes full-width digits
                    raise CellError(f"not a 6-digit division code: {text!r}")
                if not self.divisions.is_known(text):
                    raise CellError(f"unknown division code {text}")
                if not self.divisions.in_force(text, self.today):
                    name = self.divisions.name(text)
                    raise CellError(f"division code {text} ({name}) is no longer in force")
                return text
            case "date":
                return parse_date(text)
            case "bool":
                if text.lower() in _TRUE:
                    return True
                if text.lower() in _FALSE:
                    return False
                raise CellError(f"not a yes/no value: {text!r}")
            case "enum":
                return parse_enum(text, col)
            case "enum_list":
                parts = [p.strip() for p in LIST_SEPARATORS.split(text) if p.strip()]
                return sorted({parse_enum(p, col) for p in parts})
            case "leave":
                return parse_leave(text)
        raise AssertionError(col.cell)

    def parse(self, number: int, cells: Sequence[str]) -> tuple[dict[str, Any], list[RowProblem]]:
        """The canonical row (present columns only) and the problems of one data row."""
        [(_, row, problems)] = self.parse_rows([(number, cells)])
        return row, problems

    def parse_rows(
        self, rows: Sequence[tuple[int, Sequence[str]]]
    ) -> list[tuple[int, dict[str, Any], list[RowProblem]]]:
        """``(number, canonical row, problems)`` for each of ``rows``, validated a column at a
        time: a text column is searched for invisible characters in one pass, and a column of
        repeating values (divisions, dates, yes/no, enumerations) checks each distinct value
        once. Problems keep the order a cell-by-cell reading gives: a row shorter than the
        header first, then columns left to right, then cells outside the header, then the cross
        checks of an otherwise good row.

        A row with fewer cells than the header names columns is refused as a whole (a CSV row
        cut short, or split by an unquoted line break): its missing cells are not taken as
        empty, which would put the defaults in place of stored values. Its cells that are there
        are checked as usual; those it lacks are not named again."""
        width = len(self.fields)
        cells = [c for _, c in rows]
        ragged = any(len(c) != width for c in cells)
        cut: list[Sequence[str]]  # the cells, column by column
        problems: dict[int, list[RowProblem]] = {}  # by position in ``rows``: rows with any
        short: dict[int, int] = {}  # position in ``rows`` -> cells, for rows cut short
        if not ragged:
            cut = list(zip(*cells, strict=True)) if width else []
        else:
            cut = [[c[i] if i < len(c) else "" for c in cells] for i in range(width)]
            named = named_width(self.fields)
            short = {i: len(c) for i, c in enumerate(cells) if len(c) < named}
            for i, length in short.items():
                reason = f"{length} cells, the header has {named}"
                problems[i] = [self.problem(rows[i][0], "row", reason)]
        names: list[str] = []
        columns: list[list[Any]] = []
        for index, name in enumerate(self.fields):
            if name is None:
                continue
            values = self.column(self.kind.columns_by_name[name], list(map(str.strip, cut[index])))
            if CellError in set(map(type, values)):
                for i, value in enumerate(values):
                    # a row cut short is named once, above, not again for each cell it lacks
                    if type(value) is CellError and index < short.get(i, width):
                        problems.setdefault(i, []).append(
                            self.problem(rows[i][0], name, str(value))
                        )
            names.append(name)
            columns.append(values)
        # a dict per row, built in C: dict(zip(names, values)) for each row's values
        out = list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))
        if not columns:
            out = [{} for _ in rows]
        if ragged:
            for i, (number, raw) in enumerate(rows):
                for index in range(width, len(raw)):
                    if raw[index].strip():
                        problems.setdefault(i, []).append(
                            self.problem(number, f"column {index + 1}", "cell outside the header")
                        )
        for i in problems:  # a bad cell has no value
            out[i] = {k: v for k, v in out[i].items() if type(v) is not CellError}
        good = [i for i in range(len(rows)) if i not in problems] if problems else range(len(rows))
        problems.update(self.cross_checks(dict(zip(names, columns, strict=True)), rows, good))
        return [(number, out[i], problems.get(i, [])) for i, (number, _) in enumerate(rows)]

    def column(self, col: Col, texts: Sequence[str]) -> list[Any]:
        """The values of one column's stripped cells, a :class:`CellError` in place of each
        bad cell."""
        if col.cell == "text":
            joined = "\n".join(texts)
            if not INVISIBLE.search(joined):
                default = self._checked(col, "")
                if "'" not in joined:  # no exported formula guard to undo either
                    return [t or default for t in texts]
                return [unescape_cell(t) if t else default for t in texts]
        if col.cell == "credit_code":  # most are unique: checked together, the rest one by one
            fine = uscc.acceptable(texts).tolist()
            return [t if ok else self._checked(col, t) for t, ok in zip(texts, fine, strict=True)]
        if col.cell not in REPEATING:
            return [self._checked(col, t) for t in texts]
        memo = self._memo.setdefault(col.name, {})
        unseen = set(texts).difference(memo)
        if len(memo) + len(unseen) > MEMO_LIMIT:
            memo.clear()
            unseen = set(texts)
        for text in unseen:  # each distinct value checked once
            memo[text] = self._checked(col, text)
        return list(map(memo.__getitem__, texts))

    def _checked(self, col: Col, text: str) -> Any:
        try:
            return self.cell(col, text)
        except CellError as exc:
            # kept as a value: without its traceback, which holds the frames of the chunk's
            # reading (a cycle through this very error, freeing nothing until a collection)
            return exc.with_traceback(None)

    def cross_checks(
        self,
        columns: dict[str, list[Any]],
        rows: Sequence[tuple[int, Sequence[str]]],
        among: Sequence[int],
    ) -> dict[int, list[RowProblem]]:
        """The problems between the cells of a row, for the ``rows`` at positions ``among``
        (those with no bad cell), by position; a row's in the order the checks are listed here.
        Each check goes down the chunk's ``columns`` (values by name) at once. A check needing
        a column the file does not have is not made: the header's problem names the column."""
        found: dict[int, list[RowProblem]] = {}

        def add(name: str, reason: str, positions: list[int]) -> None:
            for i in positions:
                found.setdefault(i, []).append(self.problem(rows[i][0], name, reason))

        def given(*names: str) -> bool:
            return all(name in columns for name in names)

        if self.kind.name == "certificates":
            if given("issued_on", "expires_on"):
                issued, expires = columns["issued_on"], columns["expires_on"]
                add("expires_on", "before issued_on", [i for i in among if expires[i] < issued[i]])
            if given("kind", "number"):
                kind, number = columns["kind"], columns["number"]
                add(
                    "number",
                    "a CCC certificate number is 16 digits",
                    [i for i in among if kind[i] == "ccc" and not CCC_NUMBER.fullmatch(number[i])],
                )
                add(
                    "number",
                    "an organic certificate number is CB code + OP + yy + serial",
                    [
                        i
                        for i in among
                        if kind[i] == "organic" and not ORGANIC_NUMBER.fullmatch(number[i])
                    ],
                )
        if self.kind.name == "inspectors":
            self._check_addresses(columns, among, add)
        if self.kind.name == "inspectors" and given(
            "credential_valid_from", "credential_valid_until"
        ):
            start, end = columns["credential_valid_from"], columns["credential_valid_until"]
            add(
                "credential_valid_until",
                "before credential_valid_from",
                [i for i in among if end[i] < start[i]],
            )
        return found

    @staticmethod
    def _check_addresses(
        columns: dict[str, list[Any]],
        among: Sequence[int],
        add: Callable[[str, str, list[int]], None],
    ) -> None:
        """An inspector's e-mail and robot address, where given, must be ones a message can be
        sent to: otherwise the inspector's notices would go nowhere (or, the e-mail corrected
        to a bad one, stay at the old address) with nothing said at the import."""
        emails, urls = columns.get("email"), columns.get("webhook_url")
        for i in among:
            if emails and emails[i] and not EMAIL_ADDRESS.match(emails[i]):
                add("email", f"not an e-mail address (name@domain): {emails[i]!r}", [i])
            if urls and urls[i] and not is_webhook_url(urls[i]):
                add("webhook_url", f"not an http(s) address with a host: {urls[i]!r}", [i])
