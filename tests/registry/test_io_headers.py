"""What a spreadsheet gives beyond its table: blank header cells (a sheet is as wide as its last
cell, written or only formatted), a workbook of chart sheets alone, rows numbered far below
the table, a dimension that says less than the sheet holds. A registry import reads the
table and ignores the blanks, or refuses the file as a whole in one line, at once."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter

from registry.importer import import_file
from registry.io import EXCEL_ROWS, header_fields, inspect_source, read_rows
from registry.schema import KINDS
from shuangsui.db import session_scope
from shuangsui.errors import UserError

from .helpers import dump, enterprise_row

FIELDS = KINDS["enterprises"].fields
YELLOW = PatternFill("solid", fgColor="FFFF00")

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
    'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
    'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxml'
    'formats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxml'
    'formats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def sheet_xlsx(rows: dict[int, list[str]], dimension: str | None = None) -> bytes:
    """A workbook of one sheet holding ``rows`` (row number -> its cells from column A), as a
    program other than Excel may write one: the ``dimension`` given (``A1:L20000000``), or
    none; a row number skipped is a row not written. A few hundred bytes, whatever the row
    numbers."""

    def cell(ref: str, text: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    data = "".join(
        f'<row r="{n}">'
        + "".join(cell(f"{get_column_letter(i + 1)}{n}", t) for i, t in enumerate(cells))
        + "</row>"
        for n, cells in sorted(rows.items())
    )
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
        f'.org/spreadsheetml/2006/main">{dim}<sheetData>{data}</sheetData></worksheet>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


def chart_sheets_only() -> dict[str, bytes]:
    """Workbooks whose only sheet is a chart sheet: an empty one (openpyxl raised an
    AttributeError opening it) and one with a chart (it opens, with no worksheet: an
    IndexError taking the first)."""
    empty = openpyxl.Workbook()
    empty.remove(empty.active)
    empty.create_chartsheet("图表")
    charted = openpyxl.Workbook()
    ws = charted.active
    ws.append([1])
    ws.append([2])
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=1, min_row=1, max_row=2))
    charted.create_chartsheet("图表").add_chart(chart)
    charted.remove(ws)
    out = {}
    for name, wb in (("empty chart sheet", empty), ("chart sheet with a chart", charted)):
        buf = io.BytesIO()
        wb.save(buf)
        out[name] = buf.getvalue()
    return out


def _import(engine: sa.Engine, path: Path) -> int:
    with session_scope(engine) as session:
        return import_file(session=session, kind="enterprises", path=path).inserted


def _inserted_names(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("select name from enterprise order by name")).scalars())


# ------------------------------------------------------------------ blank header cells
def test_blank_header_cells_are_never_a_repeated_column() -> None:
    """Two blank header cells were "column appears twice", named ``None``."""
    columns = {"a": ("甲",), "b": ("乙",)}
    fields, problems = header_fields("f.xlsx", ["a", "", "乙", " ", ""], columns, ["a", "b"])
    assert (fields, problems) == (["a", None, "b", None, None], [])
    fields, problems = header_fields("f.xlsx", ["a", "丙", "", "b", "", "A"], columns, ["a"])
    assert fields == ["a", None, None, "b", None, None]
    assert [(p.field, p.reason) for p in problems] == [
        ("丙", problems[0].reason),  # unknown: the reason lists the columns
        ("a", "column appears twice"),
    ]
    assert problems[0].reason.startswith("unknown column")


def test_an_xlsx_with_cells_formatted_and_noted_past_its_header_imports(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A cell coloured three columns past the header and a note beside a row: the sheet is as
    wide as they are, its header padded with blank cells, and the columns under them are not
    read. The registry's header check agrees with the findings import's."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(FIELDS))
    ws.append(enterprise_row(1))
    ws.append(enterprise_row(2))
    past = len(FIELDS)
    ws.cell(row=1, column=past + 3).fill = YELLOW  # formatted only, in the header's row
    ws.cell(row=2, column=past + 2, value="备注：已电话核实")  # a note under a blank header
    ws.cell(row=3, column=past + 4).fill = YELLOW
    wb.save(path := tmp_path / "enterprises.xlsx")
    header = next(read_rows(inspect_source(path)))[1]
    assert header[past:] == ["", "", "", ""]  # the sheet's width: four blank header cells
    assert _import(engine, path) == 2
    assert _inserted_names(engine) == sorted([enterprise_row(1)[1], enterprise_row(2)[1]])


def test_a_dimension_that_says_less_than_the_sheet_holds_cuts_nothing_off(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """openpyxl reads no further than a sheet's dimension: a generator that wrote ``A1:B2``
    for a sheet of three rows had its third row dropped, unsaid."""
    rows = {1: list(FIELDS), 2: enterprise_row(1), 3: enterprise_row(2)}
    path = tmp_path / "enterprises.xlsx"
    path.write_bytes(sheet_xlsx(rows, dimension="A1:B2"))
    assert [n for n, _ in read_rows(inspect_source(path))] == [1, 2, 3]
    assert _import(engine, path) == 2


# ------------------------------------------------------------------ no worksheet
@pytest.mark.parametrize("kind", ["empty chart sheet", "chart sheet with a chart"])
def test_a_workbook_of_chart_sheets_alone_is_refused_in_one_line(
    engine: sa.Engine, tmp_path: Path, kind: str
) -> None:
    """It raised AttributeError or IndexError from openpyxl, through every caller."""
    path = tmp_path / "enterprises.xlsx"
    path.write_bytes(chart_sheets_only()[kind])
    before = dump(engine)
    expected = rf"^{path}: not an XLSX workbook \(.+\); save it as \.xlsx"
    with pytest.raises(UserError, match=expected):
        _import(engine, path)
    assert dump(engine) == before


def test_whatever_openpyxl_raises_is_the_files_refusal_but_running_out_of_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.xlsx"
    path.write_bytes(sheet_xlsx({1: ["a"], 2: ["1"]}))
    for raised in (RuntimeError("a bug of openpyxl's"), MemoryError()):

        def fail(*args: object, error: Exception = raised, **kwargs: object) -> None:
            raise error

        monkeypatch.setattr(openpyxl, "load_workbook", fail)
        expected = UserError if isinstance(raised, RuntimeError) else MemoryError
        with pytest.raises(expected) as caught:
            list(read_rows(inspect_source(path)))
        if expected is UserError:
            assert str(caught.value) == (
                f"{path}: not an XLSX workbook (RuntimeError: a bug of openpyxl's); "
                "save it as .xlsx (Excel 2007 or later) or as CSV"
            )


# ------------------------------------------------------------------ rows far down
@pytest.mark.parametrize("dimension", [f"A1:L{20_000_000}", None, "A1:L2"])
def test_a_sheet_with_a_row_past_excels_last_is_refused_at_once(
    engine: sa.Engine, tmp_path: Path, dimension: str | None
) -> None:
    """A header and one cell at row 20,000,000 (a file of a few hundred bytes) took 12 s to
    read with its dimension, 3.5 s without: openpyxl gave an empty row for every row number
    skipped. Refused now, by its dimension before a row is read, or when the reading passes
    Excel's last row (a dimension that says less is read past)."""
    path = tmp_path / "enterprises.xlsx"
    path.write_bytes(sheet_xlsx({1: list(FIELDS), 20_000_000: ["x"]}, dimension=dimension))
    before = dump(engine)
    if dimension and dimension.endswith("20000000"):
        said = f"the sheet's used range reaches row 20000000, past row {EXCEL_ROWS}"
    else:
        said = f"a row past row {EXCEL_ROWS}"
    with pytest.raises(UserError, match=rf"^{path}: {said}, the last this import reads; "):
        _import(engine, path)
    assert dump(engine) == before


