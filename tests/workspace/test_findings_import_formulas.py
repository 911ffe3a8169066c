"""The round's template as a hostile or careless hand fills it in: a formula cell (openpyxl's
``=1+1`` has no saved result and read as blank, so 下载时版本 read as "not checked" and a row
was recorded as a new version over a newer one), 下载时版本 left blank, and a workbook whose
shared strings unpack to tens of megabytes from a few (2.7 million strings once took the server
from 195 MB to 596 MB). Each is refused naming the row and column, or the part, writing
nothing."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import sqlalchemy as sa

from findings import service
from tests.findings.factories import ROUND, finding
from tests.workspace.helpers import coordinator_client, csrf_of
from tests.workspace.test_findings_import import (
    _bytes,
    _fill,
    _imports,
    _post,
    _template,
    _versions,
)

GOOD = {"检查结果": "未发现问题", "检查日期": "2026-12-10"}


def _row_of(ws, code: str) -> int:  # type: ignore[no-untyped-def]
    return next(i for i in range(2, ws.max_row + 1) if ws.cell(row=i, column=2).value == code)


def _filled(ws, code: str, **cells: str) -> int:  # type: ignore[no-untyped-def]
    """The row of ``code`` filled in as the template asks (signers copied from 检查组)."""
    row = _row_of(ws, code)
    _fill(ws, row, **{**GOOD, "签字人员": ws.cell(row=row, column=4).value, **cells})
    return row


def test_a_formula_in_the_version_column_is_refused_not_read_as_unchecked(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    (moved, team), *_ = sorted(teams.items())
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(f"/w/c/rounds/{ROUND}").text)
        wb = _template(http)
        # meanwhile the inspector submits: the template's 0 is stale
        service.submit(engine, round_key=ROUND, credit_code=moved, data=finding("other"),
                       submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
        ws = wb.worksheets[0]
        row = _filled(ws, moved, 原因="现场复核", 下载时版本="=1+1")
        r = _post(http, "结果.xlsx", _bytes(wb), csrf)
        assert r.status_code == 422, r.text
        assert f"第 {row} 行" in r.text and "下载时版本" in r.text
        assert "“=1+1”是公式" in r.text
        # a formula in a column the import reads, and one in the header: refused likewise
        wb = _template(http)
        ws = wb.worksheets[0]
        row = _filled(ws, moved, 原因="现场复核", 检查日期="=TODAY()")
        r = _post(http, "结果.xlsx", _bytes(wb), csrf)
        assert r.status_code == 422 and "检查日期" in r.text and "“=TODAY()”是公式" in r.text
        _fill(ws, row, 检查日期="2026-12-10")
        _fill(ws, 1, 下载时版本='="下载时"&"版本"')
        r = _post(http, "结果.xlsx", _bytes(wb), csrf)
        assert r.status_code == 422 and "表头" in r.text and "是公式" in r.text
    assert [v.version for v in service.history(engine, ROUND, moved).versions] == [1]
    assert _versions(engine) == 1 and _imports(engine) == []


def test_a_blank_version_in_a_file_with_the_column_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """下载时版本 cleared (or never copied) in a file that has the column: refused naming the
    row, not imported unchecked; the rows left as the template gave them stay unfilled."""
    base, teams, ssc = coordinator_live
    (code, team), *_ = sorted(teams.items())
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(f"/w/c/rounds/{ROUND}").text)
        wb = _template(http)
        service.submit(engine, round_key=ROUND, credit_code=code, data=finding("other"),
                       submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
        ws = wb.worksheets[0]
        row = _filled(ws, code, 原因="现场复核")
        column = [c.value for c in ws[1]].index("下载时版本") + 1
        ws.cell(row=row, column=column).value = None  # ws.cell(value=None) leaves it as it is
        r = _post(http, "结果.xlsx", _bytes(wb), csrf)
        assert r.status_code == 422, r.text
        assert f"第 {row} 行" in r.text and "下载时版本" in r.text
        assert "为空：这一列是模板自带的" in r.text
    assert _versions(engine) == 1 and _imports(engine) == []


SST = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def _with_shared_strings(data: bytes, count: int) -> bytes:
    """The workbook ``data`` (openpyxl writes its strings inline) with a shared strings part of
    ``count`` strings no cell uses, declared as Excel declares it: openpyxl reads it whole."""
    strings = b"".join(b"<si><t>s%d</t></si>" % i for i in range(count))
    sst = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           + strings + b"</sst>")  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename == "[Content_Types].xml":
                declared = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST}"/>'
                part = part.replace(b"</Types>", declared.encode() + b"</Types>")
            dst.writestr(info.filename, part, zipfile.ZIP_DEFLATED)
        dst.writestr("xl/sharedStrings.xml", sst, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_shared_strings_past_what_the_round_may_hold_are_refused_unread(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """A file of a few megabytes whose shared strings unpack to 20 MB (a round of this size
    holds a few at most): refused naming the part, before openpyxl reads it."""
    base, teams, ssc = coordinator_live
    code, _ = sorted(teams.items())[0]
    with coordinator_client(base, ssc) as http:
        csrf = csrf_of(http.get(f"/w/c/rounds/{ROUND}").text)
        wb = _template(http)
        _filled(wb.worksheets[0], code)
        flood = _with_shared_strings(_bytes(wb), 1_000_000)
        assert len(flood) < 10 * 1024 * 1024  # within the upload's limit
        with zipfile.ZipFile(io.BytesIO(flood)) as z:
            assert z.getinfo("xl/sharedStrings.xml").file_size > 20 * 1024 * 1024
        r = _post(http, "结果.xlsx", flood, csrf)
        assert r.status_code == 422, r.text
        assert "xl/sharedStrings.xml" in r.text and "解压后" in r.text
    assert _versions(engine) == 0 and _imports(engine) == []


def test_formulas_are_found_wherever_the_sheet_holds_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The reader reads every row, whatever the sheet's dimension says, and gives a formula
    as one, its cell blank (its result is not read)."""
    from registry.io import inspect_source, read_cells

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["a", "b"])
    ws.cell(row=30, column=2, value="=1+1")
    path = tmp_path / "f.xlsx"
    wb.save(path)
    rows = list(read_cells(inspect_source(path), last_row=100))
    assert rows == [(1, ["a", "b"], {}), (30, ["", ""], {1: "=1+1"})]


