"""``notifications dispatch --batch-size 0`` or ``--concurrency -1`` and ``notifications remind
--within -5`` were taken: a dispatcher that claims nothing, one with no workers, reminders
"minus five working days" before a deadline. Each is now refused naming its option, exit 2,
before anything is opened."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["dispatch", "--batch-size", "0"], "--batch-size"),
        (["dispatch", "--concurrency", "-1"], "--concurrency"),
        (["dispatch", "--concurrency", "0"], "--concurrency"),
        (["remind", "--within", "-5"], "--within"),
    ],
)
def test_a_count_below_its_least_is_refused_naming_the_option(args: list[str], option: str) -> None:
    _register_groups()
    out = CliRunner().invoke(app, ["notifications", *args])
    assert out.exit_code == 2, out.output
    assert f"Invalid value for '{option}'" in out.output and "Traceback" not in out.output
