"""A member's message held by a dispatcher while their link was given again, ended, or their
address corrected: the member never receives two messages holding one link, nor a dead one.

Before, a relink left a message in a dispatcher's hands as it was (it may be going now), and
the dispatcher followed it only after recording a failure, and only when its link was no
longer current: a first 检查链接重新发送 held while a second run for another reason queued
one holding the same link, refused, was retried, and the member received both; and a
dispatcher killed while it held a message (its lease ran out, no outcome recorded) left it to
the next claim, which sent it as it stood: the dead link after `relink --end-old` or a key
rotation, the old address after the registry's import corrected it, a second message holding
the same link.
Now a 检查链接重新发送 that a later one of the member's on the check holding the current link
(to be sent, or sent) took the place of is withdrawn after its failure and at its claim, and
a claim writes a message holding another link than the member's current one, or queued to an
address the registry no longer holds, after both first (``notifications.follow``), in the
claim's transaction. A real dispatcher (a process killed with ``kill -9``), a real SMTP
server (aiosmtpd) on loopback holding the message in its DATA; SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from notifications.links import assignment_token
from registry.models import Inspector
from shuangsui.cli import _register_groups
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.notifications.servers import SmtpSink
from tests.notifications.test_follow_after_failure import (
    HeldHandler,
    _events,
    _later,
    _send,
    _texts,
    _while_held,
    sink,
)
from tests.notifications.test_readdress import FIXED, _correct, _notices, one_due
from tests.notifications.test_relink_reasons import CAUSES, _reissued, _relink
from tests.workspace.helpers import delivered_round

ROOT = Path(__file__).resolve().parents[2]
LEASE = 2  # seconds: a killed dispatcher's messages are claimed again this long after
__all__ = ["sink"]  # the fixture, shared


@pytest.fixture
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _first_member(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """A delivered round (notices in the file outbox): a member, a check of theirs, their
    address."""
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    with Session(engine) as s:
        address = s.get(Inspector, team[0]).email  # type: ignore[union-attr]
    return team[0], code, address


def _got(sink: SmtpSink, address: str) -> list[str]:
    return _texts([r for r in sink.handler.received if r.rcpts == [address]])


def test_the_only_relink_message_refused_is_kept_and_sent_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, sink: SmtpSink, cli: CliRunner
) -> None:
    """Refused with no later message of the check beside it, the 检查链接重新发送 waits for its
    retry and then goes: withdrawing it would leave the member none."""
    member, code, address = _first_member(engine, monkeypatch)
    _relink(cli, member, code, CAUSES[0])
    (first,) = _reissued(engine, member, code)
    sink.handler.hold.add(address)  # type: ignore[attr-defined]
    assert _while_held(engine, sink, lambda: None).retried == 1
    _send(engine, sink, now=_later())
    assert [m.status for m in _reissued(engine, member, code)] == ["sent"]
    assert _events(engine, "LinkMessageWithdrawn") == []
    got = _got(sink, address)
    assert len(got) == 1 and first.payload["link"] in got[0]


def _killed_while_held(
    db_url: str, tmp_path: Path, sink: SmtpSink, address: str, then: Callable[[], Any]
) -> None:
    """A real ``shuangsui notifications dispatch`` process, one worker, whose message to
    ``address`` waits in the SMTP server's DATA while ``then()`` runs; then the process is
    killed (``kill -9``) before any outcome, and its leases run out."""
    handler: HeldHandler = sink.handler  # type: ignore[assignment]
    handler.hold.add(address)
    env = {
        **os.environ,
        "SHUANGSUI_DATABASE_URL": db_url,
        "SHUANGSUI_HOME": str(tmp_path / "home"),
        "SHUANGSUI_ENVIRONMENT": "test",
        "SHUANGSUI_SMTP_PORT": str(sink.port),
        "SHUANGSUI_NOTIFY_CHANNEL": "live",
        "SHUANGSUI_NOTIFY_CONCURRENCY": "1",
        "SHUANGSUI_NOTIFY_PROCESSES": "1",
        "SHUANGSUI_NOTIFY_LEASE_SECONDS": str(LEASE),
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "dispatch.log"
    with log.open("wb") as err:
        command = [sys.executable, "-m", "shuangsui", "notifications", "dispatch"]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while not handler.holding.wait(0.1):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the dispatcher never sent"
        then()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        handler.go.set()  # the held message is refused, to a connection no longer there
        handler.hold.clear()
    time.sleep(LEASE + 0.5)  # the killed dispatcher's leases run out


@pytest.mark.slow
@pytest.mark.parametrize("ending", [True, False], ids=["ended", "same-link"])
def test_a_relink_message_held_by_a_killed_dispatcher_is_withdrawn_at_its_claim(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    sink: SmtpSink, cli: CliRunner, ending: bool,
) -> None:  # fmt: skip
    """The first run's 检查链接重新发送 is in a dispatcher's hands when the member's link is
    given again (ended, or the same link for another reason), and the dispatcher dies before
    any outcome. The next dispatcher's claim withdraws it: the later message holds the link
    that opens (and, after an ending, says the earlier no longer does); the member receives
    one message, never the dead link nor the same link twice."""
    member, code, address = _first_member(engine, monkeypatch)
    _relink(cli, member, code, CAUSES[0])
    (first,) = _reissued(engine, member, code)
    more = ("--end-old",) if ending else ()
    _killed_while_held(db_url, tmp_path, sink, address,
                       lambda: _relink(cli, member, code, CAUSES[1], *more))  # fmt: skip
    second = _reissued(engine, member, code)[-1]
    assert (second.payload["link"] == first.payload["link"]) is not ending
    report = _send(engine, sink)
    assert [m.id for m in _reissued(engine, member, code)] == [second.id]
    (event,) = _events(engine, "LinkMessageWithdrawn")
    assert (event["inspector_id"], event["credit_code"], event["attempts"], event["error"]) == (
        member, code, 0, "")  # fmt: skip
    assert (report.claimed, report.sent) == (1, 1)
    got = _got(sink, address)
    assert len(got) == 1 and second.payload["link"] in got[0]
    if ending:
        assert "已作废" in got[0] and first.payload["link"] not in got[0]


@pytest.mark.slow
@pytest.mark.parametrize("change", ["ending", "rotation"])
def test_a_notice_held_by_a_killed_dispatcher_leaves_with_the_link_that_opens(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    sink: SmtpSink, cli: CliRunner, change: str,
) -> None:  # fmt: skip
    """The member's 检查任务通知 is in a dispatcher's hands when a coordinator ends their link
    (作废原链接并重新发送), or when the key is rotated (the dispatcher, restarted under the new
    key, killed) and the link sent again; the dispatcher dies. The next claim writes the
    notice again with the link that opens before it goes (audited), so neither message the
    member receives holds the dead link."""
    member, address, codes = one_due(engine, monkeypatch)
    code = codes[0]
    dead = assignment_token(get_settings().secret_key.get_secret_value(), ROUND, code, member)

    def then() -> None:
        if change == "rotation":
            monkeypatch.setenv("SHUANGSUI_SECRET_KEY", "the-rotated-key-of-the-bureau-0123456789")
            get_settings.cache_clear()
        _relink(cli, member, code, CAUSES[1], *(("--end-old",) if change == "ending" else ()))

    _killed_while_held(db_url, tmp_path, sink, address, then)
    notice = _notices(engine, member)[code]
    assert notice.payload["link"].endswith(dead)  # held: the relink left it as it was
    (reissued,) = _reissued(engine, member, code)
    new = reissued.payload["link"]
    assert new != notice.payload["link"] and (notice.status, notice.attempts) == ("pending", 0)
    _send(engine, sink)
    got = _got(sink, address)
    assert len(got) == 2 and all(new in text and dead not in text for text in got)
    notice = _notices(engine, member)[code]
    assert (notice.status, notice.payload["link"]) == ("sent", new)
    (event,) = _events(engine, "LinksRewrittenAtClaim")
    assert (event["inspector_id"], event["credit_code"], event["messages"]) == (member, code, 1)


@pytest.mark.slow
def test_a_notice_held_by_a_killed_dispatcher_goes_to_the_corrected_address(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    sink: SmtpSink,
) -> None:  # fmt: skip
    """The member's notice is in a dispatcher's hands when the registry's import corrects
    their address (it leaves the held one, moves the rest); the dispatcher dies. The next
    claim sends the notice to the corrected address (audited), not the one replaced."""
    member, wrong, codes = one_due(engine, monkeypatch)
    _killed_while_held(db_url, tmp_path, sink, wrong,
                       lambda: _correct(engine, tmp_path, wrong, FIXED))  # fmt: skip
    assert _notices(engine, member)[codes[0]].address == wrong  # held: the import left it
    _send(engine, sink, now=_later())
    to = [r.rcpts for r in sink.handler.received]
    assert [wrong] not in to and to.count([FIXED]) == len(codes)
    assert {n.address for n in _notices(engine, member).values()} == {FIXED}
