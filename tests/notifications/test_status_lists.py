"""`notifications status` as an operator reads it after a failure and a bad correction.

Before, it printed the counts, the paused channels and the dead letters only: a message to be
retried said nothing of why or when (a webhook answering too slowly, a mailbox answering 451),
and an inspector's address corrected in the registry to one that is not usable (an email
typed ``x@@host``) moved nothing - the member's waiting messages kept the old address, which
the operator had meant to replace, and nothing said so. Now it lists the messages waiting for
a retry by recipient and address (how many, attempts, next try, last error) and those waiting
at an address the registry no longer holds, naming what it holds. The command in-process, a
real SMTP server; SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from notifications.dispatch import dispatch
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.cli import _register_groups, app
from tests.notifications.servers import SmtpSink
from tests.notifications.test_readdress import (
    FIXED,
    _correct,
    _notices,
    one_due,
)

BROKEN = "zhang@@bureau"


def _status() -> list[str]:
    _register_groups()
    done = CliRunner().invoke(app, ["notifications", "status"])
    assert done.exit_code == 0, (done.output, done.exception)
    return done.output.splitlines()


def test_status_names_what_waits_for_a_retry_and_at_an_address_no_longer_the_registrys(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    member, wrong, codes = one_due(engine, monkeypatch)
    smtp_sink.handler.defer.add(wrong)
    live = NotifySettings(channel="live")  # type: ignore[call-arg]
    assert dispatch(engine=engine, notify=live, smtp=SmtpSettings(port=smtp_sink.port)).retried == 1  # type: ignore[call-arg]
    (line,) = [s for s in _status() if s.startswith("to retry:")]
    assert line.startswith(f"to retry: 1 message(s) to {member} via email <{wrong}>, "
                           "up to 1 attempt(s) spent, next try after ")  # fmt: skip
    assert line.endswith("451 4.3.0 try again later")
    _correct(engine, tmp_path, wrong, BROKEN)  # not usable: nothing moves
    assert {m.address for m in _notices(engine, member).values()} == {wrong}
    (line,) = [s for s in _status() if s.startswith("not the registry's address:")]
    assert line == (f"not the registry's address: {len(codes)} waiting message(s) to {member} "
                    f"via email <{wrong}>; the registry holds no usable email or webhook for "
                    "them now: correct it, and its import sends them there")  # fmt: skip
    _correct(engine, tmp_path, BROKEN, FIXED)
    said = _status()
    assert not [s for s in said if s.startswith("not the registry's address:")]
    (line,) = [s for s in said if s.startswith("to retry:")]
    assert f"to {member} via email <{FIXED}>, up to 0 attempt(s) spent" in line  # started again
