"""The rotation a relink records is said to the operator once.

``shuangsui notifications relink`` with a new key records it as the current one and says so
in a line of its own (which fingerprint, which it replaces, what happens to a process still
holding the old key); ``link_key.record`` also logged a WARNING saying the same, which the
command's logging prints to the same terminal: two lines for one event, worded differently.
The command's line stays; the record logs nothing more. SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from notifications import link_key
from shuangsui.config import get_settings
from tests.findings.factories import drawn_round
from tests.notifications.test_relink_reasons import CAUSES, _relink
from tests.notifications.test_stale_key import _rotate, cli  # noqa: F401 (a fixture)


def test_a_rotation_recorded_by_the_relink_is_said_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    code, team = sorted(drawn_round(engine).items())[0]
    old = link_key.fingerprint(get_settings().secret_key.get_secret_value())
    with engine.begin() as conn:
        link_key.check(conn, old, who="serve, at its start")  # the key in use, recorded
    _rotate(monkeypatch)
    caplog.set_level(logging.WARNING)
    output = _relink(cli, team[0], code, CAUSES[0])
    logged = [r.getMessage() for r in caplog.records]
    said = [line for line in [*output.splitlines(), *logged] if "was rotated" in line]
    assert len(said) == 1, said
    assert said[0] in output and f"replacing {old[:16]}" in said[0]
