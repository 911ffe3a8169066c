"""``shuangsui risk approve N --by NAME`` by the coordinator who asked for override N said
``by: 陈明 requested override N; …``, naming the service's field, not the command's option, as
``risk override`` names its own (``--class: …``, ``--by: …``). Now it says ``--by: …``, and
nothing is approved. On SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from api import tokens
from risk.explain import explain
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.rounds.factories import seed_registry


def test_the_requester_approving_is_told_by_the_option(engine: sa.Engine) -> None:
    _register_groups()
    cli = CliRunner()
    code = seed_registry(engine, enterprises=2)[0]
    for name in ("陈明", "林芳"):
        tokens.create_coordinator(engine, name, get_settings().bureau_code)
    asked = cli.invoke(app, ["risk", "override", code, "--class", "D", "--reason", "复查",
                             "--by", "陈明"])  # fmt: skip
    assert asked.exit_code == 0, asked.output
    own = cli.invoke(app, ["risk", "approve", "1", "--by", "陈明"])
    assert own.exit_code != 0
    said = str(own.exception) if own.exception else own.output
    assert "--by: 陈明 requested override 1; a second coordinator must approve" in said, said
    assert [o["status"] for o in explain(engine, code)["overrides"]] == ["pending"]
    done = cli.invoke(app, ["risk", "approve", "1", "--by", "林芳"])
    assert done.exit_code == 0 and "override 1 approved" in done.output, done.output
