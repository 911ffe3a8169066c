"""A complaints file (``shuangsui risk complaints``) read in the encodings and date forms the
registry's and the leads' imports read: a CSV saved by Excel or WPS on a Chinese Windows is GBK
(often with CRLF line ends), its dates written 2026/10/1, and both were refused here alone
("not UTF-8", "not a YYYY-MM-DD date"); a workbook given in its place is refused as a workbook,
not as text in no encoding. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry import uscc
from risk.complaints import import_complaints
from risk.models import RiskComplaint
from rounds import audit
from shuangsui.errors import ImportRejected, UserError
from tests.rounds.factories import seed_registry

TEXT = "credit_code,ref,upheld_on,summary\n{c},投诉-1,2026-10-01,产品与认证不一致（经核实）\n"


def _held(engine: sa.Engine) -> tuple[list[tuple[str, str]], int]:
    """(the complaints stored: reference and summary, audit events)."""
    with Session(engine) as s:
        rows = s.exec(select(RiskComplaint)).all()
        return [(r.ref, r.summary) for r in rows], len(audit.load_chain(s))


@pytest.mark.parametrize(
    ("encoding", "line_end"),
    [("gbk", "\r\n"), ("gbk", "\n"), ("gb18030", "\r\n"), ("utf-8-sig", "\r\n"), ("utf-8", "\n")],
)
def test_a_gbk_or_utf8_file_with_either_line_end_imports_the_same_complaint(
    engine: sa.Engine, tmp_path: Path, encoding: str, line_end: str
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    path = tmp_path / "upheld.csv"
    path.write_bytes(TEXT.format(c=code).replace("\n", line_end).encode(encoding))
    audited = _held(engine)[1]
    assert import_complaints(engine, path, by="陈明").added == 1
    assert _held(engine) == ([("投诉-1", "产品与认证不一致（经核实）")], audited + 1)


def test_text_in_no_encoding_read_and_a_workbook_are_refused_by_name(
    engine: sa.Engine, tmp_path: Path
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    before = _held(engine)
    utf16 = tmp_path / "upheld.csv"  # Excel's "Unicode text"
    utf16.write_bytes(TEXT.format(c=code).encode("utf-16"))
    with pytest.raises(UserError, match=r"^upheld.csv: UTF-16 text \(Excel's 'Unicode text'\)"):
        import_complaints(engine, utf16, by="陈明")
    workbook = tmp_path / "upheld.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(UserError, match=r"^upheld.xlsx: a workbook; .* save the sheet as CSV"):
        import_complaints(engine, workbook, by="陈明")
    assert _held(engine) == before


@pytest.mark.parametrize("written", ["2026/10/1", "2026.10.1", "2026年10月1日", "20261001"])
def test_a_date_as_excel_writes_it_is_read_as_the_other_imports_read_it(
    engine: sa.Engine, tmp_path: Path, written: str
) -> None:
    """Excel on a Chinese Windows writes a date in a CSV as 2026/10/1: the registry's, the
    leads' and the findings' imports read it (``registry.validate.parse_date``); this one said
    ``upheld_on: not a YYYY-MM-DD date``."""
    code = seed_registry(engine, enterprises=3)[0]
    path = tmp_path / "upheld.csv"
    text = f"credit_code,ref,upheld_on\r\n{code},投诉-2,{written}\r\n"
    path.write_bytes(text.encode("gbk"))
    assert import_complaints(engine, path, by="陈明").added == 1
    with Session(engine) as s:
        held = s.exec(select(RiskComplaint)).one()
    assert held.upheld_on == dt.date(2026, 10, 1)


def test_a_date_that_is_none_is_still_refused(engine: sa.Engine, tmp_path: Path) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    path = tmp_path / "upheld.csv"
    path.write_text(f"credit_code,ref,upheld_on\n{code},R,2026/13/1\n{code},S,10/1/2026\n")
    before = _held(engine)
    with pytest.raises(ImportRejected) as refused:
        import_complaints(engine, path, by="陈明")
    assert str(refused.value).splitlines()[1:] == [
        "upheld.csv:2: upheld_on: not a YYYY-MM-DD date",
        "upheld.csv:3: upheld_on: not a YYYY-MM-DD date",
    ]
    assert _held(engine) == before


def test_a_code_is_read_as_the_leads_import_reads_it(engine: sa.Engine, tmp_path: Path) -> None:
    """Upper-cased (a lower-case code was "not in the registry"), and a code the registry does
    not hold said by what is wrong with it: 9.13506E+17, a code Excel turned into a number, was
    "not in the registry" too."""
    code, other = seed_registry(engine, enterprises=3)[:2]
    path = tmp_path / "upheld.csv"
    path.write_text(f"credit_code,ref,upheld_on\n{code.lower()},R1,2026-10-01\n")
    assert import_complaints(engine, path, by="陈明").added == 1
    with Session(engine) as s:
        assert s.exec(select(RiskComplaint.credit_code)).all() == [code]
    unknown = "91350100MA2Y0Y0Y0" + uscc.check_character("91350100MA2Y0Y0Y0")  # a code, not ours
    path.write_text(
        f"credit_code,ref,upheld_on\n9.13506E+17,R2,2026-10-01\n{unknown},R3,2026-10-01\n"
        f"{other},R4,2026-10-01\n"
    )
    before = _held(engine)
    with pytest.raises(ImportRejected) as refused:
        import_complaints(engine, path, by="陈明")
    assert str(refused.value).splitlines()[1:] == [
        "upheld.csv:2: credit_code: 9.13506E+17 is the code as a spreadsheet shows a long number, "
        "and its last digits are lost: set the column's format to text and type the codes again",
        "upheld.csv:3: credit_code: not in the registry",
    ]
    assert _held(engine) == before