def test_a_formula_in_a_row_otherwise_blank_is_refused_and_one_outside_the_header_is_not_read(
    engine: sa.Engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from findings.importer import import_file
    from shuangsui.errors import ImportRejected

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["轮次", "统一社会信用代码", "检查结果", "检查日期", "签字人员", "下载时版本"])
    ws.append([ROUND, "91350100ANBKFJRE2E", "未发现问题", "2026-12-10", "FJ0001", "0", None, "=1"])
    ws.cell(row=4, column=6, value="=1+1")  # a row of nothing but a formula (read as blank)
    path = tmp_path / "f.xlsx"
    wb.save(path)
    try:
        import_file(engine, path, imported_by="李协调")
    except ImportRejected as rejected:
        problems = [(p.row, p.field, p.reason) for p in rejected.problems]
    else:
        raise AssertionError("imported")
    assert (4, "base_version", "a formula (=1+1): type the value itself; a formula's "
            "result is not read") in problems  # fmt: skip
    assert all(p[0] != 2 or "formula" not in p[2] for p in problems)  # column H is not read
    assert _versions(engine) == 0


def test_an_xlsx_is_opened_once(
    engine: sa.Engine,
    tmp_path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Its values and its formulas come from one reading (it was read a second time for the
    formulas)."""
    from findings.importer import import_file
    from shuangsui.errors import ImportRejected

    opened = []
    load = openpyxl.load_workbook

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(kwargs.get("data_only"))
        return load(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", counted)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["轮次", "统一社会信用代码", "检查结果", "检查日期", "签字人员", "下载时版本"])
    ws.append([ROUND, "91350100ANBKFJRE2E", "未发现问题", "2026-12-10", "FJ0001", "=1+1"])
    path = tmp_path / "f.xlsx"
    wb.save(path)
    opened.clear()
    try:
        import_file(engine, path, imported_by="李协调")
    except ImportRejected as rejected:
        assert [(p.row, p.field) for p in rejected.problems] == [(2, "base_version")]
    else:
        raise AssertionError("imported")
    assert opened == [False]  # once, with the formulas
