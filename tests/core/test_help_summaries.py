"""Each command's line in its group's ``--help`` is one sentence on one line. The commands'
summaries are their docstrings' first paragraphs, written wrapped at 100 columns; the help's
list of commands kept those line breaks, so ``shuangsui round --help`` broke sentences mid-way
("post it" / "BEFORE the ceremony", "the seat's" / "date is gone"), whatever the terminal's
width. Read at 2,000 columns, where nothing needs wrapping, no command's line may continue."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app

# a row of the commands panel: "│ name   text │"; a row that continues one has no name
ROW = re.compile(r"^│ (\S*)(\s+)(.*?)\s*│$")


def _groups(root: typer.Typer, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for group in root.registered_groups:
        assert group.name and group.typer_instance
        found += _groups(group.typer_instance, (*path, group.name))
    return found


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def test_every_group_is_checked(cli: CliRunner) -> None:
    assert set(_groups(app)) == set(GROUPS)


# every group with commands (the test below checks the list is whole)
GROUPS = [(), ("db",), ("findings",), ("joint",), ("leads",), ("notifications",), ("partners",),
          ("partners", "assist"), ("registry",), ("risk",), ("round",), ("tokens",)]  # fmt: skip


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(g) or "shuangsui")
def test_each_command_is_one_line_in_its_groups_help(
    cli: CliRunner, group: tuple[str, ...]
) -> None:
    out = cli.invoke(app, [*group, "--help"], env={"COLUMNS": "2000"})
    assert out.exit_code == 0, out.output
    panel = out.stdout.split("─ Commands ─", 1)[1].split("╰", 1)[0]
    rows = [m for line in panel.splitlines()[1:] if (m := ROW.match(line.strip()))]
    assert rows, out.stdout
    continued = [m.group(3) for m in rows if not m.group(1)]
    assert continued == [], f"{' '.join(group)} --help: lines continued: {continued}"
