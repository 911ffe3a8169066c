"""``leads import`` records a lead without 编号 (external_ref) once: a row the same as an
earlier row of the file, or as a lead recorded before (the same file imported again, or two
imports of it at once), is refused naming that row or lead, and nothing of the file is
recorded. Each was recorded again before: two leads of one report, each triaged and counted."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from leads.importer import import_leads
from leads.models import Lead
from rounds import audit
from shuangsui.errors import ImportRejected, UserError
from tests.rounds.factories import credit_code

HEADER = "来源,统一社会信用代码,线索类别,收到日期,办结期限,保密,举报人,线索内容,编号"


def _codes(n: int) -> list[str]:
    """``n`` valid credit codes of no enterprise in the registry (a lead may name one)."""
    rng = random.Random(41)
    return [credit_code(rng, "350100") for _ in range(n)]


def _state(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return len(s.exec(select(Lead)).all()), len(audit.load_chain(s))


def _file(path: Path, *rows: str) -> Path:
    """A CSV as a Chinese Windows' Excel saves one: GBK, CRLF."""
    path.write_bytes(("\r\n".join([HEADER, *rows]) + "\r\n").encode("gbk"))
    return path


def test_a_file_imported_again_is_refused_naming_the_leads_it_holds(
    engine: sa.Engine, tmp_path: Path
) -> None:
    code, other = _codes(2)
    path = _file(tmp_path / "leads.csv",
                 f"投诉举报,{code},虚假认证,2026/11/2,,是,李某,证书造假,",
                 f"投诉举报,{other},虚假认证,2026/11/2,,是,,,",
                 f"其他,{other},标志,2026/11/3,,否,,,W-1")  # fmt: skip
    first = import_leads(engine, path, imported_by="林科长").ids
    before = _state(engine)
    with pytest.raises(ImportRejected) as again:
        import_leads(engine, path, imported_by="林科长")
    lines = str(again.value).splitlines()[1:]
    assert lines == [
        f"{path}:2: row: the same lead as lead {first[0]}, already recorded; if they are two "
        "reports, give each its own 编号 (external_ref)",
        f"{path}:3: row: the same lead as lead {first[1]}, already recorded; if they are two "
        "reports, give each its own 编号 (external_ref)",
        f"{path}:4: external_ref: W-1 is already recorded",
    ], lines
    assert _state(engine) == before  # nothing written, not even an audit event
    # the same report on another day, or told apart by its 编号, is another lead
    later = _file(tmp_path / "later.csv",
                  f"投诉举报,{code},虚假认证,2026/11/4,,是,李某,证书造假,",
                  f"投诉举报,{other},虚假认证,2026/11/2,,是,,,W-2")  # fmt: skip
    assert len(import_leads(engine, later, imported_by="林科长").ids) == 2


def test_a_row_twice_in_the_file_is_refused_naming_both_rows(
    engine: sa.Engine, tmp_path: Path
) -> None:
    (code,) = _codes(1)
    row = f"投诉举报,{code},虚假认证,2026-11-02,2026-12-31,是,李某,证书造假,"
    path = _file(tmp_path / "twice.csv", row, f"其他,{code},标志,2026-11-03,,,,,", row)
    before = _state(engine)
    with pytest.raises(ImportRejected) as twice:
        import_leads(engine, path, imported_by="林科长")
    assert str(twice.value).splitlines()[1:] == [
        f"{path}:4: row: the same lead as row 2 (every cell the same); if they are two reports, "
        "give each its own 编号 (external_ref)"
    ]
    assert _state(engine) == before


@pytest.mark.postgres
def test_two_imports_of_one_file_at_once_record_it_once(engine: sa.Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite has one writer at a time)")
    rows = [f"投诉举报,{code},虚假认证,2026-11-02,,是,,," for code in _codes(300)]
    path = _file(tmp_path / "batch.csv", *rows)
    start = threading.Barrier(2)

    def run() -> list[int] | Exception:
        start.wait(timeout=30)
        try:
            return import_leads(engine, path, imported_by="林科长").ids
        except (ImportRejected, UserError) as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        said = [f.result(timeout=120) for f in [pool.submit(run), pool.submit(run)]]
    done = [s for s in said if isinstance(s, list)]
    refused = [s for s in said if not isinstance(s, list)]
    assert len(done) == 1 and len(done[0]) == 300 and len(refused) == 1, said
    assert "already recorded" in str(refused[0]), refused
    assert _state(engine)[0] == 300
