"""``round replace --note`` and ``round redate --reason`` are held to the rule of every text a
coordinator types for a round (``rounds.service.check_texts``: a change's note at most
``NOTE_MAX`` = 500 characters, line breaks allowed, no control or invisible character), and
refused naming the option before anything is opened, as ``--by`` is: they were refused by the
service only, exit 1, as ``note: …`` / ``reason: …``, after the database was opened and
migrated. A note stored before the rule still verifies and bundles as stored. SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from rounds import replacements
from rounds.models import DueChange, TeamChange
from rounds.replacements import replace_member
from shuangsui.cli import _register_groups, app
from tests.findings.factories import ROUND, drawn_round, teams

RLO = "其配偶\u202e在该企业任职"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (RLO, "contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("申请\x1b[31m回避", "contains the control character U+001B"),
        ("回" * 501, "501 characters, at most 500"),
        ("  " + "回" * 501 + "\n", "501 characters, at most 500"),  # counted as stored: stripped
    ],
)
def test_the_commands_refuse_it_naming_the_option_before_anything(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, said: str
) -> None:
    """No database: the refusal comes before one is opened (the service's came after)."""
    monkeypatch.setenv("SHUANGSUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHUANGSUI_DATABASE_URL", raising=False)
    for args, option in (
        (["replace", "r-1", "913501007F6A6FKWKD", "FJ00001", "--cause", "conflict", "--note"],
         "--note"),
        (["redate", "r-1", "913501007F6A6FKWKD", "--due-on", "2027-01-05", "--reason"],
         "--reason"),
    ):  # fmt: skip
        out = cli.invoke(app, ["round", *args, text])
        shown = " ".join(out.output.replace("│", " ").split())
        assert out.exit_code == 2, (out.exception, shown)
        assert f"Invalid value for '{option}': {said}" in shown, shown
    assert not (tmp_path / "home").exists()


def test_500_characters_with_line_breaks_are_recorded(cli: CliRunner, engine: sa.Engine) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    note = ("申请回避\n" * 100)[:499] + "。"
    out = cli.invoke(app, ["round", "replace", ROUND, code, drawn[code][1], "--cause",
                           "conflict", "--note", note, "--by", "李协调"])  # fmt: skip
    assert out.exit_code == 0, out.output
    moved = cli.invoke(app, ["round", "redate", ROUND, code, "--due-on", "2027-01-05",
                             "--reason", note, "--by", "李协调"])  # fmt: skip
    assert moved.exit_code == 0, moved.output
    with Session(engine) as s:
        assert [c.note for c in s.exec(select(TeamChange))] == [note]
        assert [c.reason for c in s.exec(select(DueChange))] == [note]


def test_a_note_stored_before_the_rule_still_verifies_and_bundles(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded with the check taken out (as a shuangsui before the rule could have): the
    audit log and the row agree, so ``round verify`` and the bundle take it as stored."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    with monkeypatch.context() as before:
        before.setattr(replacements, "check_texts", lambda **_: None)
        replace_member(engine, ROUND, code, drawn[code][1], cause="conflict", note=RLO,
                       recorded_by="李协调")  # fmt: skip
    with Session(engine) as s:
        assert [c.note for c in s.exec(select(TeamChange))] == [RLO]
    verified = cli.invoke(app, ["round", "verify", ROUND])
    assert verified.exit_code == 0, verified.output
    assert "with 1 replacement(s) replayed, match the database" in verified.output
    out = tmp_path / "bundle"
    made = cli.invoke(app, ["round", "bundle", ROUND, "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert cli.invoke(app, ["round", "verify", str(out)]).exit_code == 0
    assert teams(engine)[code][1] != drawn[code][1]
