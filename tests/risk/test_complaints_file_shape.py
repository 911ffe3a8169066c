"""A complaints file (``shuangsui risk complaints``) read as the registry's and the leads' imports
read theirs: a row named by the line it starts on; a header naming a column twice or an unknown
one, and a row cut short or with a cell past the header, refused by name with nothing imported
(each was read its own way: the second ``ref`` column won, a misspelt ``summery`` and the rest of
a summary after an unquoted comma were dropped, unsaid); and a FIFO refused at once (the command
blocked on it for ever). On SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from risk.complaints import import_complaints
from risk.models import RiskComplaint
from rounds import audit
from shuangsui.errors import ImportRejected, UserError
from tests.rounds.factories import seed_registry


def _held(engine: sa.Engine) -> tuple[int, int]:
    """(complaints stored, audit events)."""
    with Session(engine) as s:
        return len(s.exec(select(RiskComplaint)).all()), len(audit.load_chain(s))


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "upheld.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # blank lines were not counted: the date was named on row 3
        (
            "credit_code,ref,upheld_on\n\n\n{c},R1,2026-01-01\n{c},R2,2026-99-01\n",
            "upheld.csv:5: upheld_on: not a YYYY-MM-DD date",
        ),
        # a quoted summary over two lines: the next row was named 3
        (
            'credit_code,ref,upheld_on,summary\n{c},R1,2026-01-01,"两行\n摘要"\n{c},R2,2026-13-01,\n',
            "upheld.csv:4: upheld_on: not a YYYY-MM-DD date",
        ),
        # the second ref was stored
        (
            "credit_code,ref,upheld_on,ref\n{c},R5,2026-01-01,R6\n",
            "upheld.csv:1: ref: column appears twice",
        ),
        # the summary was dropped
        (
            "credit_code,ref,upheld_on,summery\n{c},R7,2026-01-01,lost\n",
            "upheld.csv:1: summery: unknown column; did you mean summary?",
        ),
        # 属实 was dropped
        (
            "credit_code,ref,upheld_on,summary\n{c},R8,2026-01-01,投诉,属实\n",
            "upheld.csv:2: column 5: cell outside the header",
        ),
        # the summary was taken as empty
        (
            "credit_code,ref,upheld_on,summary\n{c},R9,2026-01-01\n",
            "upheld.csv:2: row: 3 cells, the header has 4",
        ),
    ],
)
def test_a_row_is_named_by_its_line_and_the_header_and_shape_are_checked(
    engine: sa.Engine, tmp_path: Path, text: str, said: str
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    before = _held(engine)
    with pytest.raises(ImportRejected) as refused:
        import_complaints(engine, _file(tmp_path, text.format(c=code)), by="陈明")
    assert said in str(refused.value).splitlines()
    assert _held(engine) == before


def test_blank_header_cells_and_blank_cells_past_the_header_are_no_problem(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """What a spreadsheet saves past a table: blank columns, and rows ending in commas."""
    code = seed_registry(engine, enterprises=3)[0]
    text = (
        f"credit_code,ref,upheld_on,summary,,\n{code},R1,2026-01-01,a,,,\n{code},R2,2026-01-02,b\n"
    )
    assert import_complaints(engine, _file(tmp_path, text), by="陈明").added == 2


@pytest.mark.timeout(60)  # the old reading waited for a writer for ever: a failure here
def test_a_fifo_is_refused_without_waiting_for_a_writer(engine: sa.Engine, tmp_path: Path) -> None:
    """It was read as a file: the command waited for a writer for ever."""
    seed_registry(engine, enterprises=3)
    fifo = tmp_path / "upheld.csv"
    os.mkfifo(fifo)
    before = _held(engine)
    with pytest.raises(UserError, match=r"^upheld.csv: not a regular file \(a FIFO"):
        import_complaints(engine, fifo, by="陈明")
    assert _held(engine) == before
