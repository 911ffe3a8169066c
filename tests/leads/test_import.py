"""``shuangsui leads import``: all or nothing, each bad row named as FILE:ROW: field: reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from leads.importer import import_leads
from leads.models import Lead, LeadSource
from registry.io import write_table
from rounds import audit
from shuangsui.cli import _register_groups, app
from shuangsui.errors import ImportRejected, UserError
from tests.leads.helpers import outside_code

HEADER = [
    "来源",
    "统一社会信用代码",
    "线索类别",
    "收到日期",
    "办结期限",
    "保密",
    "举报人",
    "线索内容",
    "编号",
]


def _state(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return len(s.exec(select(Lead)).all()), len(audit.load_chain(s))


def test_a_bad_row_rejects_the_file_and_changes_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    code = outside_code()
    path = tmp_path / "leads.xlsx"
    write_table(path, HEADER, [
        ["投诉举报", code, "虚假认证", "2026-11-02", "", "是", "李某", "证书造假", "TS-1"],
        ["风险监测", code[:-1] + "0", "标志", "2026/11/03", "", "", "", "", "TS-2"],
        ["微博", code, "标志", "2026-11-04", "2026-11-01", "也许", "", "", "TS-1"],
        ["其他", code, "", "2026-13-01", "", "", "", "", ""],
    ])  # fmt: skip
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_leads(engine, path, imported_by="林科长")
    lines = str(rejected.value).splitlines()[1:]
    assert f"{path}:3: credit_code: wrong check character" in lines[0]
    assert any(line.startswith(f"{path}:4: confidential: write 是 or 否") for line in lines)
    assert any(line.startswith(f"{path}:5: category: required") for line in lines)
    assert _state(engine) == before  # nothing written, not even an audit event


def test_a_good_file_imports_once_and_the_cli_names_bad_rows(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = outside_code()
    path = tmp_path / "leads.csv"
    write_table(path, HEADER, [
        ["投诉举报", code.lower(), "虚假认证", "2026-11-02", "2026-12-01", "是", "李某", "", "T-1"],
        ["兄弟单位移送", code, "产品不一致", "2026年11月3日", "", "否", "", "", "T-2"],
    ])  # fmt: skip
    ids = import_leads(engine, path, imported_by="林科长").ids
    with Session(engine) as s:
        leads = [s.get(Lead, i) for i in ids]
        chain = audit.load_chain(s)
    assert [(x.source, x.credit_code, x.confidential) for x in leads if x] == [
        (LeadSource.complaint, code, True),
        (LeadSource.partner_referral, code, False),
    ]
    assert [e.event for e in chain] == ["LeadReceived", "LeadReceived", "LeadsImported"]
    with pytest.raises(ImportRejected, match=r"leads.csv:2: external_ref: T-1 is already"):
        import_leads(engine, path, imported_by="林科长")

    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", db_url)
    bad = tmp_path / "bad.csv"
    write_table(bad, ["source", "credit_code", "category"], [["complaint", code, "x"]])
    _register_groups()
    result = CliRunner().invoke(app, ["leads", "import", str(bad)])
    assert result.exit_code == 1 or isinstance(result.exception, ImportRejected)
    assert f"{bad}:1: received_on: required column is missing" in str(result.exception)


def test_the_default_deadline_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from leads.schemas import LeadIn

    body = {"source": "其他", "credit_code": outside_code(), "category": "x",
            "received_on": "2026-11-01"}  # fmt: skip
    assert str(LeadIn.model_validate(body).deadline) == "2026-12-31"
    monkeypatch.setenv("SHUANGSUI_LEADS_DEADLINE_DAYS", "10")
    assert str(LeadIn.model_validate(body).deadline) == "2026-11-11"


def test_a_file_with_only_its_header_records_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    """It was accepted and audited as an import of no leads."""
    path = tmp_path / "leads.csv"
    write_table(path, HEADER, [])
    before = _state(engine)
    with pytest.raises(UserError, match=rf"^{path}: no data rows below the header$"):
        import_leads(engine, path, imported_by="林科长")
    assert _state(engine) == before


def test_a_row_cut_short_is_refused_not_read_as_empty_cells(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A CSV row ending before the header does (a line broken inside an unquoted 线索内容, say)
    was imported with the cells it lacked taken as blanks."""
    code = outside_code()
    path = tmp_path / "leads.csv"
    path.write_text(
        ",".join(HEADER) + "\n"
        f"投诉举报,{code},虚假认证,2026-11-02,,是,李某,证书造假,TS-1\n"
        f"投诉举报,{code},虚假认证,2026-11-03,,否,王某,证书\n"
        "与产品不符,TS-2\n",
        encoding="utf-8",
    )
    before = _state(engine)
    with pytest.raises(ImportRejected) as rejected:
        import_leads(engine, path, imported_by="林科长")
    assert [str(p) for p in rejected.value.problems] == [
        f"{path}:3: row: 8 cells, the header has 9",
        f"{path}:4: row: 2 cells, the header has 9",
    ]
    assert _state(engine) == before
