"""A listing with nothing in it says so. `round list`, `tokens list-revoked` and `leads list`
printed nothing at all on a bureau with no rounds, no revocations or no leads, so an operator
could not tell an empty list from a command that had not run. The sentence goes to standard
error: a script reading the lines still reads none."""

from __future__ import annotations

from pathlib import Path

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


NO_PROOFS = "no equivocation proofs: no partner has shown two histories"


@pytest.mark.parametrize(
    ("args", "listed", "said"),
    [
        (["partners", "assist", "list"], "[]", "no assistance requests, ours or the partners'"),
        (["partners", "equivocations"], "[]", NO_PROOFS),
        (["partners", "equivocations", "--out", "{tmp}/proofs"], "", NO_PROOFS),
    ],
)
def test_an_empty_json_listing_is_still_json_and_says_so_on_standard_error(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, args: list[str], listed: str, said: str
) -> None:
    """The partners' listings print JSON (or the proofs' paths) for scripts: "[]" stays what
    they read, and the sentence goes beside it (they printed "[]" and nothing else)."""
    out = cli.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == listed
    assert out.stderr.strip() == said