def test_a_row_at_the_limit_is_read_and_one_past_it_refused(tmp_path: Path) -> None:
    """``last_row`` is the last row read, blank or not, in a sheet and in a CSV."""
    for fmt in ("xlsx", "csv"):
        for far, refused in ((50, False), (51, True)):
            path = tmp_path / f"far{far}.{fmt}"
            if fmt == "xlsx":
                path.write_bytes(sheet_xlsx({1: ["a", "b"], 2: ["1", "2"], far: ["", "x"]}))
            else:
                path.write_text("a,b\n1,2\n" + "\n" * (far - 3) + ",x\n", encoding="utf-8")
            rows = read_rows(inspect_source(path), last_row=50)
            if refused:
                with pytest.raises(UserError, match=r": a row past row 50, the last this import"):
                    list(rows)
            else:
                assert list(rows) == [(1, ["a", "b"]), (2, ["1", "2"]), (far, ["", "x"])]


def test_a_csv_of_blank_lines_is_read_to_the_limit_only(tmp_path: Path) -> None:
    """Ten million blank lines (the page's 10 MiB) took a second to skip: with a limit, the
    reader stops at the first line past it. Without one (a registry CSV has no last row), a
    blank line is skipped as before."""
    path = tmp_path / "blank.csv"
    path.write_bytes(b"a,b\n" + b"\n" * 1_000_000 + b"1,2\n")
    with pytest.raises(UserError, match=r"a row past row 1000, the last this import reads"):
        list(read_rows(inspect_source(path), last_row=1000))
    assert [n for n, _ in read_rows(inspect_source(path))] == [1, 1_000_002]
