"""``shuangsui round draw --digits`` (and ``round adhoc --digits``) names the option it refuses.

``round draw KEY --digits 123`` said ``witness digits: witness-digits: 3 digits < 20`` (after
opening the database and reading the round), naming no option, where the workspace's ceremony
form names its field. Now the digits are checked as the option is read: too few, or anything
but 0-9 ("９" and "²" included), is refused naming ``--digits``, exit 2, nothing opened.
``round adhoc --round-id KEY --digits 123`` (a committed ad hoc round's ceremony) started the
flow, which refused them at the draw in the same words as ``round draw`` did; it takes the
option's check too."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


DIGITS_REFUSED = pytest.mark.parametrize(
    ("digits", "said"),
    [
        ("123", "3 digit(s); the ceremony's witness digits are at least 20"),
        ("1234567890123456789", "19 digit(s)"),
        ("1234567890123456789９", "decimal digits 0-9 only"),
        ("²" * 20, "decimal digits 0-9 only"),
        ("12345678901234567890 ", "decimal digits 0-9 only"),
    ],
)


@DIGITS_REFUSED
def test_round_draw_refuses_digits_naming_the_option(
    cli: CliRunner, digits: str, said: str
) -> None:
    out = cli.invoke(app, ["round", "draw", "no-such-round", "--digits", digits, "--witness", "王"])
    assert out.exit_code == 2, out.output
    text = " ".join(out.output.replace("│", " ").split())
    assert "--digits" in text and said in text
    assert "does not exist" not in text  # refused before the round was looked up


@DIGITS_REFUSED
def test_round_adhoc_refuses_digits_naming_the_option(
    cli: CliRunner, digits: str, said: str
) -> None:
    args = ["round", "adhoc", "--plan", "no-such-plan", "--reason", "投诉举报",
            "--requested-by", "李协调", "--round-id", "no-such-round", "--digits", digits,
            "--witness", "王"]  # fmt: skip
    out = cli.invoke(app, args)
    assert out.exit_code == 2, out.output
    text = " ".join(out.output.replace("│", " ").split())
    assert "--digits" in text and said in text
    assert "plan" not in text  # refused before the plan was looked up
