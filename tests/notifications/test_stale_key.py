"""A dispatcher left running with the old ``SHUANGSUI_SECRET_KEY`` after a rotation writes and
sends no link.

Before, a dispatcher wrote each message it claimed again with the link of its own key
(``notifications.follow``): one forgotten with the old key after the rotation's relink wrote
the new links back to dead ones, and the messages went out carrying them. Now the relink of a
rotation records its key's fingerprint as the current one (``notifications.link_key``), and a
dispatcher holding another key claims nothing (at its start), or gives back what it holds
unsent (the rotation recorded while it works), says so naming both fingerprints, and stops
(exit 2); a current dispatcher then sends every message with the link that opens. A real
``shuangsui notifications dispatch`` process and a real SMTP server (aiosmtpd) on loopback;
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from notifications.links import assignment_token, verify_assignment_token
from notifications.models import Notification, NotificationStatus
from notifications.relink import Refused, relink
from shuangsui.cli import _register_groups
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.processes import ROOT, dispatcher
from tests.notifications.servers import SinkHandler, SmtpSink
from tests.notifications.test_follow_after_failure import _send, _texts
from tests.notifications.test_readdress import one_due
from tests.notifications.test_relink_reasons import CAUSES, _relink
from tests.servers import free_port, serve_process

NEW_KEY = "the-rotated-key-of-the-bureau-0123456789"
LEASE = 2  # seconds: a renewal every half second
LINK = re.compile(r"https?://[^\s\"'<>]+/w/open/[^\s\"'<>]+")


def _fingerprint(key: str) -> str:
    """A key's fingerprint as ``notifications.link_key`` records and says it."""
    return hmac.new(key.encode(), b"shuangsui-link-key-fingerprint-v1", hashlib.sha256).hexdigest()


class FirstHeld(SinkHandler):
    """Holds the first message in its DATA (``holding`` set) until ``go``, then takes every
    message."""

    def __init__(self) -> None:
        super().__init__()
        self.holding, self.go = threading.Event(), threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.holding.is_set():
            self.holding.set()
            while not self.go.is_set():
                await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink() -> Any:
    server = SmtpSink(FirstHeld()).start()
    yield server
    server.handler.go.set()
    server.stop()


@pytest.fixture
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _old_dispatcher(db_url: str, tmp_path: Path, sink: SmtpSink, old_key: str,
                    *more: str) -> subprocess.Popen[bytes]:  # fmt: skip
    """A real ``shuangsui notifications dispatch`` process, one worker, holding ``old_key``."""
    return dispatcher(db_url, tmp_path / "home", sink.port, *more, out=subprocess.PIPE,
                      SECRET_KEY=old_key, NOTIFY_CONCURRENCY="1", NOTIFY_PROCESSES="1",
                      NOTIFY_LEASE_SECONDS=str(LEASE))  # fmt: skip


def _rotate(monkeypatch: pytest.MonkeyPatch) -> str:
    """The new key set in this process (the operator's shell); the old one."""
    old = get_settings().secret_key.get_secret_value()
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", NEW_KEY)
    get_settings.cache_clear()
    return old


def _stopped_stale(proc: subprocess.Popen[bytes], old: str) -> str:
    out, _ = proc.communicate(timeout=60)
    said = out.decode("utf-8", "replace")
    assert proc.returncode == 2, said
    mine, current = _fingerprint(old), _fingerprint(NEW_KEY)
    assert f"fingerprint {mine[:16]}" in said and f"fingerprint {current[:16]}" in said, said
    assert old not in said and NEW_KEY not in said  # the keys themselves never said
    return said


def _links_open_under_the_new_key(texts: list[str], teams: dict[str, list[str]]) -> None:
    links = [link for text in texts for link in LINK.findall(text)]
    assert links
    for link in links:
        code = urlsplit(link).path.split("/")[-1]
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert any(verify_assignment_token(NEW_KEY, ROUND, code, member, token)
                   for member in teams[code]), link  # fmt: skip


