"""What an operator types for a round is held to one rule on every path to a commit
(``rounds.service.check_texts``), the API's and the workspace's: a reason (``round adhoc
--reason``, ``round commit --accept``) at most 1,000 characters, who asks (``--requested-by``,
``--by``, and ``round replace`` / ``redate``'s ``--by``) a name of at most 64, none with a
control or invisible character. ``round adhoc`` took any length and any character: a round was
committed with U+202E and an ESC in its reason (published in its bundle's round.json) and in
who asked. Refused naming the option (exit 2) or the service's parameter, nothing committed,
nothing audited. A round stored with such text before still bundles and verifies, its reason
published as stored. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from rounds import service
from rounds.models import AuditEvent, Round, RoundKind
from shuangsui import config
from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.rounds.factories import plan_yaml, seed_registry

RLO = "投诉\u202e举报"
ESC = "林科长\x1b[31m"
DIGITS = "14142135623730950488016887"


@pytest.fixture(autouse=True)
def _plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ccc-2026-12.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(tmp_path))
    config.get_settings.cache_clear()


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _nothing_written(engine: sa.Engine) -> None:
    with Session(engine) as session:
        assert session.exec(select(Round)).all() == []
        assert session.exec(select(AuditEvent)).all() == []


ADHOC = ["round", "adhoc", "--plan", "ccc-2026-12"]


@pytest.mark.parametrize(
    ("args", "named", "said"),
    [
        ([*ADHOC, "--reason", RLO, "--requested-by", "林科长"], "--reason",
         "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ([*ADHOC, "--reason", "投诉", "--requested-by", ESC], "--requested-by",
         "the control character U+001B"),
        ([*ADHOC, "--reason", "投" * 1001, "--requested-by", "林科长"], "--reason",
         "1001 characters, at most 1000"),
        ([*ADHOC, "--reason", "投诉", "--requested-by", "林" * 65], "--requested-by",
         "65 characters, at most 64"),
        (["round", "commit", "ccc-2026-12", "--by", RLO], "--by", "U+202E"),
        (["round", "commit", "ccc-2026-12", "--accept", "旧\x07数据"], "--accept", "U+0007"),
        (["round", "draw", "ccc-2026-12", "--by", ESC], "--by", "U+001B"),
        (["round", "replace", "ccc-2026-12", "913501007F6A6FKWKD", "FJ00001", "--cause",
          "conflict", "--note", "回避", "--by", "林" * 65], "--by", "65 characters, at most 64"),
        (["round", "redate", "ccc-2026-12", "913501007F6A6FKWKD", "--due-on", "2027-01-05",
          "--reason", "停业", "--by", "林" * 65], "--by", "65 characters, at most 64"),
    ],
)  # fmt: skip
def test_the_commands_refuse_it_naming_the_option(
    cli: CliRunner, engine: sa.Engine, args: list[str], named: str, said: str
) -> None:
    seed_registry(engine)
    out = cli.invoke(app, args)
    text = " ".join(out.output.replace("│", " ").split())
    assert out.exit_code == 2, (out.exception, text)
    assert f"Invalid value for '{named}'" in text and said in text, text
    _nothing_written(engine)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"reason": RLO}, r"^reason: contains the invisible character U\+202E"),
        ({"reason": "投诉", "requested_by": ESC}, r"^requested_by: contains the control"),
        ({"reason": "投" * 1001}, r"^reason: 1001 characters, at most 1000$"),
        ({"reason": "投诉", "accept": "\u200b"}, r"^accept: contains the invisible"),
    ],
)
def test_the_service_refuses_it_naming_the_parameter(
    engine: sa.Engine, given: dict[str, str], said: str
) -> None:
    seed_registry(engine)
    with pytest.raises(UserError, match=said):
        service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                             round_key="adhoc-1", **given)  # fmt: skip
    _nothing_written(engine)


def test_a_reason_of_1000_characters_with_line_breaks_is_committed(engine: sa.Engine) -> None:
    seed_registry(engine)
    reason = ("投诉举报集中\n" * 143)[:1000]
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                               round_key="adhoc-1", reason=reason,
                               requested_by="林" * 64)  # fmt: skip
    assert rnd.reason == reason


def test_a_round_stored_with_such_text_still_bundles_and_verifies(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed before the rule (the check taken out, as the code before it was)."""
    seed_registry(engine)
    with monkeypatch.context() as before:
        before.setattr(service, "check_texts", lambda **_: None)
        service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                             round_key="adhoc-1", reason=RLO, requested_by=ESC)  # fmt: skip
    drawn = cli.invoke(app, ["round", "draw", "adhoc-1", "--digits", DIGITS, "--witness", "陈明"])
    assert drawn.exit_code == 0, drawn.output
    out = tmp_path / "bundle"
    made = cli.invoke(app, ["round", "bundle", "adhoc-1", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert RLO in json.dumps(json.loads((out / "round.json").read_text("utf-8")),
                             ensure_ascii=False)  # fmt: skip
    for target in (str(out), "adhoc-1"):
        verified = cli.invoke(app, ["round", "verify", target])
        assert verified.exit_code == 0, verified.output
