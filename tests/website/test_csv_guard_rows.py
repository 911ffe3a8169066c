"""The formula guard of a whole row (``safe_row``, written out for speed) is ``safe_cell`` of
each value: text starting as a formula gets its ``'``, anything else is left as it is."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from shuangsui.spreadsheet import FORMULA_STARTS, safe_cell, safe_row
from website import opendata
from website.model import Correction, PublicResult


def test_a_row_is_guarded_as_each_cell() -> None:
    row: list[Any] = [f"{start}cmd|' /C calc'!A0" for start in FORMULA_STARTS]
    row += ["", "'=x", " =x", "企业=", "a-b", 7, -3, None, 1.5, True, Markup("=x"), ["=x"]]
    guarded = safe_row(row)
    assert guarded == [safe_cell(v) for v in row]
    assert [type(v) for v in guarded] == [type(safe_cell(v)) for v in row]
    assert guarded[: len(FORMULA_STARTS)] == ["'" + v for v in row[: len(FORMULA_STARTS)]]
    assert safe_row(iter(["=1", 2])) == ["'=1", 2]


def test_a_results_row_with_and_without_history_measures_and_certificates() -> None:
    bare = PublicResult("r-1", "9135", "=企业", "350100", "鼓楼区", "B", "random", "CCC-01",
                        "2026-12-10", "no_problem", "未发现问题")  # fmt: skip
    full = bare._replace(
        measures=[{"kind": "rectify", "label": "责令改正", "deadline": "2027-01-15"}],
        certificates=[{"body": "-CQC", "number": "1", "action": "kept", "label": "保持"}],
        version=2,
        history=[Correction(1, "2026-12-10", "", "other", "其他"),
                 Correction(2, "2026-12-11", "=更正", "no_problem", "未发现问题")],
    )  # fmt: skip
    assert (bare.measures_text, bare.certificates_text) == ("", "")
    assert full.measures_text == "责令改正（2027-01-15前）"
    assert full.certificates_text == "-CQC 1：保持"
    lines = opendata.csv_lines([bare, full])
    assert (
        lines[0]
        == "r-1,CCC-01,9135,'=企业,350100,鼓楼区,random,2026-12-10,no_problem,未发现问题,,,,\r\n"
    )
    assert lines[1] == (
        "r-1,CCC-01,9135,'=企业,350100,鼓楼区,random,2026-12-10,no_problem,未发现问题,"
        "责令改正（2027-01-15前）,'-CQC 1：保持,2,"
        "第1版（2026-12-10 确定）其他；第2版（2026-12-11 确定）未发现问题，更正原因：「=更正」\r\n"
    )
