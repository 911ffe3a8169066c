"""`shuangsui round list` printed every round ever committed (five years: hundreds). It shows
the newest 30, `--limit N` the newest N, `--all` every one; a last line says how many older
rounds are not shown and how to see them."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from rounds import service
from rounds.models import Round
from shuangsui.cli import _register_groups, app
from tests.findings.factories import ROUND as ROUND_KEY
from tests.rounds.factories import plan_yaml, seed_registry

ROUNDS = 35
START = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _rounds(engine: sa.Engine) -> list[str]:
    """ROUNDS rounds, copies of one committed round a month apart; their keys, newest first."""
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    keys = [f"r-{n:03d}" for n in range(1, ROUNDS)]
    with Session(engine) as session:
        model = session.get(Round, ROUND_KEY)
        assert model is not None
        model.committed_at = START + dt.timedelta(days=31 * ROUNDS)  # the newest
        session.add(model)
        for n, key in enumerate(keys):
            at = START + dt.timedelta(days=31 * n)
            fields = {"round_key": key, "period": key, "committed_at": at}
            session.add(Round.model_validate(model.model_dump() | fields))
        session.commit()
    return [ROUND_KEY, *reversed(keys)]


def _listed(cli: CliRunner, *args: str) -> tuple[list[str], list[str]]:
    """(round keys in the order shown, the other lines)."""
    out = cli.invoke(app, ["round", "list", *args])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    return [x.split()[0] for x in lines if not x.startswith("...")], [
        x for x in lines if x.startswith("...")
    ]


def test_the_newest_30_then_a_line_for_the_rest(cli: CliRunner, engine: sa.Engine) -> None:
    newest = _rounds(engine)
    keys, rest = _listed(cli)
    assert keys == newest[:30]
    assert rest == ["... and 5 older round(s) not shown (--limit N shows the newest N, --all "
                    "every round)"]  # fmt: skip
    keys, rest = _listed(cli, "--limit", "3")
    assert keys == newest[:3] and rest[0].startswith("... and 32 older round(s) not shown")
    assert _listed(cli, "--all") == (newest, [])
    assert _listed(cli, "--limit", "35") == (newest, [])
    assert _listed(cli, "--limit", "100") == (newest, [])


def test_a_limit_below_one_is_refused(cli: CliRunner, engine: sa.Engine) -> None:
    out = cli.invoke(app, ["round", "list", "--limit", "0"])
    assert out.exit_code == 2 and "Invalid value for '--limit'" in out.output, out.output
