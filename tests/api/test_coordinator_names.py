"""A coordinator's name, as a token is issued to it, holds nothing that does not show: the name
is on every page they open and in every audit entry they make, and is compared when a second
coordinator must approve (a risk override), so ``林科长`` and ``林科长`` with a zero-width space
were two coordinators who read as one. Each such name is refused naming NAME, in one line,
and no token is issued; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from api import tokens
from findings.models import CoordinatorToken
from rounds import audit
from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError

REFUSED = {
    "林科长\u200b": "NAME: '林科长\\u200b' contains the invisible character U+200B",
    "林\u202e长科": "contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE)",
    "林科长\n王五": "contains the control character U+000A",
    " 林科长": "begins or ends with a blank",
    "林科长\t": "begins or ends with a blank",
    "林" * 65: "NAME: 65 characters, at most 64",
    "   ": "NAME: a coordinator token needs a name",
}


def _written(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return len(s.exec(select(CoordinatorToken)).all()), len(audit.load_chain(s))


def test_a_name_that_does_not_show_as_it_is_gets_no_token(engine: sa.Engine) -> None:
    _register_groups()
    cli = CliRunner()
    for name, said in REFUSED.items():
        with pytest.raises(UserError, match="^NAME: ") as refused:
            tokens.create_coordinator(engine, name, "350000")
        assert said in str(refused.value) and "\n" not in str(refused.value), refused.value
        typed = cli.invoke(app, ["tokens", "create-coordinator", name])
        assert isinstance(typed.exception, UserError), typed.output
        assert typed.exception.exit_code == 2 and said in str(typed.exception)
        assert "ssc_" not in typed.output
    assert _written(engine) == (0, 0)
    issued = cli.invoke(app, ["tokens", "create-coordinator", "林科长"])
    assert issued.exit_code == 0 and issued.output.startswith("ssc_"), issued.output
    assert _written(engine) == (1, 1)
