"""``shuangsui risk explain`` and ``risk override`` took the credit code as typed: one in lower
case or with a space copied along, or with a wrong check character, was said to be
``credit_code: no enterprise … in the registry``, as if the registry did not hold the
enterprise. The leads' intake takes the same code in lower case. Now both commands read the
code as the registry's import does (stripped, upper case) and name what is wrong with a code
that is none (``credit_code: wrong check character …``, ``must be 18 characters, got 16``);
only a valid code the registry does not hold is said to be missing. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api import tokens
from risk import rules as risk_rules
from risk.classify import classify
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.leads.helpers import outside_code
from tests.rounds.factories import seed_registry


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _wrong_check(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


def test_a_code_as_typed_is_read_as_the_registry_reads_it(
    engine: sa.Engine, cli: CliRunner
) -> None:
    codes = seed_registry(engine, enterprises=4)
    tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    classify(engine, risk_rules.load(), as_of=dt.date(2026, 11, 30), by="陈明")
    code = codes[0]
    for typed in (code.lower(), f" {code} "):
        shown = cli.invoke(app, ["risk", "explain", typed])
        assert shown.exit_code == 0, shown.output
        assert shown.output.startswith(f"{code} ")
    asked = cli.invoke(app, ["risk", "override", code.lower(), "--class", "c", "--reason",
                             "复查", "--by", "陈明"])  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert f"{code} -> C" in asked.output


@pytest.mark.parametrize("command", ["explain", "override"])
def test_a_code_that_is_none_is_said_so_and_a_missing_one_as_missing(
    engine: sa.Engine, cli: CliRunner, command: str
) -> None:
    codes = seed_registry(engine, enterprises=2)
    tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    extra = ["--class", "C", "--reason", "复查", "--by", "陈明"] if command == "override" else []
    said = {}
    for typed in (_wrong_check(codes[0]), codes[0][:16], outside_code()):
        done = cli.invoke(app, ["risk", command, typed, *extra])
        assert isinstance(done.exception, UserError), done.output
        said[typed] = str(done.exception)
    assert "credit_code: wrong check character" in said[_wrong_check(codes[0])]
    assert "credit_code: must be 18 characters, got 16" in said[codes[0][:16]]
    missing = said[outside_code()]
    assert "not in the registry" in missing or "no enterprise" in missing
    for typed in (_wrong_check(codes[0]), codes[0][:16]):
        assert "registry" not in said[typed], said[typed]


def test_an_override_refused_names_the_commands_option(engine: sa.Engine, cli: CliRunner) -> None:
    """``risk override … --class E`` was told ``class: must be one of …``, and a blank reason
    ``reason: …``: the service's field names, where the command's options are ``--class`` and
    ``--reason``. Nothing is requested."""
    code = seed_registry(engine, enterprises=1)[0]
    tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    for args, said in (
        (
            ["--class", "E", "--reason", "复查", "--by", "陈明"],
            "--class: must be one of A, B, C, D",
        ),
        (["--class", "C", "--reason", " ", "--by", "陈明"], "--reason: an override needs a reason"),
        (["--class", "C", "--reason", "复查", "--by", "无名"], "--by: '无名' is not a coordinator"),
    ):
        done = cli.invoke(app, ["risk", "override", code, *args])
        assert isinstance(done.exception, UserError), done.output
        assert str(done.exception).startswith(said), str(done.exception)
