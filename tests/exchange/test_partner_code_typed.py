"""A partner code or a request id typed with a control character in it (pasted from a
terminal, or put there on purpose) was echoed as typed in the refusal: ``partners sync
$'33\\x1b]0;title\\x07'`` said ``partner 33<ESC>]0;title<BEL> is not in the partner directory``,
and the terminal it was printed on acted on the escape (click strips a colour sequence when the
output is not a terminal; not this one, and nothing on a terminal). Each such code is now
quoted with its control and invisible characters escaped, the refusal exit 2 as before; a
code typed in plain characters is said as it was. ``partners conflicts`` of a code not known
printed ``[]``, as if fine: it is refused as ``partners equivocations`` refuses one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.exchange.bureaus import make_bureau, write_directory

ESCAPES = "33\x1b]0;owned\x07\x1b[2J\r\u202e"
SHOWN = r"'33\x1b]0;owned\x07\x1b[2J\r\u202e'"
ASK = ["partners", "assist", "request", "--credit-code", "91330100MA2AYW9G32", "--division",
       "330100", "--check-item", "CCC-01", "--cert-kind", "ccc", "--reason", "x", "--start",
       "2026-12-10", "--end", "2026-12-31"]  # fmt: skip


@pytest.fixture
def directory(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    zj = make_bureau(tmp_path, "330000")
    zj.base_url = "http://127.0.0.1:9"  # never reached
    write_directory(tmp_path / "home" / "partners.toml", [zj])
    _register_groups()
    return engine


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["partners", "sync", ESCAPES],
         f"partner {SHOWN} is not in the partner directory (known: 330000)"),
        (["partners", "equivocations", ESCAPES],
         f"partner {SHOWN} is not in the partner directory (known: 330000), and no "
         r"equivocation proof of 'shuangsui.33\x1b]0;owned\x07\x1b[2J\r\u202e' is held"),
        (["partners", "conflicts", ESCAPES],
         f"partner {SHOWN} is not in the partner directory (known: 330000), and no evidence "
         "of a rewritten history of it is held"),
        ([*ASK, "--to", ESCAPES], f"--to: {SHOWN} is not a partner of the directory"),
        (["partners", "assist", "accept", ESCAPES, "r\x1b[8m1"],
         rf"no incoming assistance request 'r\x1b[8m1' from {SHOWN}"),
    ],
)  # fmt: skip
def test_a_code_with_control_characters_is_quoted_escaped(
    directory: sa.Engine, args: list[str], said: str
) -> None:
    out = CliRunner().invoke(app, args)
    assert isinstance(out.exception, UserError), out.output
    assert out.exception.exit_code == 2
    message = str(out.exception)
    assert message.startswith(said), message
    assert message.isprintable(), message


def test_a_code_typed_plainly_is_said_as_typed(directory: sa.Engine) -> None:
    out = CliRunner().invoke(app, ["partners", "sync", "33000"])
    assert isinstance(out.exception, UserError), out.output
    assert str(out.exception) == "partner 33000 is not in the partner directory (known: 330000)"


def test_conflicts_of_a_partner_not_known_are_refused_not_shown_empty(
    directory: sa.Engine,
) -> None:
    """``partners conflicts 33000`` (a digit short) printed ``[]``, as if that partner had
    never rewritten its history; a partner of the directory with none still prints ``[]``."""
    cli = CliRunner()
    out = cli.invoke(app, ["partners", "conflicts", "33000"])
    assert isinstance(out.exception, UserError), out.output
    assert out.exception.exit_code == 2
    assert str(out.exception) == (
        "partner 33000 is not in the partner directory (known: 330000), and no evidence of a "
        "rewritten history of it is held"
    )
    for known in (["330000"], []):
        shown = cli.invoke(app, ["partners", "conflicts", *known])
        assert shown.exit_code == 0 and json.loads(shown.output) == [], shown.output
