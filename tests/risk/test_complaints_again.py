"""``shuangsui risk complaints`` of a file already imported says how many of its complaints
were held already, as ``leads import`` says of its rows: it said "0 upheld complaint(s)
imported" alone, as if the file held none (or the import had failed). On SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app
from tests.rounds.factories import seed_registry


def test_a_file_imported_again_says_its_complaints_are_held(
    engine: sa.Engine, tmp_path: Path
) -> None:
    codes = seed_registry(engine, enterprises=3)
    path = tmp_path / "upheld.csv"
    rows = "".join(f"{c},TS-{n},2026-04-0{n}\n" for n, c in enumerate(codes[:2], start=1))
    path.write_text(f"credit_code,ref,upheld_on\n{rows}", encoding="utf-8")
    _register_groups()
    cli = CliRunner()

    first = cli.invoke(app, ["risk", "complaints", str(path), "--by", "陈明"])
    assert first.exit_code == 0, first.output
    assert first.output == f"2 upheld complaint(s) imported from {path}\n"

    again = cli.invoke(app, ["risk", "complaints", str(path), "--by", "陈明"])
    assert again.exit_code == 0, again.output
    assert again.output == (
        f"0 upheld complaint(s) imported from {path}; 2 already recorded, left as they were\n"
    )

    path.write_text(f"credit_code,ref,upheld_on\n{rows}{codes[2]},TS-3,2026-04-03\n")
    more = cli.invoke(app, ["risk", "complaints", str(path), "--by", "陈明"])
    assert more.output == (
        f"1 upheld complaint(s) imported from {path}; 2 already recorded, left as they were\n"
    )
