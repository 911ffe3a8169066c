"""`shuangsui round ...` as a coordinator and an auditor use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui import config
from shuangsui.cli import _register_groups, app
from tests.rounds.factories import plan_yaml, seed_registry

DIGITS = "14142135623730950488016887"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


@pytest.fixture(autouse=True)
def _plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans are read only from the plans folder: these tests write theirs into tmp_path."""
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(tmp_path))
    config.get_settings.cache_clear()


def test_commit_draw_bundle_verify_and_tamper(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    plan = tmp_path / "ccc.yaml"
    plan.write_text(plan_yaml(), encoding="utf-8")

    out = cli.invoke(app, ["round", "commit", str(plan)])
    assert out.exit_code == 0, out.output
    assert "frame commitment" in out.output and "committed" in out.output

    waiting = cli.invoke(app, ["round", "draw", "ccc-2026-12"])
    assert waiting.exit_code == 3
    assert "witness digits" in waiting.output

    drawn = cli.invoke(
        app, ["round", "draw", "ccc-2026-12", "--digits", DIGITS, "--witness", "陈明"]
    )
    assert drawn.exit_code == 0, drawn.output
    assert "seed" in drawn.output

    bundle_dir = tmp_path / "bundle"
    made = cli.invoke(app, ["round", "bundle", "ccc-2026-12", "--out", str(bundle_dir)])
    assert made.exit_code == 0, made.output
    assert made.output.strip().splitlines()[-1] == str(bundle_dir)

    ok = cli.invoke(app, ["round", "verify", str(bundle_dir)])
    assert ok.exit_code == 0, ok.output

    from_db = cli.invoke(app, ["round", "verify", "ccc-2026-12"])
    assert from_db.exit_code == 0, from_db.output
    assert "match the database" in from_db.output

    selection = json.loads((bundle_dir / "selection.json").read_text(encoding="utf-8"))
    first = selection["selected"][0]["credit_code"]
    text = (bundle_dir / "selection.json").read_text(encoding="utf-8")
    (bundle_dir / "selection.json").write_text(
        text.replace(first, first[:-1] + ("0" if first[-1] != "0" else "1"), 1), encoding="utf-8"
    )
    bad = cli.invoke(app, ["round", "verify", str(bundle_dir)])
    assert bad.exit_code == 1
    assert "selection.json" in bad.output

    audit = cli.invoke(app, ["round", "audit", "ccc-2026-12"])
    assert audit.exit_code == 0 and "chain ok" in audit.output
    assert "DrawMade" in audit.output and "EntropyAwaited" in audit.output


def test_verify_of_an_undrawn_round_says_so(cli: CliRunner, engine: sa.Engine, tmp_path) -> None:
    seed_registry(engine)
    plan = tmp_path / "ccc.yaml"
    plan.write_text(plan_yaml(), encoding="utf-8")
    assert cli.invoke(app, ["round", "commit", str(plan)]).exit_code == 0
    out = cli.invoke(app, ["round", "verify", "ccc-2026-12"])
    assert out.exit_code != 0
    assert "no draw to verify" in str(out.exception) + out.output


def test_new_digits_for_a_drawn_round_are_refused_with_exit_status_4(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from shuangsui.cli import main

    seed_registry(engine)
    plan = tmp_path / "ccc.yaml"
    plan.write_text(plan_yaml(), encoding="utf-8")
    assert cli.invoke(app, ["round", "commit", str(plan)]).exit_code == 0
    drawn = cli.invoke(
        app, ["round", "draw", "ccc-2026-12", "--digits", DIGITS, "--witness", "陈明"]
    )
    assert drawn.exit_code == 0, drawn.output
    seed = next(x.split()[-1] for x in drawn.output.splitlines() if x.strip().startswith("seed"))
    assert "targeted" in drawn.output

    again = [
        "shuangsui",
        "round",
        "draw",
        "ccc-2026-12",
        "--digits",
        "2" * 26,
        "--witness",
        "林晓",
        "--by",
        "林科长",
    ]
    monkeypatch.setattr("sys.argv", again)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "was drawn at 20" in err and f"with seed {seed}" in err and "was not used" in err
