"""A date as a spreadsheet stores it (Excel's day number: 46000 for 2025-12-09) in a leads file
or a complaints file. A workbook whose date column is formatted 常规 (General), or a CSV saved
from one, holds 46000 where the sheet once showed a date, and the import said only ``not a date
(use YYYY-MM-DD): '46000'``, which the person who typed 2025-12-09 does not recognise as their
cell. Now the refusal says what the number is, the day it stands for, and how to save the file
again; the file still imports nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads.importer import import_leads
from leads.models import Lead
from registry.io import write_table
from risk.complaints import import_complaints
from risk.models import RiskComplaint
from rounds import audit
from shuangsui.errors import ImportRejected
from tests.leads.helpers import outside_code
from tests.leads.test_import import HEADER
from tests.rounds.factories import seed_registry

SAID = "is a date as a spreadsheet stores it, a number of days ({} in Excel's 1900 date system)"


def _state(engine: sa.Engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        leads, complaints = s.exec(select(Lead)).all(), s.exec(select(RiskComplaint)).all()
        return len(leads), len(complaints), len(audit.load_chain(s))


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_a_leads_file_with_day_numbers_names_the_days(
    engine: sa.Engine, tmp_path: Path, suffix: str
) -> None:
    code = outside_code()
    path = tmp_path / f"leads.{suffix}"
    write_table(path, HEADER, [
        ["投诉举报", code, "虚假认证", 46000, "", "是", "李某", "证书造假", "TS-1"],
        ["投诉举报", code, "虚假认证", "2025-11-02", 45999.5, "否", "", "", "TS-2"],
        ["投诉举报", code, "虚假认证", "2025-11-03", "", "否", "", "", "TS-3"],
    ])  # fmt: skip
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_leads(engine, path, imported_by="林科长")
    lines = [str(p) for p in rejected.value.problems]
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        f"{path}:2: received_on: not a date (use YYYY-MM-DD): '46000' " + SAID.format("2025-12-09")
    ), lines
    assert lines[1].startswith(
        f"{path}:3: deadline: not a date (use YYYY-MM-DD): '45999.5' " + SAID.format("2025-12-08")
    ), lines
    assert lines[0].endswith(": set the column's format to a date (日期) and save the file again")
    assert _state(engine) == before


def test_a_complaints_file_with_a_day_number_names_the_day(
    engine: sa.Engine, tmp_path: Path
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    path = tmp_path / "upheld.csv"
    path.write_text(
        f"credit_code,ref,upheld_on,summary\n{code},投诉-1,46000,x\n{code},投诉-2,2026-13-45,y\n",
        encoding="utf-8",
    )
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_complaints(engine, path, by="陈明")
    lines = [str(p) for p in rejected.value.problems]
    assert lines[0].startswith(
        "upheld.csv:2: upheld_on: not a date (use YYYY-MM-DD): '46000' " + SAID.format("2025-12-09")
    ), lines
    assert lines[1] == "upheld.csv:3: upheld_on: not a YYYY-MM-DD date", lines  # as before
    assert _state(engine) == before
