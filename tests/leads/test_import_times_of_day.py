"""A date column holding a date and a time of day: a workbook's cell of a date and a time (read as
2025-11-02T09:30:00) or a CSV Excel saved from one (2025/11/2 9:30). The imports said only ``not a
date (use YYYY-MM-DD): '2025-11-02T09:30:00'``, and of Excel's CSV the same, which does not say
what is wrong with a day that is plainly there. Now a time other than midnight is named as a
time where a date alone is wanted, with the day to write, on its row and column; a date at
midnight (a date formatted with a time, ``2025/11/3 0:00``) is the day, as a workbook's was.
A refused file imports nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads.importer import import_leads
from leads.models import Lead
from registry.validate import CellError, parse_date
from risk.complaints import import_complaints
from risk.models import RiskComplaint
from rounds import audit
from shuangsui.errors import ImportRejected
from tests.leads.helpers import outside_code
from tests.leads.test_import import HEADER
from tests.rounds.factories import seed_registry
from workspace.import_reasons import said


def _timed(text: str, time: str, day: str) -> str:
    return (
        f"not a date: {text!r} is a date and a time of day ({time}); a date alone is wanted: "
        f"write {day}, or set the column's format to a date (日期) without the time"
    )


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("2025-11-02T09:30:00", "09:30"),
        ("2025/11/2 9:30", "09:30"),
        ("2025-11-02 17:05:59", "17:05"),
    ],
)
def test_a_time_of_day_is_named(text: str, time: str) -> None:
    with pytest.raises(CellError) as refused:
        parse_date(text)
    assert str(refused.value) == _timed(text, time, "2025-11-02")
    zh = said(str(refused.value))  # the round's findings import page
    assert zh == (
        f"“{text}”是日期加时间（{time}），这里只填日期："
        "请写成 2025-11-02，或把这一列设为不带时间的“日期”格式"
    )


@pytest.mark.parametrize(
    "text", ["2025-11-02T00:00:00", "2025/11/2 0:00", "2025-11-02 00:00:00.000"]
)
def test_midnight_is_the_day(text: str) -> None:
    assert parse_date(text) == "2025-11-02"


@pytest.mark.parametrize("text", ["2025-02-30T09:30:00", "2025-11-02 25:00", "下午 9:30"])
def test_what_is_no_day_and_time_is_refused_as_before(text: str) -> None:
    with pytest.raises(CellError, match="not a (real )?date"):
        parse_date(text)


def _state(engine: sa.Engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        leads, complaints = s.exec(select(Lead)).all(), s.exec(select(RiskComplaint)).all()
        return len(leads), len(complaints), len(audit.load_chain(s))


def test_a_workbook_of_leads_with_a_time_names_the_row_and_column(
    engine: sa.Engine, tmp_path: Path
) -> None:
    code = outside_code()
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(["投诉举报", code, "虚假认证", dt.datetime(2025, 11, 2, 9, 30), None, "否",
                  None, None, "TS-1"])  # fmt: skip
    sheet.append(["投诉举报", code, "虚假认证", dt.datetime(2025, 11, 3), None, "否",
                  None, None, "TS-2"])  # fmt: skip
    path = tmp_path / "leads.xlsx"
    book.save(path)
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_leads(engine, path, imported_by="林科长")
    lines = [str(p) for p in rejected.value.problems]
    assert lines == [
        f"{path}:2: received_on: {_timed('2025-11-02T09:30:00', '09:30', '2025-11-02')}"
    ], lines  # the midnight of row 3 is its day
    assert _state(engine) == before
    sheet["D2"] = dt.datetime(2025, 11, 2)
    book.save(path)
    assert len(import_leads(engine, path, imported_by="林科长").ids) == 2


def test_a_complaints_csv_saved_by_excel_names_the_time(engine: sa.Engine, tmp_path: Path) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    path = tmp_path / "upheld.csv"
    path.write_text(
        f"credit_code,ref,upheld_on,summary\n{code},投诉-1,2026/5/1 9:30,x\n"
        f"{code},投诉-2,2026/5/2 0:00,y\n",
        encoding="utf-8",
    )
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_complaints(engine, path, by="陈明")
    lines = [str(p) for p in rejected.value.problems]
    assert lines == [f"upheld.csv:2: upheld_on: {_timed('2026/5/1 9:30', '09:30', '2026-05-01')}"]
    assert _state(engine) == before
