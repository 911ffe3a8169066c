"""``partners view 123`` showed an empty combined view, as if the enterprise had no rounds and
no results anywhere: a mistyped credit code now is refused naming CREDIT_CODE, exit 2. And
``partners assist --help`` listed ``list`` and ``decline`` without a word of what they do."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.rounds.factories import seed_registry


def test_a_mistyped_credit_code_is_refused_not_shown_empty(engine: sa.Engine) -> None:
    codes = seed_registry(engine, enterprises=2)
    _register_groups()
    cli = CliRunner()
    for typed in ("123", "91350100M000100Y9X", "９１３５"):
        out = cli.invoke(app, ["partners", "view", typed])
        assert isinstance(out.exception, UserError), out.output
        assert out.exception.exit_code == 2 and str(out.exception).startswith("CREDIT_CODE: ")
    shown = cli.invoke(app, ["partners", "view", f" {codes[0].lower()} "])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)


def test_every_assist_command_says_what_it_does() -> None:
    _register_groups()
    said = CliRunner().invoke(app, ["partners", "assist", "--help"]).output
    assert "Every assistance request" in said and "Decline, with the reason" in said
