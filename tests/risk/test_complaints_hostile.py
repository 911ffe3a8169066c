"""A complaints file (``shuangsui risk complaints``) as a careless or hostile hand makes it:
each bad row is named ``FILE:ROW: field: reason`` and nothing is imported or audited; and an
override's reason likewise. On SQLite and PostgreSQL (which refused a NUL with a raw
``DataError`` traceback)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from risk import overrides
from risk.complaints import import_complaints
from risk.models import RiskComplaint, RiskOverride
from rounds import audit
from shuangsui.config import get_settings
from shuangsui.errors import ImportRejected, UserError
from tests.rounds.factories import seed_registry

HEADER = "credit_code,ref,upheld_on,summary\n"


def _held(engine: sa.Engine) -> tuple[int, int]:
    """(complaints stored, audit events)."""
    with Session(engine) as s:
        return len(s.exec(select(RiskComplaint)).all()), len(audit.load_chain(s))


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "upheld.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("{code},TS-\x00-1,2026-05-01,x", "ref: contains the control character U+0000"),
        ("{code},TS-1,2026-05-01,\x1b[31m", "summary: contains the control character U+001B"),
        (
            "{code},TS-1,2026-05-01,\u202e10 upheld",
            "summary: contains the invisible character U+202E",
        ),
        ("{code}\u200b,TS-1,2026-05-01,", "credit_code: contains the invisible character U+200B"),
        ("{code},TS-1,2099-01-01,", "upheld_on: 2099-01-01 is in the future"),
    ],
)
def test_a_bad_value_is_named_and_nothing_is_stored(
    engine: sa.Engine, tmp_path: Path, row: str, said: str
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    before = _held(engine)
    path = _file(tmp_path, HEADER + f"{code},TS-0,2026-04-01,fine\n" + row.format(code=code) + "\n")
    with pytest.raises(ImportRejected) as refused:
        import_complaints(engine, path, by="陈明")
    assert f"upheld.csv:3: {said}" in str(refused.value)
    assert _held(engine) == before


def test_one_complaint_twice_in_the_file_is_named(engine: sa.Engine, tmp_path: Path) -> None:
    """Only the last of the two was kept, and the file said imported."""
    code = seed_registry(engine, enterprises=3)[0]
    before = _held(engine)
    path = _file(tmp_path, HEADER + f"{code},TS-1,2026-04-01,a\n{code},TS-1,2026-06-01,b\n")
    with pytest.raises(
        ImportRejected, match=rf"upheld.csv:3: ref: TS-1 of {code} is also on row 2"
    ):
        import_complaints(engine, path, by="陈明")
    assert _held(engine) == before


def test_a_cell_past_the_csv_limit_names_the_row(engine: sa.Engine, tmp_path: Path) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    before = _held(engine)
    path = _file(tmp_path, HEADER + f"{code},TS-1,2026-04-01,a\n{code},TS-2,2026-04-01,"
                 + "长" * 140_000 + "\n")  # fmt: skip
    with pytest.raises(UserError, match=r"^upheld.csv:3: not readable as CSV: field larger"):
        import_complaints(engine, path, by="陈明")
    assert _held(engine) == before


def test_a_header_without_rows_records_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    """It was an import of 0 complaints, in the audit log."""
    seed_registry(engine, enterprises=3)
    before = _held(engine)
    with pytest.raises(UserError, match=r"^upheld.csv: no data rows below the header$"):
        import_complaints(engine, _file(tmp_path, HEADER), by="陈明")
    assert _held(engine) == before


def test_a_good_file_still_imports(engine: sa.Engine, tmp_path: Path) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    today = dt.date.today().isoformat()
    path = _file(
        tmp_path, HEADER + f'{code},TS-1,{today},"两行\n\t摘要"\n{code},TS-2,2026-01-01,\n'
    )
    assert import_complaints(engine, path, by="陈明").added == 2
    assert import_complaints(engine, path, by="陈明") == (0, 2)  # held already: left as they are


@pytest.mark.parametrize(
    ("reason", "said"),
    [("笔误\x00", "U+0000"), ("\u202e类别调整", "U+202E"), ("降为\x1b[8mA", "U+001B")],
)
def test_an_override_reason_with_a_control_character_is_refused(
    engine: sa.Engine, reason: str, said: str
) -> None:
    """The reason is published with the class in the round's classification bundle."""
    code = seed_registry(engine, enterprises=3)[0]
    tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    with pytest.raises(UserError, match=rf"^reason: contains the .* {re.escape(said)}"):
        overrides.request(engine, credit_code=code, risk_class="D", reason=reason, by="陈明")
    kept = "核查\n属实"  # free text: its line breaks stay
    row = overrides.request(engine, credit_code=code, risk_class="D", reason=kept, by="陈明")
    with Session(engine) as s:
        assert [r.reason for r in s.exec(select(RiskOverride)).all()] == [row.reason]
