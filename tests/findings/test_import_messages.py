"""A findings file's problems name the column and say what is wrong; an import says what it
wrote and what was already recorded; a file without rows records nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from findings import service
from findings.importer import import_file
from shuangsui.cli import _register_groups, app
from shuangsui.errors import ImportRejected, UserError
from tests.findings.factories import ROUND, drawn_round

HEADER = "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"


def _audited_imports(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return len(
            conn.execute(
                sa.text("select seq from audit_event where event = 'FindingsImported'")
            ).all()
        )


def test_each_problem_is_named_as_what_it_is(engine: sa.Engine, tmp_path: Path) -> None:
    """An impossible date was a problem of the ``row``; a round that does not exist and a
    credit code with a wrong check character were both "was not drawn in round ..."."""
    (a, ta), (b, tb) = sorted(drawn_round(engine).items())[:2]
    wrong_check = b[:17] + ("0" if b[17] != "0" else "1")
    path = tmp_path / "findings.csv"
    path.write_text(
        HEADER
        + f"{ROUND},{a},未发现问题,2026-02-30,{ta[0]}\n"
        + f"rz-99-2026-12,{a},未发现问题,2026-12-10,{ta[0]}\n"
        + f"{ROUND},{wrong_check},未发现问题,2026-12-10,{tb[0]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as info:
        import_file(engine, path, imported_by="王五")
    lines = [str(p) for p in info.value.problems]
    assert lines[0].startswith(f"{path}:2: check_date: not a real date"), lines
    assert lines[1] == f"{path}:3: round_key: no round rz-99-2026-12"
    assert lines[2].startswith(f"{path}:4: credit_code: wrong check character"), lines
    assert service.count_versions(engine) == 0


def test_an_unknown_column_names_the_accepted_ones(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    path.write_text("轮次,统一社会信用代码,检查结果,检查时间,签字人员,描述\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(engine, path, imported_by="王五")
    lines = [str(p) for p in info.value.problems]
    hint = "did you mean 检查组 or 检查结果 or 检查日期?"
    assert lines[0] == f"{path}:1: 检查时间: unknown column; {hint}"
    assert lines[1].startswith(
        f"{path}:1: 描述: unknown column; the columns are round_key (轮次), credit_code"
    )
    assert "description (情况说明)" in lines[1]


def test_a_file_imported_again_says_it_wrote_nothing(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Imported again, a file said "1 finding version(s) imported" and wrote none."""
    (a, ta), (b, tb) = sorted(drawn_round(engine).items())[:2]
    path = tmp_path / "findings.csv"
    path.write_text(HEADER + f"{ROUND},{a},未发现问题,2026-12-10,{ta[0]}\n", encoding="utf-8")
    assert import_file(engine, path, imported_by="王五").new == 1
    path.write_text(
        HEADER
        + f"{ROUND},{a},未发现问题,2026-12-10,{ta[0]}\n"
        + f"{ROUND},{b},未发现问题,2026-12-10,{tb[0]}\n",
        encoding="utf-8",
    )
    done = import_file(engine, path, imported_by="王五")
    assert (done.new, done.recorded) == (1, 1)
    again = import_file(engine, path, imported_by="王五")
    assert (again.new, again.recorded) == (0, 2)
    assert service.count_versions(engine) == 2

    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", db_url)
    _register_groups()
    result = CliRunner().invoke(app, ["findings", "import", str(path), "--by", "王五"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"0 new finding version(s) imported from {path}; 2 already recorded as the file has them\n"
    )


def test_a_file_with_only_its_header_records_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    """It was accepted and audited as an import of 0 rows."""
    drawn_round(engine)
    path = tmp_path / "findings.csv"
    path.write_text(HEADER, encoding="utf-8")
    before = _audited_imports(engine)
    with pytest.raises(UserError, match=rf"^{path}: no data rows below the header$"):
        import_file(engine, path, imported_by="王五")
    assert _audited_imports(engine) == before