def _recorded(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT fingerprint, recorded_by FROM link_key ORDER BY id"))]  # fmt: skip


def _waiting(engine: sa.Engine) -> list[Notification]:
    with Session(engine) as s:
        return list(s.exec(select(Notification).where(
            Notification.status == NotificationStatus.pending)).all())  # fmt: skip


@pytest.mark.slow
def test_a_dispatcher_started_with_the_old_key_sends_nothing(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    sink: SmtpSink, cli: CliRunner,
) -> None:  # fmt: skip
    """The rotation's relink (no key recorded before: a first rotation) records the new key;
    a dispatcher started with the old one claims nothing, writes nothing, says both
    fingerprints and exits 2; a current one then sends the notice and the new message, both
    with the link that opens."""
    member, _, codes = one_due(engine, monkeypatch)
    sink.handler.go.set()
    old = _rotate(monkeypatch)
    said = _relink(cli, member, codes[0], CAUSES[0])
    assert "recorded as the current key" not in said  # nothing recorded before: no rotation said
    before = {(m.id, m.payload.get("link"), m.lease_until) for m in _waiting(engine)}
    _stopped_stale(_old_dispatcher(db_url, tmp_path, sink, old), old)
    assert sink.handler.received == []
    assert {(m.id, m.payload.get("link"), m.lease_until) for m in _waiting(engine)} == before
    assert _recorded(engine) == [(_fingerprint(NEW_KEY), "notifications relink, by 李协调")]
    assert _send(engine, sink).sent == 2
    _links_open_under_the_new_key(_texts(sink.handler.received), {codes[0]: [member]})


@pytest.mark.slow
def test_a_dispatcher_holding_messages_when_the_rotation_is_recorded_gives_them_back(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    sink: SmtpSink, cli: CliRunner,
) -> None:  # fmt: skip
    """A dispatcher with the old key holds a batch of notices (the first in the mail server's
    DATA) when the relink of a rotation records the new key. It sends the one in flight, gives
    back the rest unsent (the relink left them, being in its hands), says both fingerprints
    and exits 2; a current dispatcher sends them with the link that opens, none with the old
    key's."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    teams = drawn_round(engine)
    old = get_settings().secret_key.get_secret_value()
    proc = _old_dispatcher(db_url, tmp_path, sink, old, "--batch-size", "6")
    try:
        assert sink.handler.holding.wait(60), proc.stderr.read() if proc.poll() else "no send"
        _rotate(monkeypatch)
        code, team = sorted(teams.items())[0]
        relinked = _relink(cli, team[0], code, CAUSES[0])
        time.sleep(LEASE / 2)  # a renewal of the old dispatcher's leases meanwhile
        sink.handler.go.set()
        said = _stopped_stale(proc, old)
    finally:
        sink.handler.go.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert "gave back 5 message(s) claimed, unsent" in said
    rotated = f"fingerprint {_fingerprint(NEW_KEY)[:16]} recorded as the current key"
    assert rotated in relinked
    assert len(sink.handler.received) == 1  # the one in flight when the rotation was recorded
    with Session(engine) as s:
        assert s.exec(select(Notification).where(
            Notification.lease_until.is_not(None))).all() == []  # type: ignore[union-attr]  # fmt: skip
    assert _send(engine, sink).sent >= 5
    _links_open_under_the_new_key(_texts(sink.handler.received)[1:], teams)


def test_a_relink_from_a_process_holding_another_key_is_refused(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """The workspace's relink (``serve``'s key) under a key other than the one recorded is
    refused, nothing written; the command's relink records its own key (the rotation)."""
    member, _, codes = one_due(engine, monkeypatch)
    old = _rotate(monkeypatch)
    _relink(cli, member, codes[0], CAUSES[0])
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", old)
    get_settings.cache_clear()
    with Session(engine) as s:
        count = len(s.exec(select(Notification)).all())
        with pytest.raises(Refused) as refused:
            relink(s, round_key=ROUND, inspector_id=member, credit_code=codes[0], by="李协调",
                   reason=CAUSES[1][1])  # fmt: skip
        s.rollback()
        assert refused.value.kind == "stale-key"
        assert len(s.exec(select(Notification)).all()) == count


def test_the_first_claim_records_the_key_when_none_is(engine: sa.Engine) -> None:
    """No key recorded (a first start): the dispatcher's first claim records its own and
    goes on; the same key again changes nothing."""
    from notifications.dispatch import dispatch

    drawn_round(engine)
    assert dispatch(engine=engine).sent > 0
    assert dispatch(engine=engine).claimed == 0
    assert _recorded(engine) == [(_fingerprint(get_settings().secret_key.get_secret_value()),
                                  "a dispatcher, at its first claim")]  # fmt: skip


@pytest.mark.slow
def test_serve_with_the_old_key_stops_and_does_not_start_again(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cli: CliRunner,
) -> None:  # fmt: skip
    """A real ``shuangsui serve`` under the old key opens the old link until the rotation's
    relink records the new key; within its check's interval it stops, saying both
    fingerprints, and started again with the old key it does not start, saying so in one line."""
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    old = get_settings().secret_key.get_secret_value()
    env = os.environ | {
        "SHUANGSUI_HOME": str(tmp_path / "home"),
        "SHUANGSUI_DATABASE_URL": db_url,
        "SHUANGSUI_ENVIRONMENT": "test",
        "SHUANGSUI_SECRET_KEY": old,
        "SHUANGSUI_NOTIFY_KEY_CHECK_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
    }
    token = {"Authorization": f"Bearer {assignment_token(old, ROUND, code, team[0])}"}
    port, log = free_port(), tmp_path / "serve.log"
    with serve_process(env, port, log) as proc:
        mine = httpx.get(f"http://127.0.0.1:{port}/findings/{ROUND}/{code}", headers=token)
        assert mine.status_code not in (401, 403), mine.text
        _rotate(monkeypatch)
        _relink(cli, team[0], code, CAUSES[0])
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("serve with the old key kept answering: " + log.read_text())
    said = log.read_text(errors="replace")
    stale = f"fingerprint {_fingerprint(old)[:16]}"
    assert stale in said and f"fingerprint {_fingerprint(NEW_KEY)[:16]}" in said, said
    assert "serve stops" in said
    again = subprocess.run([sys.executable, "-m", "shuangsui", "serve", "--port", str(port)],
                           env=env, capture_output=True, timeout=120)  # fmt: skip
    output = (again.stdout + again.stderr).decode("utf-8", "replace")
    # refused before it listens, in one line: not a traceback of the server's start-up
    assert again.returncode == 2 and stale in output and "Traceback" not in output, output
    assert "notifications relink --all-open" in output  # what to do mid-rotation
