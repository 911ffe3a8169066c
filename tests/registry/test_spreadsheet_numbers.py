"""A credit code a spreadsheet turned into a number: Excel shows an all-digit code (about one in
three: 913506044777707740) as 9.13506E+17 and saves that in a CSV, and the code is lost. Each
import refused it as ``must be 18 characters, got 11``, which says nothing of why; now it is
named as what it is, and what to do (the column as text, the codes typed again), in English on
the command line and in Chinese on the pages. On SQLite and PostgreSQL where a database is read."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from api.app import create_app
from leads.importer import import_leads
from registry import uscc
from registry.importer import import_files
from shuangsui.config import get_settings
from shuangsui.errors import ImportRejected
from tests.findings.live import serve
from tests.rounds.factories import seed_registry
from tests.workspace.helpers import csrf_of, sign_in

SAID = (
    "9.13506E+17 is the code as a spreadsheet shows a long number, and its last digits are "
    "lost: set the column's format to text and type the codes again"
)


@pytest.mark.parametrize("shown", ["9.13506E+17", "9.13506e+17", "9E+17", "9.135060447777E17"])
def test_the_code_as_a_spreadsheet_shows_it_is_named_so(shown: str) -> None:
    said = uscc.problem(shown.upper())
    assert said is not None and said.startswith(f"{shown.upper()} is the code as a spreadsheet")
    assert uscc.problem("913506044777707740") is None  # the code itself


def _problems(refused: pytest.ExceptionInfo[ImportRejected]) -> list[str]:
    """The refusal's problems, each file named by its name (the registry names its path)."""
    return [line.split("/")[-1] for line in str(refused.value).splitlines()[1:]]


def test_the_registry_and_the_leads_imports_say_it(engine: sa.Engine, tmp_path: Path) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    firms, leads = tmp_path / "enterprises.csv", tmp_path / "leads.csv"
    firms.write_bytes(b"credit_code,name,division_code,status\n9.13506E+17,X,350604,active\n")
    with Session(engine) as session, pytest.raises(ImportRejected) as refused:
        import_files(session=session, files=[("enterprises", firms)])
    assert _problems(refused) == [f"enterprises.csv:2: credit_code: {SAID}"]
    rows = [("9.13506E+17", "2026-11-02"), (code, "2026-11-02")]
    lines = [
        "来源,统一社会信用代码,线索类别,收到日期",
        *(f"投诉举报,{c},产品质量,{d}" for c, d in rows),
    ]
    leads.write_bytes("\r\n".join(lines).encode("gbk"))  # as Excel saves it
    with pytest.raises(ImportRejected) as refused:
        import_leads(engine, leads, imported_by="陈明")
    assert _problems(refused) == [f"leads.csv:2: credit_code: {SAID}"]


def test_the_lead_form_says_it_in_chinese(engine: sa.Engine) -> None:
    ssc = tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        form = {"csrf": csrf_of(http.get("/w/c/leads/new").text), "source": "complaint",
                "credit_code": "9.13506E+17", "category": "产品质量",
                "received_on": "2026-11-02"}  # fmt: skip
        refused = http.post("/w/c/leads/new", data=form)
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", refused.text))
    assert refused.status_code == 422
    assert (
        "统一社会信用代码：9.13506E+17 是电子表格把代码当作数字显示的样子，后几位已经丢失："
        "请把这一列设为“文本”格式，重新录入代码" in said
    ), said
