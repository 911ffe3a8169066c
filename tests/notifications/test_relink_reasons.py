"""A member's link to one check sent again a second time, for another reason, while the first
run's 检查链接重新发送 has not left (waiting in the outbox, never tried). Before, each reason
queued a message of its own: the member received two holding the same link, and when the
second run followed an ending, the first's said their earlier link still opened (or the second
said the key had been rotated). Now the second run's message takes the first's place: one
message, saying what is true when it is queued; both runs are audited with their reasons. A
message that has left (sent, leased, tried) stays, and the second is queued beside it. The
command as a coordinator types it; two processes at once on PostgreSQL as on SQLite."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from notifications.dispatch import dispatch
from notifications.models import Notification, NotificationKind, NotificationStatus
from rounds.models import AuditEvent
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.deploy.procs import shuangsui
from tests.findings.factories import ROUND
from tests.workspace.helpers import delivered_round

CAUSES = [("李协调", "检查人员删除了通知"), ("王协调", "检查人员更换了手机")]


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _args(member: str, code: str, by: str, reason: str, *more: str) -> list[str]:
    return ["notifications", "relink", "--round", ROUND, "--by", by, "--reason", reason,
            "--inspector", member, "--credit-code", code, *more]  # fmt: skip


def _relink(cli: CliRunner, member: str, code: str, cause: tuple[str, str], *more: str) -> str:
    done = cli.invoke(app, _args(member, code, *cause, *more))
    assert done.exit_code == 0, (done.output, done.exception)
    return done.output


def _reissued(engine: sa.Engine, member: str, code: str) -> list[Notification]:
    """The member's 检查链接重新发送 of ``code``'s check, oldest first."""
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.link_reissued,
            Notification.recipient == member).order_by(Notification.id)).all()  # fmt: skip
    return [m for m in rows if m.payload.get("credit_code") == code]


def _audited(engine: sa.Engine) -> list[dict]:
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.event == "LinksReissued")
                      .order_by(AuditEvent.seq)).all()  # fmt: skip
    return [json.loads(e.payload) for e in rows]


def test_a_second_reason_takes_the_place_of_the_first_message_not_yet_sent(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[0]
    _relink(cli, member, code, CAUSES[0])
    (first,) = _reissued(engine, member, code)
    assert first.status == NotificationStatus.pending and first.payload["earlier"] == "same"
    said = _relink(cli, member, code, CAUSES[1])
    assert f"withdrawn: the 检查链接重新发送 an earlier run queued to {member} on {code}" in said
    (second,) = _reissued(engine, member, code)  # one message, the second run's
    assert second.idempotency_key != first.idempotency_key  # not the first, kept
    assert second.payload["link"] == first.payload["link"]
    assert [(a["reason"], a["queued"], a["replaced"]) for a in _audited(engine)] == [
        (CAUSES[0][1], 1, 0), (CAUSES[1][1], 1, 1)]  # fmt: skip
    assert dispatch(engine=engine).sent == 1  # the member receives it once
    third = _relink(cli, member, code, CAUSES[0])  # it has gone: another is queued beside it
    assert "withdrawn" not in third
    assert [m.status for m in _reissued(engine, member, code)] == [
        NotificationStatus.sent, NotificationStatus.pending]  # fmt: skip


def test_after_an_ending_the_one_message_says_the_link_was_ended(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """The first run ends the member's link (their notice has gone); the second, another
    coordinator's without an ending, comes before the first's message is sent. The one message
    left holds the new link and says the earlier one was ended: before, the second said the
    key had been rotated (earlier "changed"), beside the first's saying it was ended."""
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[1]
    assert "is ended" in _relink(cli, member, code, CAUSES[0], "--end-old")
    (first,) = _reissued(engine, member, code)
    assert first.payload["earlier"] == "ended"
    _relink(cli, member, code, CAUSES[1])
    (second,) = _reissued(engine, member, code)
    assert second.idempotency_key != first.idempotency_key  # not the first, kept
    assert second.payload["link"] == first.payload["link"]
    assert second.payload["earlier"] == "ended" and "协调员已作废此前发给您" in second.body


def test_two_reasons_at_once_leave_one_message(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two coordinators send one member's link again at the same moment, each for a reason of
    their own, as two processes: the round's row taken in turn, the second finds the first's
    message waiting and takes its place. Both runs audited; one message."""
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[0]
    home = Path(get_settings().home)
    env = {"SHUANGSUI_DATABASE_URL": get_settings().resolved_database_url,
           "SHUANGSUI_HOME": str(home), "SHUANGSUI_ENVIRONMENT": "test"}  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda c: shuangsui(home.parent, *_args(member, code, *c), **env),
                             CAUSES))  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert sum("withdrawn" in run.stdout for run in runs) == 1, [r.stdout for r in runs]
    assert len(_reissued(engine, member, code)) == 1
    audited = _audited(engine)
    assert sorted(a["reason"] for a in audited) == sorted(why for _, why in CAUSES)
    assert sorted(a["replaced"] for a in audited) == [0, 1]
    assert dispatch(engine=engine).sent == 1
