"""A listing with nothing in it says so. `round list`, `tokens list-revoked` and `leads list`
printed nothing at all on a bureau with no rounds, no revocations or no leads, so an operator
could not tell an empty list from a command that had not run. The sentence goes to standard
error: a script reading the lines still reads none."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["round", "list"], "no rounds yet: `shuangsui round commit PLAN` commits one"),
        (["round", "list", "--all"], "no rounds yet: `shuangsui round commit PLAN` commits one"),
        (["tokens", "list-revoked"], "no inspector's links and no coordinator's token revoked"),
        (["leads", "list"], "no leads"),
        (["leads", "list", "--status", "merged"], "no leads merged"),
    ],
)
def test_an_empty_listing_says_so_on_standard_error(
    cli: CliRunner, engine: sa.Engine, args: list[str], said: str
) -> None:
    out = cli.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert out.stdout == ""
    assert out.stderr.strip() == said
