"""``shuangsui leads import``: a row with a cell past the header (the rest of an allegation after
an unquoted comma) is refused naming the row and the column, as the registry's import refuses
it; the cell was dropped and the lead recorded without it, unsaid. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads.importer import import_leads
from leads.models import Lead
from rounds import audit
from shuangsui.errors import ImportRejected
from tests.leads.helpers import outside_code

HEADER = "source,credit_code,category,received_on,external_ref,allegation\n"


def _state(engine: sa.Engine) -> tuple[list[str], int]:
    with Session(engine) as s:
        return [x.allegation for x in s.exec(select(Lead)).all()], len(audit.load_chain(s))


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_a_cell_past_the_header_is_refused_not_dropped(engine: sa.Engine, tmp_path: Path) -> None:
    code = outside_code()
    row = f"complaint,{code},misused_mark,2026-11-02"
    path = _file(tmp_path, f"{HEADER}{row},T-1,企业称产品合格\n{row},T-2,企业称产品合格,实际未检\n")
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_leads(engine, path, imported_by="林科长")
    assert f"{path}:3: column 7: cell outside the header" in str(rejected.value).splitlines()
    assert _state(engine) == before


def test_blank_cells_past_the_header_are_no_problem(engine: sa.Engine, tmp_path: Path) -> None:
    """What a spreadsheet saves past a table: rows ending in commas."""
    code = outside_code()
    row = f"complaint,{code},misused_mark,2026-11-02"
    path = _file(tmp_path, f'{HEADER}{row},T-1,未检,,\n{row},T-2,"实际,未检"\n')
    assert len(import_leads(engine, path, imported_by="林科长").ids) == 2
    assert sorted(_state(engine)[0]) == ["实际,未检", "未检"]
