"""``risk classify --as-of`` outside the dates a classification can speak of: refused in one
line naming the option, nothing written. Year 1 ended in an ``OverflowError`` traceback (the
complaints' window reached before 0001-01-01); a date in the future was classified, every
input aged by the days to come. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from risk import rules as risk_rules
from risk.classify import classify
from risk.models import RiskRun
from rounds import audit
from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.rounds.factories import seed_registry

TODAY = dt.date(2026, 12, 31)  # tests/conftest.py: findings.dates.today in every test


def _written(engine: sa.Engine) -> tuple[int, int]:
    """(classification runs, audit events)."""
    with Session(engine) as s:
        return len(s.exec(select(RiskRun)).all()), len(audit.load_chain(s))


REFUSED = {
    "0001-01-01": "0001-01-01 is before 2000-01-01",
    "1999-12-31": "1999-12-31 is before 2000-01-01",
    "2027-01-01": "2027-01-01 is in the future (today is 2026-12-31, Asia/Shanghai)",
    "2999-01-01": "2999-01-01 is in the future",
}


def test_a_date_out_of_range_is_refused_and_nothing_written(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=4)
    before = _written(engine)
    _register_groups()
    cli = CliRunner()
    for as_of, reason in REFUSED.items():
        refused = cli.invoke(app, ["risk", "classify", "--as-of", as_of, "--by", "陈明"])
        assert isinstance(refused.exception, UserError), refused.output
        assert refused.exception.exit_code == 2
        said = str(refused.exception)
        assert said.startswith(f"--as-of: {reason}") and "\n" not in said, said
        with pytest.raises(UserError, match=rf"^as_of: {as_of} is"):
            classify(engine, risk_rules.load(), as_of=dt.date.fromisoformat(as_of))
        assert _written(engine) == before
    for as_of in ("2000-01-01", TODAY.isoformat()):  # the bounds themselves are classified
        ran = cli.invoke(app, ["risk", "classify", "--as-of", as_of])
        assert ran.exit_code == 0, ran.output
        assert f"as of {as_of}: 4 enterprises" in ran.output


def test_the_real_command_says_one_line_and_makes_no_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUANGSUI_")}
    env["SHUANGSUI_HOME"] = str(tmp_path / "home")
    run = subprocess.run(
        [sys.executable, "-m", "shuangsui", "risk", "classify", "--as-of", "0001-01-01"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: --as-of: 0001-01-01 is before 2000-01-01")
    assert len(run.stderr.splitlines()) == 1, run.stderr  # no traceback
    assert not (tmp_path / "home" / "shuangsui.db").exists()
