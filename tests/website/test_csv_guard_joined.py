"""A column of texts is guarded by one search of the column joined by NULs
(``spreadsheet.safe_column``): every text that starts as a formula is found wherever it is in
the column (first, last, after an empty text), a NUL inside a text never hides one nor makes
a text that does not start as a formula guarded, and a column holding anything but texts is
guarded a value at a time. Each case gives what a guard of each cell gives, and a column with
nothing to guard is given back as it is."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup

from shuangsui.spreadsheet import FORMULA_STARTS, safe_cell, safe_column

COLUMNS = [
    ["=a", "b", "c"],  # the first text: no NUL before it in the joined column
    ["a", "b", "@c"],  # the last
    ["", "-1", ""],  # after an empty text, before another
    ["", "", ""],
    ["a\x00=b", "c"],  # a NUL before "=" inside a text: not a formula, not guarded
    ["a\x00", "=b"],  # a text ending in a NUL, then a formula
    ["\x00", "\x00=x", "+\x00"],
    ["a\x00b", "c\x00\x00d", "e"],
    ["\t=1", "\r=2", "x\t=3"],
    ["名称", "=名称", "企业=", " =x"],
    [Markup("=x"), "a"],  # a str's subclass is a text
    ["a", 1, "=b"],  # not only texts: a value at a time
    ["a", None, "b"],
    [b"=x", "a"],
]


@pytest.mark.parametrize("column", COLUMNS)
def test_a_joined_column_is_guarded_as_each_cell(column: list[Any]) -> None:
    guarded = list(safe_column(column))
    assert guarded == [safe_cell(v) for v in column]
    assert [type(v) for v in guarded] == [type(safe_cell(v)) for v in column]


def test_every_formula_start_is_found_in_a_long_column() -> None:
    for start in FORMULA_STARTS:
        for at in (0, 1, 4_999, 9_999):
            column = [f"企业{i}" for i in range(10_000)]
            column[at] = f"{start}cmd"
            guarded = safe_column(column)
            assert guarded[at] == f"'{start}cmd"
            assert [v for v in guarded if v.startswith("'")] == [f"'{start}cmd"]


def test_a_column_with_nothing_to_guard_is_given_back() -> None:
    column = ["a", "b\x00c", "", "名称", "企业="]
    assert safe_column(column) is column
