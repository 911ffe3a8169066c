"""``partners view 123`` showed an empty combined view, as if the enterprise had no rounds and
no results anywhere: a mistyped credit code now is refused naming CREDIT_CODE, exit 2. And
``partners assist --help`` listed ``list`` and ``decline`` without a word of what they do.
``partners equivocations`` of a partner code not known printed no proofs, as if fine."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.exchange.bureaus import make_bureau, write_directory
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


def test_equivocations_of_a_partner_not_known_are_refused_not_shown_empty(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """``partners equivocations 31000`` (a digit short) printed ``[]``, as if that partner had
    never equivocated; so did ``../../etc``. A partner of the directory (a disabled entry
    included) with no proof still prints ``[]``."""
    sh, js = make_bureau(tmp_path, "310000"), make_bureau(tmp_path, "320000")
    sh.base_url = js.base_url = "http://127.0.0.1:9"
    path = tmp_path / "home" / "partners.toml"
    write_directory(path, [sh, js])
    path.write_text(path.read_text().replace(f'keys = ["{js.key.public.text}"]', "keys = []"))
    _register_groups()
    cli = CliRunner()
    for typed in ("31000", "../../etc"):
        for more in ([], ["--out", str(tmp_path / "proofs")]):
            out = cli.invoke(app, ["partners", "equivocations", typed, *more])
            assert isinstance(out.exception, UserError), out.output
            assert out.exception.exit_code == 2
            assert str(out.exception) == (
                f"partner {typed} is not in the partner directory (known: 310000), and no "
                f"equivocation proof of shuangsui.{typed} is held"
            )
    assert not (tmp_path / "proofs").exists()
    for code in ("310000", "320000"):
        shown = cli.invoke(app, ["partners", "equivocations", code])
        assert (shown.exit_code, json.loads(shown.stdout)) == (0, []), shown.output
        said = f"no equivocation proofs: partner {code} has not shown two histories"
        assert shown.stderr.strip() == said
