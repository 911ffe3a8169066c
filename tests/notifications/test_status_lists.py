"""`notifications status` as an operator reads it after a failure and a bad correction.

Before, it printed the counts, the paused channels and the dead letters only: a message to be
retried said nothing of why or when (a webhook answering too slowly, a mailbox answering 451),
and an inspector's address the registry no longer holds (removed; or, before the import
refused it, corrected to one that is not usable, ``x@@host``) moved nothing - the member's
waiting messages kept the old address, which the operator had meant to replace, and nothing
said so. Now it lists the messages waiting for
a retry by recipient and address (how many, attempts, next try, last error) and those waiting
at an address the registry no longer holds, naming what it holds. The command in-process, a
real SMTP server; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from notifications.dispatch import dispatch
from notifications.settings import NotifySettings, SmtpSettings
from registry.export import export_kind
from registry.importer import import_file
from shuangsui.cli import _register_groups, app
from tests.notifications.servers import SmtpSink
from tests.notifications.test_readdress import (
    FIXED,
    _correct,
    _notices,
    one_due,
)


def _email_of(engine: sa.Engine, folder: Path, member: str, email: str) -> None:
    """The registry's inspectors exported, ``member``'s email cell set to ``email`` (the
    member found by the id in the row's first cell), imported again."""
    path = folder / "inspectors.csv"
    with Session(engine) as s:
        export_kind(session=s, kind="inspectors", out=path)
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    column = next(i for i, h in enumerate(rows[0]) if h in ("email", "电子邮箱", "邮箱"))
    (row,) = [r for r in rows[1:] if r[0] == member]
    row[column] = email
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    with Session(engine) as s:
        assert import_file(session=s, kind="inspectors", path=path).updated == 1
        s.commit()


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
    _correct(engine, tmp_path, wrong, "")  # removed: nowhere to move them
    assert {m.address for m in _notices(engine, member).values()} == {wrong}
    (line,) = [s for s in _status() if s.startswith("not the registry's address:")]
    assert line == (f"not the registry's address: {len(codes)} waiting message(s) to {member} "
                    f"via email <{wrong}>; the registry holds no usable email or webhook for "
                    "them now: correct it, and its import sends them there")  # fmt: skip
    _email_of(engine, tmp_path, member, FIXED)
    said = _status()
    assert not [s for s in said if s.startswith("not the registry's address:")]
    (line,) = [s for s in said if s.startswith("to retry:")]
    assert f"to {member} via email <{FIXED}>, up to 0 attempt(s) spent" in line  # started again
