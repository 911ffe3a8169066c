"""The line and paragraph separators (U+2028, U+2029) and the C1 controls (U+0080-U+009F) are
refused wherever the other control characters are (``shuangsui.text``): a separator pasted from
Word or a PDF is a line break on a page and none in a CSV, a spreadsheet or a terminal, and a C1
control is no text at all (a file of Windows quotes read as Latin-1 is full of them). Free text
keeps its ordinary line breaks and tabs, and is told to use one. The registry's, the leads' and
the complaints' imports name FILE:ROW: field and change nothing, on SQLite and PostgreSQL; the
round's import page says it in Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads.importer import import_leads
from leads.models import Lead
from registry.validate import CellError, check_visible
from risk.complaints import import_complaints
from risk.models import RiskComplaint
from rounds import audit
from shuangsui.errors import ImportRejected
from shuangsui.text import no_control, no_control_in_text
from tests.leads.helpers import outside_code
from tests.rounds.factories import seed_registry
from tests.security.test_csv_injection import (
    test_invisible_characters_are_refused_at_import as refused_at_import,
)
from workspace.import_reasons import said

REFUSED = [
    ("\u2028", "the invisible character U+2028 (LINE SEPARATOR)"),
    ("\u2029", "the invisible character U+2029 (PARAGRAPH SEPARATOR)"),
    ("\x80", "the control character U+0080"),
    ("\x85", "the control character U+0085"),  # NEXT LINE: a line break to some programs
    ("\x9f", "the control character U+009F"),
]
ORDINARY_BREAK = "use an ordinary line break (Enter) where a new line is meant"


@pytest.mark.parametrize(("char", "named"), REFUSED)
def test_a_one_line_value_refuses_them(char: str, named: str) -> None:
    with pytest.raises(ValueError, match=r"^contains ") as refused:
        no_control(f"林{char}科长")
    assert str(refused.value) == f"contains {named}; retype the value without it"


@pytest.mark.parametrize(("char", "named"), REFUSED)
def test_free_text_refuses_them_and_says_to_break_lines_the_ordinary_way(
    char: str, named: str
) -> None:
    with pytest.raises(ValueError) as refused:
        no_control_in_text(f"第一行{char}第二行")
    said = str(refused.value)
    assert said.startswith(f"contains {named}")
    assert said.endswith("; retype the value without it")
    assert (ORDINARY_BREAK in said) == (char in "\u2028\u2029")


def test_the_characters_around_them_are_still_text() -> None:
    text = "第一行\r\n第二行\t\u00a0é\u00ff～"  # NO-BREAK SPACE, Latin-1 letters: text
    assert no_control_in_text(text) == text
    assert no_control("\u00a0é\u00ff～") == "\u00a0é\u00ff～"


@pytest.mark.parametrize(("char", "named"), REFUSED)
def test_the_registry_import_names_them_and_changes_nothing(
    engine: sa.Engine, tmp_path: Path, char: str, named: str
) -> None:
    refused_at_import(engine, tmp_path, char, "address")  # as the other invisible characters
    with pytest.raises(CellError) as refused:
        check_visible(f"福州市{char}五四路1号")
    assert (ORDINARY_BREAK in str(refused.value)) == (char in "\u2028\u2029")


@pytest.mark.parametrize(("char", "named"), REFUSED)
def test_a_lead_import_names_them_and_writes_nothing(
    engine: sa.Engine, tmp_path: Path, char: str, named: str
) -> None:
    code = outside_code()
    path = tmp_path / "leads.csv"
    head = "来源,统一社会信用代码,线索类别,收到日期,编号,线索内容\n"
    rows = (
        f"投诉举报,{code},虚假宣传,2026-11-01,A-1,第一行\n"
        f'投诉举报,{code},虚假宣传,2026-11-01,A-2,"第一行{char}第二行"\n'
    )
    path.write_text(head + rows, encoding="utf-8")
    with pytest.raises(ImportRejected) as refused:
        import_leads(engine, path, imported_by="林科长")
    assert f"leads.csv:3: allegation: contains {named}" in str(refused.value)
    with Session(engine) as s:
        assert s.exec(select(Lead)).all() == []
        assert audit.load_chain(s) == []


@pytest.mark.parametrize(("char", "named"), REFUSED)
def test_a_complaints_import_names_them_and_stores_nothing(
    engine: sa.Engine, tmp_path: Path, char: str, named: str
) -> None:
    code = seed_registry(engine, enterprises=2)[0]
    path = tmp_path / "upheld.csv"
    text = f"credit_code,ref,upheld_on,summary\n{code},TS-1,2026-05-01,虚假{char}宣传\n"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(ImportRejected) as refused:
        import_complaints(engine, path, by="陈明")
    assert f"upheld.csv:2: summary: contains {named}" in str(refused.value)
    with Session(engine) as s:
        assert s.exec(select(RiskComplaint)).all() == []


def test_the_import_page_says_a_separator_in_chinese() -> None:
    with pytest.raises(ValueError) as refused:
        no_control_in_text("第一行\u2028第二行")
    zh = said(str(refused.value))
    assert zh is not None and "U+2028" in zh and "换行" in zh, zh
