"""A results CSV is written a column at a time (``opendata.csv_lines``: each column guarded
at once by ``spreadsheet.safe_column``, the rows written in one call): the same rows as a
row at a time through ``safe_row``, whatever the texts hold."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from markupsafe import Markup

from shuangsui.spreadsheet import FORMULA_STARTS, safe_cell, safe_column, safe_row
from website import opendata
from website.model import Correction, PublicResult

TEXTS = ["", "=1+1", '"a","b"', "x\r\ny", "-", "@", "\t=", "名,称", " =x", "a\x00b"]


def _results() -> list[PublicResult]:
    out = []
    for i, text in enumerate(TEXTS):
        history = [Correction(1, "2026-12-01", text, "other", "其他"),
                   Correction(2, "2026-12-02", "", "no_problem", text)]  # fmt: skip
        out.append(PublicResult(
            f"r-{i}", f"9135{text}", text, text, text, text, text, text, text, text, text,
            [{"kind": "rectify", "label": text, "deadline": text}] if i % 2 else [],
            [{"body": text, "number": text, "action": "kept", "label": text}] if i % 3 else [],
            text, i, history if i % 2 else [],
        ))  # fmt: skip
    return out


def _row_at_a_time(results: list[PublicResult]) -> list[str]:
    """The rows as they were written until the columns: a guarded row a call."""
    lines = []
    for r in results:
        corrections = opendata._corrections(r) if r.history else ""
        row = [r.round_key, r.check_item, r.credit_code, r.name, r.division_code,
               r.division_name, r.selection, r.check_date, r.result, r.result_label,
               r.measures_text, r.certificates_text, str(r.version or ""), corrections]  # fmt: skip
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(safe_row(row))
        lines.append(out.getvalue())
    return lines


def test_the_columns_make_the_rows_a_row_at_a_time_made() -> None:
    results = _results()
    lines = opendata.csv_lines(results)
    assert lines == _row_at_a_time(results)
    assert len(lines) == len(results)
    assert opendata.csv_lines([]) == []
    assert opendata.csv_lines(results[:1]) == ["r-0,,9135,,,,,,,,,,,\r\n"]


@pytest.mark.parametrize(
    "column",
    [
        [f"{start}cmd" for start in FORMULA_STARTS],
        ["a", "b", "=c"],
        ["", "a", "'=x", " =x", "企业="],
        [7, -3, None, 1.5, True, Markup("=x"), ["=x"], "+1"],
        [1, 2, 3],
        [],
    ],
)
def test_a_column_is_guarded_as_each_cell(column: list[Any]) -> None:
    guarded = list(safe_column(column))
    assert guarded == [safe_cell(v) for v in column]
    assert [type(v) for v in guarded] == [type(safe_cell(v)) for v in column]
