"""A formula in a registry workbook: the registry reads values only, and a formula's saved
result is not always there (a program's ``=1+1`` has none, and read as a blank cell that
imported as if the cell had been left empty). The file is refused naming the cell, and
nothing changes; a formula's text is never read as the cell's value."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from registry.importer import import_file
from registry.io import inspect_source, read_rows
from registry.schema import KINDS
from shuangsui.db import session_scope
from shuangsui.errors import UserError

from .helpers import dump, enterprise_row

FIELDS = KINDS["enterprises"].fields


def _workbook(path: Path, formula: str) -> Path:
    """Two enterprises, the second's address (column D) a formula."""
    wb = openpyxl.Workbook()
    wb.active.append(list(FIELDS))
    wb.active.append(enterprise_row(1))
    wb.active.append(enterprise_row(2, address=formula))
    wb.save(path)
    return path


def test_a_formula_cell_refuses_the_registry_file_naming_it(
    engine: sa.Engine, tmp_path: Path
) -> None:
    path = _workbook(tmp_path / "e.xlsx", '="福建省福州市"&"五四路1号"')
    before = dump(engine)
    expected = (
        f'{path}: cell D3 holds a formula (="福建省福州市"&"五四路1号"); this import reads '
        "values only: paste the column as values, or save the sheet as CSV"
    )
    with pytest.raises(UserError, match=f"^{re.escape(expected)}$"), session_scope(engine) as s:
        import_file(session=s, kind="enterprises", path=path)
    assert dump(engine) == before


def test_a_long_formula_is_cut_where_it_is_named(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "e.xlsx", "=" + "+".join(["1"] * 40))
    rows = read_rows(inspect_source(path))
    assert next(rows)[0] == 1 and next(rows)[0] == 2
    with pytest.raises(UserError, match=re.escape("(=1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1…)")):
        next(rows)
