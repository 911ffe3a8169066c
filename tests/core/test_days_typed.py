"""A day typed on the command line is ``YYYY-MM-DD`` or refused in one line naming its option,
nothing done: ``findings deadlines --today 2026-02-30`` ended in a ``ValueError`` traceback,
and ``risk classify --as-of 20261201`` was read as a day (``date.fromisoformat`` takes the
basic form too) where ``partners publish-result`` refused it. One rule now
(``shuangsui.clock.typed_day``); on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from risk.models import RiskRun
from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.rounds.factories import seed_registry

TYPED = ["2026-02-30", "xyz", "20261231", "2026-W53-4", "2026-12-31T00:00", " 2026-12-31"]


def _refused(cli: CliRunner, args: list[str], option: str, typed: str) -> None:
    out = cli.invoke(app, args)
    assert isinstance(out.exception, UserError), (args, out.output)
    assert out.exception.exit_code == 2
    assert str(out.exception) == f"{option}: {typed!r} is not a day written YYYY-MM-DD"


def test_findings_deadlines_today(engine: sa.Engine) -> None:
    _register_groups()
    cli = CliRunner()
    for typed in TYPED:
        _refused(cli, ["findings", "deadlines", "--today", typed], "--today", typed)
    ran = cli.invoke(app, ["findings", "deadlines", "--today", "2026-12-31", "--json"])
    assert ran.exit_code == 0 and ran.output.strip() == "[]", ran.output


def test_risk_classify_as_of(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=4)
    _register_groups()
    cli = CliRunner()
    for typed in TYPED:
        _refused(cli, ["risk", "classify", "--as-of", typed, "--by", "陈明"], "--as-of", typed)
    with Session(engine) as s:
        assert s.exec(select(RiskRun)).all() == []
    ran = cli.invoke(app, ["risk", "classify", "--as-of", "2026-12-31", "--by", "陈明"])
    assert ran.exit_code == 0, ran.output
