"""The round's import page, served for real, with what a spreadsheet may hold beyond the table:
a note or a coloured cell past the template's columns (imported, not refused), a signer whose
name is not that of the id beside it, a workbook of chart sheets alone, a sheet whose rows
run to row 20,000,000 (each refused by a page, nothing imported)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from findings.importer import BLANK_ROWS, import_file
from registry.models import Inspector
from shuangsui.cli import _register_groups, app, user_message
from shuangsui.errors import ImportRejected, UserError
from tests.findings.factories import ROUND
from tests.registry.test_io_headers import YELLOW, chart_sheets_only, sheet_xlsx
from tests.workspace.helpers import coordinator_client, csrf_of, delivered_round
from tests.workspace.test_findings_import import (
    IMPORT,
    _bytes,
    _fill,
    _imports,
    _post,
    _template,
    _versions,
)

GOOD = {"检查结果": "未发现问题", "检查日期": "2026-12-10"}


def _names(engine: sa.Engine) -> dict[str, str]:
    with Session(engine) as s:
        return {i.inspector_id: i.name for i in s.exec(select(Inspector)).all()}


def _nothing_imported(engine: sa.Engine) -> bool:
    return _versions(engine) == 0 and _imports(engine) == []


def test_a_note_and_a_coloured_cell_past_the_templates_columns_import(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """The sheet grows as wide as its last cell, written or only formatted, and its header
    with it: two blank header cells were "第 1 行 | None | 这一列出现了两次"."""
    base, teams, ssc = coordinator_live
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        wb = _template(http)
        ws = wb.worksheets[0]
        width = ws.max_column  # 签字人员, column L
        _fill(ws, 2, **GOOD, 签字人员=ws.cell(row=2, column=4).value)
        ws.cell(row=2, column=width + 2, value="备注：已电话联系")  # a note in column N
        ws.cell(row=1, column=width + 3).fill = YELLOW  # an empty cell coloured, column O
        r = _post(http, "结果.xlsx", _bytes(wb), csrf_of(page))
    assert r.status_code == 303, r.text
    assert "imported=1&recorded=0" in r.headers["location"]
    assert _versions(engine) == 1


def test_a_signer_named_with_another_members_id_is_refused_naming_the_cell(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """Member A's name with member B's id (甲（FJ0002）) was imported as B's signature, the
    name unread, without a word."""
    base, teams, ssc = coordinator_live
    names = _names(engine)
    code, (a, b, *_) = sorted(teams.items())[0]
    written = f"{names[a]}（{b}）"
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        wb = _template(http)
        ws = wb.worksheets[0]
        row = next(i for i in range(2, ws.max_row + 1) if ws.cell(row=i, column=2).value == code)
        _fill(ws, row, **GOOD, 签字人员=f"{written}；{b}")
        r = _post(http, "结果.xlsx", _bytes(wb), csrf_of(page))
    assert r.status_code == 422, r.text
    assert f"第 {row} 行" in r.text and "签字人员" in r.text
    assert f"“{written}”：{b} 是{names[b]}，不是{names[a]}。请照抄“检查组”一列" in r.text
    assert _nothing_imported(engine)


def test_a_signer_with_its_own_name_imports_with_either_brackets_and_any_spacing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The importer alone: a name matches whitespace aside, in （） or (); an id not on the
    team is named as the cell writes it."""
    teams = delivered_round(engine, monkeypatch)
    names = _names(engine)
    (c0, (a0, b0, *_)), (c1, (a1, *_)) = sorted(teams.items())[:2]
    head = "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
    signers = f" {' '.join(names[a0])} ({a0})；{names[b0]}（ {b0} ）"
    path = tmp_path / "f.csv"
    path.write_text(head + f"{ROUND},{c0},未发现问题,2026-12-10,{signers}\n", encoding="utf-8")
    done = import_file(engine, path, imported_by="李协调", only_round=ROUND)
    assert done.new == 1
    stranger = f"{names[a1]}（FJ99999）"
    path.write_text(head + f"{ROUND},{c1},未发现问题,2026-12-10,{stranger}\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as refused:
        import_file(engine, path, imported_by="李协调", only_round=ROUND)
    [problem] = refused.value.problems
    assert (problem.field, problem.reason.split(" is not on the team")[0]) == (
        "signed_by",
        stranger,
    )


def test_a_workbook_of_chart_sheets_alone_is_refused_by_a_page(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """openpyxl raised (AttributeError, or IndexError for the first worksheet): a JSON 500."""
    base, teams, ssc = coordinator_live
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(f"/w/c/rounds/{ROUND}").text)
        for kind, data in chart_sheets_only().items():
            r = _post(http, "图表.xlsx", data, csrf)
            assert r.status_code == 422, (kind, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("text/html")
            assert "文件 图表.xlsx：" in r.text and "/tmp" not in r.text
    assert _nothing_imported(engine)


def test_the_cli_refuses_a_workbook_of_chart_sheets_alone_in_one_line(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``shuangsui findings import`` shares the reader: a traceback became a UserError, which
    the CLI's ``main`` says in one line (``user_message``), exit 2."""
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", db_url)
    _register_groups()
    for kind, data in chart_sheets_only().items():
        path = tmp_path / "图表.xlsx"
        path.write_bytes(data)
        result = CliRunner().invoke(app, ["findings", "import", str(path), "--by", "李协调"])
        assert isinstance(result.exception, UserError), (kind, result.exception)
        assert result.exception.exit_code == 2
        said = user_message(result.exception) or ""
        assert said.startswith(f"{path}: not an XLSX workbook ("), (kind, said)
    assert _nothing_imported(engine)


def test_a_sheet_whose_rows_run_far_down_is_refused_unread(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A valid header and one cell at row 20,000,000, a file of a few hundred bytes, held the
    page for 24 s (row 100,000,000: 58 s). The page reads the header, one row per drawn
    enterprise and BLANK_ROWS blank rows, no further: a sheet whose dimension reaches past
    them is refused before a row is read; one whose dimension says less (or none), and a
    CSV, when the reading passes them."""
    base, teams, ssc = coordinator_live
    last = 1 + len(teams) + BLANK_ROWS
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        wb = _template(http)
        header = [c.value for c in wb.worksheets[0][1]]
        csrf = csrf_of(page)
        far = {1: header, 20_000_000: [ROUND]}
        for dimension, said in (
            (
                "A1:L20000000",
                f"工作表用到了第 20000000 行（包括只设了格式的单元格），超出本页读取的范围"
                f"（本页读取表头、本轮每家抽中企业一行，另加 {BLANK_ROWS} 行，到第 {last} 行为止）",
            ),
            (None, f"第 {last} 行以下还有行，超出本页读取的范围"),
            ("A1:L2", f"第 {last} 行以下还有行，超出本页读取的范围"),
        ):
            r = _post(http, "结果.xlsx", sheet_xlsx(far, dimension), csrf)
            assert r.status_code == 422, (dimension, r.text)
            assert said in r.text and "/tmp" not in r.text, (dimension, r.text)
        csv = ",".join(header).encode() + b"\n" + b"\n" * last + f"{ROUND}\n".encode()
        r = http.post(IMPORT, data={"csrf": csrf}, files={"file": ("结果.csv", csv, "text/csv")})
        assert r.status_code == 422 and f"第 {last} 行以下还有行" in r.text
        # the template with rows formatted far below it, but within the limit, imports
        ws = wb.worksheets[0]
        _fill(ws, 2, **GOOD, 签字人员=ws.cell(row=2, column=4).value)
        ws.cell(row=last, column=1).fill = YELLOW
        r = _post(http, "结果.xlsx", _bytes(wb), csrf)
        assert r.status_code == 303, r.text
    assert _versions(engine) == 1
