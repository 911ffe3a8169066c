"""A number typed for ``round list --limit``, ``round adhoc --total-cap``, ``notifications
dispatch --batch-size`` / ``--concurrency`` or ``registry generate --enterprises`` /
``--inspectors`` past what it can mean is refused naming the option, before anything is opened:
``--limit 9999999999999999999`` was an OverflowError traceback on SQLite and
``9223372036854775808`` a DataError on PostgreSQL (LIMIT is eight bytes there); a cap past an
exact JSON number is refused by the API (``AdhocRequest``) and went to the commit from the
command line; ``registry generate --enterprises 99999999999999999999`` was an OverflowError
traceback (and past 10**8 its organisation codes repeat), and ``--concurrency
99999999999999999999`` started threads without end. Exit 2, nothing committed or written. On
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from rounds.models import Round
from shuangsui.cli import _register_groups, app

PAST_INT8 = "9223372036854775808"  # one past PostgreSQL's BIGINT
PAST_UINT8 = "9999999999999999999"  # past SQLite's eight bytes too
ADHOC = ["--plan", "ccc-2026-12", "--reason", "投诉", "--requested-by", "林科长"]


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "named", "bound"),
    [
        (["round", "list", "--limit", PAST_UINT8], "--limit", "2147483647"),
        (["round", "list", "--limit", PAST_INT8], "--limit", "2147483647"),
        (["round", "list", "--limit", "2147483648"], "--limit", "2147483647"),
        (
            ["round", "adhoc", *ADHOC, "--total-cap", "9007199254740992"],
            "--total-cap",
            "9007199254740991",
        ),  # fmt: skip
        (["notifications", "dispatch", "--batch-size", PAST_UINT8], "--batch-size", "2147483647"),
        (["notifications", "dispatch", "--concurrency", PAST_UINT8], "--concurrency", "1000"),
        (
            ["registry", "generate", "--seed", "1", "--out", "{tmp}", "--enterprises", PAST_UINT8],
            "--enterprises",
            "100000000",
        ),
        (
            ["registry", "generate", "--seed", "1", "--out", "{tmp}", "--inspectors", "100000001"],
            "--inspectors",
            "100000000",
        ),  # fmt: skip
    ],
)
def test_a_number_past_its_bound_is_refused_naming_the_option(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, args: list[str], named: str, bound: str
) -> None:
    out = cli.invoke(app, [a.format(tmp=tmp_path / "out") for a in args])
    text = " ".join(out.output.replace("│", " ").split())
    assert out.exit_code == 2, (out.exception, text)
    assert f"Invalid value for '{named}'" in text and bound in text, text
    with Session(engine) as session:
        assert session.exec(select(Round)).all() == []
    assert not (tmp_path / "out").exists()  # nothing generated


def test_the_largest_limit_lists(cli: CliRunner, engine: sa.Engine) -> None:
    out = cli.invoke(app, ["round", "list", "--limit", "2147483647"])
    assert out.exit_code == 0, (out.exception, out.output)
    assert "no rounds yet" in out.output
